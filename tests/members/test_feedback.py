"""Feedback (feedback_give): a 0-10 rating with an optional comment, at most
once per 90 days, refused with the day the member can rate again."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.utils import timezone

from members.exceptions import FeedbackScoreInvalid, FeedbackTooSoon
from members.models import Feedback, Member
from members.services.feedback import FEEDBACK_INTERVAL_DAYS, feedback_give, feedback_last_get
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.fixture
def member(db):
    return MemberFactory()


def test_a_rating_is_saved_with_its_comment(member):
    feedback = feedback_give(member=member, score=10, comment="  Lovely staff\n")
    assert (feedback.member, feedback.score, feedback.comment) == (member, 10, "Lovely staff")
    assert feedback_last_get(member=member) == feedback


@pytest.mark.parametrize("score", [0, 10])
def test_both_ends_of_the_scale_are_accepted(member, score):
    assert feedback_give(member=member, score=score).score == score


@pytest.mark.parametrize("score", [-1, 11, True, "7", 7.0, None])
def test_a_score_outside_0_to_10_is_refused(member, score):
    with pytest.raises(FeedbackScoreInvalid) as refused:
        feedback_give(member=member, score=score)
    assert refused.value.message == "Choose a score from 0 to 10."
    assert refused.value.field == "score"
    assert not Feedback.objects.exists()


def test_a_second_rating_within_90_days_is_refused_with_the_day_to_come_back(member):
    first_at = dt.datetime(2026, 3, 1, 22, 30, tzinfo=dt.UTC)  # 1 March 23:30 in Warsaw
    feedback_give(member=member, score=8, now=first_at)
    with pytest.raises(FeedbackTooSoon) as refused:
        feedback_give(member=member, score=3, tz=WARSAW, now=first_at + dt.timedelta(days=89, hours=23))
    # 90 days later is 30 May 22:30 UTC, already 31 May in Warsaw (summer time): the zone's day.
    assert refused.value.message == (
        "You rated the program on March 1, 2026. You can rate it again from May 31, 2026."
    )
    assert refused.value.status == 409
    assert Feedback.objects.filter(member=member).count() == 1


def test_a_rating_is_accepted_again_after_90_days(member):
    first_at = timezone.now() - dt.timedelta(days=FEEDBACK_INTERVAL_DAYS)
    feedback_give(member=member, score=8, now=first_at)
    feedback_give(member=member, score=9)
    assert list(Feedback.objects.filter(member=member).order_by("created_at").values_list("score", flat=True)) == [8, 9]
    assert feedback_last_get(member=member).score == 9


def test_another_members_rating_does_not_count(member):
    feedback_give(member=MemberFactory(), score=2)
    feedback_give(member=member, score=7)
    assert Feedback.objects.count() == 2


def test_a_comment_longer_than_the_form_allows_is_a_programming_error(member):
    with pytest.raises(ValueError):
        feedback_give(member=member, score=5, comment="x" * 2001)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ratings_sent_at_once_give_one_rating():
    member = MemberFactory()
    count = 4
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def work(score):
        try:
            barrier.wait(timeout=30)
            feedback_give(member=Member.objects.get(pk=member.pk), score=score)
            outcomes.append("saved")
        except FeedbackTooSoon:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * (count - 1) + ["saved"]
    assert Feedback.objects.filter(member=member).count() == 1
