"""The staff member page shows the member's scores from the last nightly run."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import MemberScore, RfmGroup, ScoreRun
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def page(users, member) -> str:
    return client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk})).content.decode()


def test_a_scored_member_shows_group_clv_and_activity(users, member):
    run = ScoreRun.objects.create(as_of=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), status=ScoreRun.Status.DONE,
                                  finished_at=timezone.now())
    MemberScore.objects.create(
        member=member, run=run, recency_days=3, frequency=12, monetary=Decimal("480.00"), r_score=5, f_score=4,
        m_score=5, rfm_group=RfmGroup.CHAMPIONS, expected_purchases=9.44, expected_amount=Decimal("41.20"),
        clv_12m=Decimal("388.93"), probability_alive=0.934,
    )
    content = page(users, member)
    assert 'id="scores-heading"' in content
    assert "Champions" in content and "recency 5, frequency 4, spend 5 of 5" in content
    assert "388.93" in content
    assert "9.4" in content and "93%" in content
    assert "From the nightly scoring as of" in content


def test_a_member_without_a_purchase_in_the_window_has_no_group(users, member):
    run = ScoreRun.objects.create(as_of=timezone.now(), status=ScoreRun.Status.DONE)
    MemberScore.objects.create(member=member, run=run)
    content = page(users, member)
    assert "none: no purchase in the last 365 days" in content
    assert content.count("<dd class=\"col-sm-8\">–</dd>") == 3  # no CLV, purchases or activity


def test_an_unscored_member_says_so(users, member):
    assert "Not scored yet: the nightly scoring fills this in." in page(users, member)
