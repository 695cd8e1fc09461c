"""The nightly scoring run: RFM scores and the CLV prediction of every member,
stored in ``MemberScore`` for the dashboard and segments.

One run (``members_score``):

1. takes the scoring lock (PostgreSQL: a session advisory lock; a second run
   that finds it taken returns ``None`` at once and writes nothing; SQLite has
   no such lock and tasks run in-process there);
2. records a ``ScoreRun`` (``running``);
3. computes RFM in the database (``analytics.rfm.rfm_compute``) and the CLV
   model on all history before ``as_of`` exactly as the KPI table fits it
   (``analytics.clv_data``: ``clv_summary_rows``, BG/NBD and Gamma-Gamma, then
   ``clv_predict``); only numpy arrays are held, never a model instance per
   member;
4. in one transaction, upserts a ``MemberScore`` for every member who is not
   deleted (batches of 5,000 read by primary key), deletes the scores of
   members no longer there, and marks the run ``done`` with its summary
   (fitted parameters, quintile edges, members per group, duration). Readers
   see the previous run's scores until this commit.

A failure marks the run ``failed`` with the error's type and first line (no
member data) and is raised again. Runs are idempotent: the same ``as_of``
over the same data writes the same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from analytics.clv_data import HORIZON_DAYS, clv_model_fit, clv_summary_rows
from analytics.kpis import CENT
from analytics.models import MemberScore, RfmGroup, ScoreRun
from analytics.rfm import RFM_GROUPS, WINDOW_DAYS, RfmScores, fm_score, rfm_as_of_bounds, rfm_compute
from loyalty.services.program import program_get
from members.models import Member

logger = logging.getLogger(__name__)

BATCH = 5_000
MONEY_LIMIT = 1e12  # MemberScore's money fields hold 14 digits with 2 places
LOCK_KEY = zlib.crc32(b"analytics.members_score")  # the advisory lock's key (any constant)
SCORE_FIELDS = [
    "run", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_group",
    "expected_purchases", "expected_amount", "clv_12m", "probability_alive",
]


@contextmanager
def _scoring_lock() -> Iterator[bool]:
    """Whether this run may go on: on PostgreSQL, ``pg_try_advisory_lock`` on this
    connection's session (held across transactions, released at the end or when
    the connection closes); elsewhere always ``True``."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _money(value: float) -> Decimal | None:
    if not math.isfinite(value) or abs(value) >= MONEY_LIMIT:
        return None
    return Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each of ``ids`` in ``sorted_ids`` and whether it is there."""
    if sorted_ids.size == 0:
        return np.zeros(ids.size, dtype=np.int64), np.zeros(ids.size, dtype=bool)
    index = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
    return index, sorted_ids[index] == ids


def _member_pk_batches() -> Iterator[np.ndarray]:
    """Primary keys of the members who are not deleted, ``BATCH`` at a time (keyset pages)."""
    members = Member.objects.exclude(status=Member.Status.DELETED).order_by("pk")
    last = 0
    while True:
        pks = list(members.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH])
        if not pks:
            return
        yield np.asarray(pks, dtype=np.int64)
        last = pks[-1]


class _Clv:
    """Per-member CLV predictions (ordered by member id) and the fitted model."""

    def __init__(self, *, as_of: dt.datetime) -> None:
        summary = clv_summary_rows(end=as_of)
        self.member_id = summary.member_id
        model = clv_model_fit(summary)  # as the KPI table fits it (analytics.clv_data.clv_fit)
        self.bgnbd = model.bgnbd if model else None
        self.gamma_gamma = model.gamma_gamma if model else None
        self.predictions = model.predictions if model else None

    def params(self) -> dict:
        def rounded(params) -> dict | None:
            return None if params is None else {name: round(value, 6) for name, value in params._asdict().items()}

        return {
            "members": int(self.member_id.size),
            "horizon_days": HORIZON_DAYS,
            "bgnbd": rounded(self.bgnbd),
            "gamma_gamma": rounded(self.gamma_gamma),
        }


def _scores_write(*, run: ScoreRun, rfm: RfmScores, clv: _Clv) -> tuple[int, Counter, int]:
    """Upsert every non-deleted member's score for ``run``; delete the others.
    Returns (rows written, members per group, rows deleted). Needs a transaction."""
    written, groups = 0, Counter()
    predictions = clv.predictions
    for pks in _member_pk_batches():
        at_rfm, in_rfm = _positions(rfm.member_id, pks)
        at_clv, in_clv = _positions(clv.member_id, pks)
        if predictions is None:
            in_clv[:] = False
        rows = []
        for k, pk in enumerate(pks.tolist()):
            score = MemberScore(member_id=pk, run=run)
            if in_rfm[k]:
                i = at_rfm[k]
                r, f, m = int(rfm.r_score[i]), int(rfm.f_score[i]), int(rfm.m_score[i])
                score.recency_days = int(rfm.recency_days[i])
                score.frequency = int(rfm.frequency[i])
                score.monetary = Decimal(int(rfm.monetary_cents[i])).scaleb(-2)
                score.r_score, score.f_score, score.m_score = r, f, m
                score.rfm_group = RFM_GROUPS[(r, fm_score(f, m))].value
                groups[score.rfm_group] += 1
            if in_clv[k]:
                j = at_clv[k]
                score.expected_purchases = _finite(float(predictions.expected_purchases[j]))
                score.expected_amount = _money(float(predictions.expected_amount[j]))
                score.clv_12m = _money(float(predictions.clv[j]))
                score.probability_alive = _finite(float(predictions.probability_alive[j]))
            rows.append(score)
        MemberScore.objects.bulk_create(
            rows, batch_size=BATCH, update_conflicts=True, unique_fields=["member"], update_fields=SCORE_FIELDS,
        )
        written += len(rows)
    deleted, _ = MemberScore.objects.exclude(run=run).delete()
    return written, groups, deleted


def _error_text(error: BaseException) -> str:
    """The error's type and first line: database errors can carry row data on later lines."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"[:500]


