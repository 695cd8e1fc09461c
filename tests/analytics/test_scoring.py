"""The nightly scoring run (analytics.services.scoring): what it stores, that it
is idempotent and locked, its task, command, selectors and admin."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse

from analytics import tasks
from analytics.clv_data import clv_fit, clv_predict, clv_summary_rows
from analytics.models import MemberScore, RfmGroup, ScoreRun
from analytics.selectors.scores import rfm_grid, score_run_latest
from analytics.services import scoring
from analytics.services.scoring import LOCK_KEY, members_score
from tests.analytics.rfm_data import AS_OF, EXPECTED, UNSCORED, WARSAW, history_build
from tests.factories import MemberFactory, ProgramFactory

VALUES = [
    "member_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_group",
    "expected_purchases", "expected_amount", "clv_12m", "probability_alive",
]


def stored() -> list[tuple]:
    return list(MemberScore.objects.order_by("member_id").values_list(*VALUES))


@pytest.fixture
def history(db):
    h = history_build()
    # A score left by an earlier run for kim, deleted since.
    old = ScoreRun.objects.create(as_of=dt.datetime(2026, 2, 1, tzinfo=WARSAW), status=ScoreRun.Status.DONE)
    MemberScore.objects.create(member=h["kim"], run=old, r_score=5, f_score=5, m_score=5, rfm_group="champions")
    return h


def test_a_run_stores_rfm_for_every_member_not_deleted(history):
    h = history
    run = members_score(as_of=AS_OF)
    run.refresh_from_db()
    assert run.status == ScoreRun.Status.DONE and run.finished_at and not run.error
    assert run.as_of == dt.datetime(2026, 3, 1, tzinfo=WARSAW)
    scores = {score.member_id: score for score in MemberScore.objects.all()}
    names = {h[name].pk: name for name in [*EXPECTED, *UNSCORED]}
    assert {names[pk] for pk in scores} == {*EXPECTED, *UNSCORED}  # kim's old score is gone
    assert {score.run_id for score in scores.values()} == {run.pk}
    for name, (r, f, m, group, recency, frequency, net) in EXPECTED.items():
        score = scores[h[name].pk]
        assert (score.r_score, score.f_score, score.m_score, score.rfm_group) == (r, f, m, group), name
        assert (score.recency_days, score.frequency, score.monetary) == (recency, frequency, Decimal(net)), name
    for name in UNSCORED:
        score = scores[h[name].pk]
        assert (score.r_score, score.f_score, score.m_score, score.rfm_group) == (None, None, None, "")
        assert (score.recency_days, score.frequency, score.monetary) == (None, 0, 0)

    assert run.members_scored == 13
    summary = run.summary
    assert summary["groups"] == {
        "champions": 1, "loyal": 1, "potential_loyalists": 1, "new": 1, "promising": 0, "need_attention": 1,
        "about_to_sleep": 1, "at_risk": 2, "cant_lose": 1, "hibernating": 0, "lost": 1,
    }
    assert (summary["members"], summary["unscored"], summary["removed"]) == (13, 3, 1)
    assert summary["rfm"]["members"] == 10 and summary["rfm"]["window_days"] == 365
    assert summary["rfm"]["edges"]["frequency"] == [[1, 1], None, [2, 2], [3, 4], [5, 6]]
    assert summary["duration_seconds"] >= 0
    # No personal data in the summary: figures only.
    assert "@" not in str(summary) and h["ann"].last_name not in str(summary)


def test_clv_is_the_model_fitted_on_all_history_before_as_of(history):
    h = history
    members_score(as_of=AS_OF)
    run = ScoreRun.objects.get(status=ScoreRun.Status.DONE, summary__has_key="clv")
    fit = clv_fit(end=dt.datetime(2026, 3, 1, tzinfo=WARSAW))
    assert run.summary["clv"]["bgnbd"] == {name: round(value, 6) for name, value in fit.bgnbd._asdict().items()}
    assert run.summary["clv"]["members"] == fit.members

    summary = clv_summary_rows(end=dt.datetime(2026, 3, 1, tzinfo=WARSAW))
    predictions = clv_predict(summary, fit.bgnbd, fit.gamma_gamma)
    scores = {score.member_id: score for score in MemberScore.objects.all()}
    for i, pk in enumerate(summary.member_id.tolist()):
        if pk == h["kim"].pk:
            assert pk not in scores  # deleted members are in the fit (as in the KPIs), not stored
            continue
        score = scores[pk]
        assert score.expected_purchases == pytest.approx(predictions.expected_purchases[i])
        assert score.probability_alive == pytest.approx(predictions.probability_alive[i])
        assert score.expected_amount == Decimal(f"{predictions.expected_amount[i]:.2f}")
        assert score.clv_12m == Decimal(f"{predictions.clv[i]:.2f}")
    # leo bought once, before the RFM window: no RFM, but a CLV with the population mean amount.
    leo = scores[h["leo"].pk]
    p, q, gamma = fit.gamma_gamma
    assert leo.r_score is None and leo.expected_amount == Decimal(f"{p * gamma / (q - 1):.2f}")
    # max (only a fully refunded purchase) and ned (nothing) have no CLV.
    for name in ("max", "ned"):
        score = scores[h[name].pk]
        assert score.expected_purchases is score.expected_amount is score.clv_12m is None
        assert score.probability_alive is None


def test_running_twice_gives_the_same_rows(history):
    members_score(as_of=AS_OF)
    first = stored()
    second_run = members_score(as_of=AS_OF)
    assert stored() == first
    assert second_run.summary["removed"] == 0
    assert set(MemberScore.objects.values_list("run", flat=True)) == {second_run.pk}


def test_new_data_is_picked_up_and_deleted_members_dropped(history):
    h = history
    members_score(as_of=AS_OF)
    h["ann"].status = "deleted"
    h["ann"].save(update_fields=["status"])
    newcomer = MemberFactory()
    run = members_score(as_of=AS_OF)
    pks = set(MemberScore.objects.values_list("member_id", flat=True))
    assert h["ann"].pk not in pks and newcomer.pk in pks
    assert run.summary["removed"] == 1
    assert run.summary["groups"]["champions"] == 0  # ann's quintiles are redistributed, not kept


def test_a_program_without_purchases_stores_empty_rows(db):
    ProgramFactory(timezone="Europe/Warsaw")
    MemberFactory.create_batch(3)
    run = members_score(as_of=AS_OF)
    assert run.members_scored == 3 and run.summary["unscored"] == 3
    assert run.summary["clv"]["bgnbd"] is None
    assert set(MemberScore.objects.values_list("rfm_group", "clv_12m")) == {("", None)}


def test_a_failure_marks_the_run_failed_and_keeps_the_previous_scores(history, monkeypatch):
    members_score(as_of=AS_OF)
    before = stored()

    def broken(**kwargs):
        raise RuntimeError("numbers went wrong\nsecond line with data")

    monkeypatch.setattr(scoring, "rfm_compute", broken)
    with pytest.raises(RuntimeError):
        members_score(as_of=AS_OF)
    failed = ScoreRun.objects.get(status=ScoreRun.Status.FAILED)
    assert failed.error == "RuntimeError: numbers went wrong" and failed.finished_at
    assert stored() == before
    assert score_run_latest() != failed and score_run_latest(done_only=False) == failed


def test_the_default_as_of_is_the_start_of_today_in_the_program_zone(history, time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 1, 2, 30, tzinfo=dt.UTC))  # 03:30 in Warsaw
    run = members_score()
    assert run.as_of == dt.datetime(2026, 3, 1, tzinfo=WARSAW)
    assert run.summary["groups"]["champions"] == 1


# --- task, beat, command ------------------------------------------------------


def test_the_task_runs_a_scoring(history):
    result = tasks.score_members.delay(as_of=AS_OF.isoformat())
    run = ScoreRun.objects.get(status=ScoreRun.Status.DONE, as_of=dt.datetime(2026, 3, 1, tzinfo=WARSAW))
    assert result.get() == run.pk
    assert MemberScore.objects.filter(run=run).count() == 13


def test_the_task_runs_nightly():
    entry = settings.CELERY_BEAT_SCHEDULE["score-members"]
    assert entry["task"] == "analytics.tasks.score_members"
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}


def test_the_command_prints_members_per_group(history):
    out = StringIO()
    call_command("score_members", "--as-of", "2026-03-01", stdout=out)
    text = out.getvalue()
    assert "Scored 13 members as of 2026-03-01T00:00:00+01:00" in text
    lines = {line.rsplit(maxsplit=1)[0].strip(): int(line.rsplit(maxsplit=1)[1]) for line in text.splitlines()[1:]}
    assert lines["Champions"] == 1 and lines["At risk"] == 2 and lines["Hibernating"] == 0
    assert lines["No purchase in the last 365 days"] == 3
    assert MemberScore.objects.count() == 13


@pytest.mark.parametrize(
    ("value", "message"), [("1.3.2026", "is not a date"), ("2999-01-01", "is after today")]
)
def test_the_command_names_the_option_in_its_errors(db, value, message):
    ProgramFactory(timezone="Europe/Warsaw")
    with pytest.raises(CommandError, match=f"^--as-of: .*{message}"):
        call_command("score_members", "--as-of", value)
    assert not ScoreRun.objects.exists()


# --- selectors and admin -------------------------------------------------------


def test_rfm_grid_counts_cells_and_groups_in_two_queries(history, django_assert_num_queries):
    h = history
    members_score(as_of=AS_OF)
    with django_assert_num_queries(2):
        grid = rfm_grid()
    assert len(grid.cells) == 25 and grid.scored == 10
    # (R, F) by hand: ann (5,5), ben (5,1), cat (4,3), dan (3,4), eve (3,1), fay (3,3),
    # gus (2,5), hal (2,4), ida (1,1), jon (1,1).
    assert {cell: n for cell, n in grid.cells.items() if n} == {
        (5, 5): 1, (5, 1): 1, (4, 3): 1, (3, 4): 1, (3, 1): 1, (3, 3): 1, (2, 5): 1, (2, 4): 1, (1, 1): 2,
    }
    assert grid.groups[RfmGroup.AT_RISK] == 2 and grid.groups[RfmGroup.PROMISING] == 0
    assert set(grid.groups) == set(RfmGroup)
    # ida and jon enrolled at the other store.
    other = rfm_grid(store=h["other"])
    assert {cell: n for cell, n in other.cells.items() if n} == {(1, 1): 2}
    assert {group: n for group, n in other.groups.items() if n} == {RfmGroup.AT_RISK: 1, RfmGroup.LOST: 1}


def test_score_run_latest_is_the_last_finished_run(db):
    ProgramFactory(timezone="Europe/Warsaw")
    assert score_run_latest() is None
    members_score(as_of=dt.date(2026, 2, 1))
    latest = members_score(as_of=AS_OF)
    assert score_run_latest() == latest


def test_the_admin_shows_runs_and_scores_read_only(history, admin_client, django_assert_max_num_queries):
    run = members_score(as_of=AS_OF)
    for model in ("scorerun", "memberscore"):
        with django_assert_max_num_queries(12):
            response = admin_client.get(reverse(f"admin:analytics_{model}_changelist"))
        assert response.status_code == 200
        assert admin_client.get(reverse(f"admin:analytics_{model}_add")).status_code == 403
    assert admin_client.get(reverse("admin:analytics_scorerun_change", args=[run.pk])).status_code == 200


# --- PostgreSQL: the lock ---------------------------------------------------------


def _in_thread(target) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_while_another_holds_the_lock_writes_nothing():
    history_build()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:  # another session holds the lock
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            held.set()
            release.wait(10)
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])

    thread = _in_thread(holder)
    assert held.wait(10)
    try:
        assert members_score(as_of=AS_OF) is None
        assert not ScoreRun.objects.exists() and not MemberScore.objects.exists()
    finally:
        release.set()
        thread.join(10)
    assert members_score(as_of=AS_OF).status == ScoreRun.Status.DONE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_runs_score_once(monkeypatch):
    history_build()
    inside, go_on = threading.Event(), threading.Event()
    compute = scoring.rfm_compute

    def slow_compute(**kwargs):
        if threading.current_thread() is not threading.main_thread():
            inside.set()  # the first run holds the lock and is computing
            go_on.wait(10)
        return compute(**kwargs)

    monkeypatch.setattr(scoring, "rfm_compute", slow_compute)
    results: dict[str, object] = {}
    first = _in_thread(lambda: results.setdefault("first", members_score(as_of=AS_OF)))
    assert inside.wait(10)
    try:
        second = members_score(as_of=AS_OF)  # overlaps the first: returns at once
    finally:
        go_on.set()
        first.join(20)
    assert second is None
    assert results["first"].status == ScoreRun.Status.DONE
    assert list(ScoreRun.objects.values_list("status", flat=True)) == [ScoreRun.Status.DONE]
    assert MemberScore.objects.filter(run=results["first"]).count() == 13
    # The lock is free again afterwards.
    assert members_score(as_of=AS_OF) is not None
    assert np.unique(list(MemberScore.objects.values_list("run", flat=True))).size == 1
