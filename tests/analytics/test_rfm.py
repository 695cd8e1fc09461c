"""RFM scores (analytics.rfm): the values and quintiles of a hand-built history
(tests/analytics/rfm_data.py has the arithmetic) and the group grid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from analytics.models import RfmGroup
from analytics.rfm import RFM_GROUPS, rfm_as_of_bounds, rfm_compute, rfm_group
from tests.analytics.rfm_data import AS_OF, EXPECTED, UNSCORED, WARSAW, history_build, local
from tests.factories import ProgramFactory

# --- the group grid (pure) --------------------------------------------------


def test_every_one_of_the_125_score_combinations_has_a_group():
    groups = {rfm_group(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert len(RFM_GROUPS) == 25
    assert groups == set(RfmGroup)  # and every named group is reachable


@pytest.mark.parametrize(
    ("scores", "group"),
    [
        ((5, 5, 5), RfmGroup.CHAMPIONS),
        ((5, 4, 5), RfmGroup.CHAMPIONS),  # FM = 4
        ((4, 5, 5), RfmGroup.LOYAL),
        ((5, 1, 1), RfmGroup.NEW),
        ((5, 1, 2), RfmGroup.NEW),  # FM = 1.5 rounds down
        ((4, 1, 1), RfmGroup.PROMISING),
        ((5, 2, 3), RfmGroup.POTENTIAL_LOYALISTS),
        ((3, 3, 3), RfmGroup.NEED_ATTENTION),
        ((3, 2, 1), RfmGroup.ABOUT_TO_SLEEP),
        ((2, 3, 4), RfmGroup.AT_RISK),
        ((1, 5, 5), RfmGroup.CANT_LOSE),
        ((2, 5, 5), RfmGroup.CANT_LOSE),
        ((2, 1, 1), RfmGroup.HIBERNATING),
        ((1, 2, 2), RfmGroup.HIBERNATING),
        ((1, 1, 1), RfmGroup.LOST),
        ((1, 1, 2), RfmGroup.LOST),
    ],
)
def test_groups_follow_the_r_by_fm_grid(scores, group):
    assert rfm_group(*scores) == group


@pytest.mark.parametrize("scores", [(0, 3, 3), (3, 6, 3), (3, 3, 0)])
def test_scores_outside_one_to_five_are_a_programming_error(scores):
    with pytest.raises(ValueError):
        rfm_group(*scores)


def test_the_window_is_365_calendar_days_in_the_program_zone():
    start, end, day = rfm_as_of_bounds(AS_OF, WARSAW)
    assert (start, end, day) == (local(2025, 3, 1), local(2026, 3, 1), AS_OF)
    # Across the change to summer time the window still starts at local midnight.
    start, end, _ = rfm_as_of_bounds(dt.date(2026, 4, 1), WARSAW)
    assert start == local(2025, 4, 1) and end - start == dt.timedelta(days=365)
    with pytest.raises(ValueError):
        rfm_as_of_bounds(dt.datetime(2026, 3, 1), WARSAW)


# --- scores from the database ----------------------------------------------


@pytest.fixture
def history(db):
    return history_build()


def test_scores_are_the_hand_worked_quintiles(history, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the (cached) program and one grouped query
        scores = rfm_compute(as_of=AS_OF)
    names = {history[name].pk: name for name in EXPECTED}
    # Deleted kim, leo (before the window), max (fully refunded) and ned (nothing) are not scored.
    assert sorted(names.get(int(pk), pk) for pk in scores.member_id) == sorted(EXPECTED)
    assert list(scores.member_id) == sorted(scores.member_id)
    got = {
        names[int(pk)]: (int(r), int(f), int(m), int(recency), int(frequency), Decimal(int(cents)).scaleb(-2))
        for pk, r, f, m, recency, frequency, cents in zip(
            scores.member_id, scores.r_score, scores.f_score, scores.m_score,
            scores.recency_days, scores.frequency, scores.monetary_cents, strict=True,
        )
    }
    assert got == {
        name: (r, f, m, recency, frequency, Decimal(net))
        for name, (r, f, m, _group, recency, frequency, net) in EXPECTED.items()
    }
    groups = {name: rfm_group(r, f, m).value for name, (r, f, m, *_) in got.items()}
    assert groups == {name: expected[3] for name, expected in EXPECTED.items()}
    assert not set(UNSCORED) & set(groups)


def test_edges_give_the_value_range_of_each_score(history):
    edges = rfm_compute(as_of=AS_OF).edges()
    assert edges == {
        "recency_days": [[200, 365], [40, 100], [10, 10], [3, 3], [1, 2]],
        "frequency": [[1, 1], None, [2, 2], [3, 4], [5, 6]],
        "monetary": [["10.00", "20.00"], ["50.00", "50.00"], ["60.00", "90.00"], ["120.00", "300.00"],
                     ["400.00", "500.00"]],
    }


def test_equal_values_share_the_lowest_quintile(history):
    scores = rfm_compute(as_of=AS_OF)
    by_pk = dict(zip(scores.member_id.tolist(), scores.r_score.tolist(), strict=True))
    # eve, dan and fay last bought on the same day: NTILE gave fay 4, the tie gives all three 3.
    assert {by_pk[history[name].pk] for name in ("eve", "dan", "fay")} == {3}
    # Four members with one purchase fill quintiles 1 and 2: all four get 1, nobody 2.
    assert 2 not in scores.f_score


def test_an_instant_as_of_and_a_later_day_move_the_window(history):
    h = history
    # At noon on 1 March ben's purchase at 00:30 counts: two purchases, the last today.
    scores = rfm_compute(as_of=local(2026, 3, 1, 12))
    ben = int((scores.member_id == h["ben"].pk).nonzero()[0][0])
    assert (scores.recency_days[ben], scores.frequency[ben], scores.monetary_cents[ben]) == (0, 2, 11900)
    # A day later jon's only purchase (1 March 2025 00:30) has left the window.
    later = rfm_compute(as_of=dt.date(2026, 3, 2))
    assert h["jon"].pk not in later.member_id


def test_no_purchase_no_scores(db):
    ProgramFactory(timezone="Europe/Warsaw")
    scores = rfm_compute(as_of=AS_OF)
    assert len(scores) == 0
    assert scores.edges()["frequency"] == [None] * 5