def members_score(*, as_of: dt.datetime | dt.date | None = None) -> ScoreRun | None:
    """Compute and store every member's RFM scores and CLV prediction at ``as_of``
    (default: the start of today in the program's zone; a date is the start of
    that day). Returns the finished run, or ``None`` when another run holds the
    scoring lock (PostgreSQL), in which case nothing is written.

    Takes a PostgreSQL session advisory lock (``LOCK_KEY``) for the whole run;
    the scores are written and the run marked done in one transaction.
    Idempotent. Raises what went wrong after marking the run ``failed``.
    """
    started = time.monotonic()
    tz = program_get().tz
    # Today's date: the start of today in the program's zone, as rfm_as_of_bounds reads a date.
    as_of_at = rfm_as_of_bounds(as_of if as_of is not None else timezone.localdate(timezone=tz), tz)[1]
    with _scoring_lock() as acquired:
        if not acquired:
            logger.info("members_score: another run holds the lock; nothing done")
            return None
        if connection.vendor == "postgresql":
            # We hold the lock, so a run still marked running died without finishing.
            ScoreRun.objects.filter(status=ScoreRun.Status.RUNNING).update(
                status=ScoreRun.Status.FAILED, finished_at=timezone.now(), error="interrupted",
            )
        run = ScoreRun.objects.create(as_of=as_of_at, status=ScoreRun.Status.RUNNING)
        try:
            rfm = rfm_compute(as_of=as_of_at)
            clv = _Clv(as_of=as_of_at)
            with transaction.atomic():
                written, groups, deleted = _scores_write(run=run, rfm=rfm, clv=clv)
                run.status = ScoreRun.Status.DONE
                run.finished_at = timezone.now()
                run.members_scored = written
                run.summary = {
                    "as_of": as_of_at.isoformat(),
                    "rfm": {
                        "window_days": WINDOW_DAYS,
                        "window_start": rfm.window_start.isoformat(),
                        "members": len(rfm),
                        "edges": rfm.edges(),
                    },
                    "clv": clv.params(),
                    "members": written,
                    "groups": {group.value: groups.get(group.value, 0) for group in RfmGroup},
                    "unscored": written - sum(groups.values()),
                    "removed": deleted,
                    "duration_seconds": round(time.monotonic() - started, 3),
                }
                run.save(update_fields=["status", "finished_at", "members_scored", "summary"])
        except Exception as error:
            ScoreRun.objects.filter(pk=run.pk).update(
                status=ScoreRun.Status.FAILED, finished_at=timezone.now(), error=_error_text(error),
            )
            raise
    logger.info("members_score: run %s scored %s members in %.1f s", run.pk, written, time.monotonic() - started)
    return run
