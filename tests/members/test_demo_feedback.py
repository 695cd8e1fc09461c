"""The demo's program ratings: realistic, within the portal's rules, deterministic and run once."""

import datetime as dt
from collections import Counter
from itertools import pairwise

import pytest

from loyalty.demo import demo_data_load
from members.demo import demo_feedback_load
from members.models import Feedback
from members.services.feedback import FEEDBACK_INTERVAL_DAYS

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC)


def ratings():
    return list(Feedback.objects.order_by("member_id", "created_at").values_list("member_id", "score", "created_at"))


def test_members_who_bought_rate_the_program_within_the_portals_rules():
    demo_data_load(members=240, seed=3, now=NOW)
    result = demo_feedback_load(seed=3, now=NOW)
    rows = Feedback.objects.select_related("member")
    assert result.ratings == rows.count() > 0
    for feedback in rows:
        assert feedback.member.purchases.exists()
        assert feedback.member.enrolled_at <= feedback.created_at < NOW
        assert NOW - feedback.created_at <= dt.timedelta(days=365)
        assert 0 <= feedback.score <= 10
    by_member: dict[int, list[dt.datetime]] = {}
    for member_id, _score, at in ratings():
        by_member.setdefault(member_id, []).append(at)
    for days in by_member.values():  # a second rating only after the interval, as the portal allows
        interval = dt.timedelta(days=FEEDBACK_INTERVAL_DAYS)
        assert all(later - earlier >= interval for earlier, later in pairwise(days))
    scores = Counter(score for _member, score, _at in ratings())
    assert sum(n for score, n in scores.items() if score >= 9) > sum(n for score, n in scores.items() if score <= 6)


def test_deterministic_and_only_once():
    demo_data_load(members=120, seed=4, now=NOW)
    demo_feedback_load(seed=4, now=NOW)
    first = ratings()
    assert demo_feedback_load(seed=9, now=NOW).ratings == 0
    assert ratings() == first
    Feedback.objects.all().delete()
    demo_feedback_load(seed=4, now=NOW)
    assert ratings() == first
