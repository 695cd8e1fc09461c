"""RFM scores per member, computed in the database, and the named groups.

Definitions
-----------
- ``as_of`` is the instant the scores describe (exclusive). A date means the
  start of that day in the program's time zone; the nightly run uses the
  start of the current program day, so it scores complete days and runs on
  the same day give the same scores.
- The window is the 365 calendar days before ``as_of`` in the program's zone:
  purchases with ``as_of - 365 days <= purchased_at < as_of``.
- Only purchases that count (``analytics.kpis.counted_purchases``: a fully
  refunded purchase never counts) of members who are not deleted.
- **Recency** = days from the program day of the member's last purchase in the
  window to the program day of ``as_of`` (1 = the day before a midnight
  ``as_of``; 0 only when ``as_of`` is during the day of the purchase).
  **Frequency** = the number of purchases in the window (purchases, not
  purchase days: the CLV model counts days). **Monetary** = their net amount
  (``analytics.kpis.NET_AMOUNT``: amount less everything refunded of it).
- Members with no purchase in the window get no scores (and no group).

Scores
------
Each score is a quintile, ``NTILE(5)`` over the members with a purchase in the
window, computed in the database over the per-member aggregates (one grouped
query with three windows): R orders by the last purchase ascending, so 5 is the
most recent; F and M order ascending, so 5 is the most purchases / the most
spent. ``NTILE`` breaks ties by member id; then members with equal values
(recency in whole days, frequency, net amount to the cent) share the lowest
quintile any of them got, so equal behaviour never scores differently. A
quintile may thus hold more or fewer than a fifth of the members, and may be
empty: when one value covers more than a fifth (e.g. many members with a single
purchase) the next score is skipped. ``RfmScores.edges`` gives the value range
of each score (stored in the run's summary).

Groups
------
The named groups (``analytics.models.RfmGroup``) come from the widely used R x
FM grid (the segment map on R and F of the RFM literature, with F replaced by
FM, the mean of the F and M scores rounded down, and the lowest cell split off
as *Lost*). ``RFM_GROUPS`` is that grid as data; ``rfm_group(r, f, m)`` reads
it::

    R \\ FM   1               2                    3                    4          5
    5        New             Potential loyalists  Potential loyalists  Champions  Champions
    4        Promising       Potential loyalists  Potential loyalists  Loyal      Loyal
    3        About to sleep  About to sleep       Need attention       Loyal      Loyal
    2        Hibernating     Hibernating          At risk              At risk    Can't lose them
    1        Lost            Hibernating          At risk              At risk    Can't lose them
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import numpy as np
from django.db.models import Count, F, Max, Q, Sum, Window
from django.db.models.functions import Ntile

from analytics.kpis import NET_AMOUNT, counted_purchases, day_start
from analytics.models import RfmGroup
from loyalty.services.program import program_get
from members.models import Member

WINDOW_DAYS = 365
QUINTILES = 5
SCORES = range(1, QUINTILES + 1)
CHUNK = 5_000

G = RfmGroup
# R score (rows, 5 at the top) x FM score (columns 1 to 5).
_GRID: dict[int, tuple[RfmGroup, ...]] = {
    5: (G.NEW, G.POTENTIAL_LOYALISTS, G.POTENTIAL_LOYALISTS, G.CHAMPIONS, G.CHAMPIONS),
    4: (G.PROMISING, G.POTENTIAL_LOYALISTS, G.POTENTIAL_LOYALISTS, G.LOYAL, G.LOYAL),
    3: (G.ABOUT_TO_SLEEP, G.ABOUT_TO_SLEEP, G.NEED_ATTENTION, G.LOYAL, G.LOYAL),
    2: (G.HIBERNATING, G.HIBERNATING, G.AT_RISK, G.AT_RISK, G.CANT_LOSE),
    1: (G.LOST, G.HIBERNATING, G.AT_RISK, G.AT_RISK, G.CANT_LOSE),
}
#: ``(r_score, fm_score) -> RfmGroup`` for every score from 1 to 5.
RFM_GROUPS = MappingProxyType({(r, fm): group for r, row in _GRID.items() for fm, group in enumerate(row, 1)})


def fm_score(f: int, m: int) -> int:
    """The FM score of the grid: the mean of F and M, rounded down."""
    return (f + m) // 2


def rfm_group(r: int, f: int, m: int) -> RfmGroup:
    """The named group of scores ``r``, ``f``, ``m`` (each 1 to 5). Pure."""
    if not all(score in SCORES for score in (r, f, m)):
        raise ValueError(f"RFM scores run from 1 to 5, not {(r, f, m)}")
    return RFM_GROUPS[(r, fm_score(f, m))]


@dataclass(frozen=True)
class RfmScores:
    """Per-member arrays, aligned and ordered by ``member_id``; only members
    with a purchase in the window."""

    as_of: dt.datetime
    window_start: dt.datetime
    member_id: np.ndarray  # int64
    recency_days: np.ndarray  # int64
    frequency: np.ndarray  # int64
    monetary_cents: np.ndarray  # int64: the net amount in cents (exact)
    r_score: np.ndarray  # int64, 1 to 5
    f_score: np.ndarray
    m_score: np.ndarray

    def __len__(self) -> int:
        return int(self.member_id.size)

    def edges(self) -> dict[str, list[list | None]]:
        """For each dimension, the ``[lowest, highest]`` value of each score 1 to 5
        (``None`` for an empty score); money as decimal strings."""

        def ranges(values: np.ndarray, scores: np.ndarray, convert) -> list[list | None]:
            out: list[list | None] = []
            for score in SCORES:
                chosen = values[scores == score]
                out.append([convert(chosen.min()), convert(chosen.max())] if chosen.size else None)
            return out

        return {
            "recency_days": ranges(self.recency_days, self.r_score, int),
            "frequency": ranges(self.frequency, self.f_score, int),
            "monetary": ranges(self.monetary_cents, self.m_score, lambda cents: str(Decimal(int(cents)).scaleb(-2))),
        }


def rfm_as_of_bounds(as_of: dt.datetime | dt.date, tz) -> tuple[dt.datetime, dt.datetime, dt.date]:
    """``(window start, as_of, as_of's program day)`` as aware instants and a date.

    A date is the start of that day in ``tz``. The window starts 365 calendar
    days earlier at the same wall-clock time in ``tz``.
    """
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        local = as_of.astimezone(tz)
    else:
        local = day_start(as_of, tz)
    # Aware arithmetic in one zone keeps the wall-clock time (local midnight stays midnight).
    start = (local - dt.timedelta(days=WINDOW_DAYS)).replace(fold=0)
    return start, local, local.date()


def _ties_share_lowest(values: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each member's score replaced by the lowest score of the members with the same value."""
    if values.size == 0:
        return scores
    _, inverse = np.unique(values, return_inverse=True)
    lowest = np.full(int(inverse.max()) + 1, QUINTILES, dtype=np.int64)
    np.minimum.at(lowest, inverse, scores)
    return lowest[inverse]


def rfm_compute(*, as_of: dt.datetime | dt.date) -> RfmScores:
    """RFM values and scores of every (not deleted) member with a counted
    purchase in the 365 days before ``as_of`` (see the module docstring).

    One grouped query with three ``NTILE(5)`` windows, read in chunks; only
    numbers reach Python (numpy arrays, no model instances). Reads only; no
    locks. Runs on SQLite and PostgreSQL.
    """
    tz = program_get().tz
    start_at, end_at, end_day = rfm_as_of_bounds(as_of, tz)
    purchases = counted_purchases().filter(
        ~Q(member__status=Member.Status.DELETED),
        member__isnull=False, purchased_at__gte=start_at, purchased_at__lt=end_at,
    )

    def quintile(value: str) -> Window:
        return Window(Ntile(QUINTILES), order_by=[F(value).asc(), F("member_id").asc()])

    rows = (
        purchases.order_by()
        .values("member_id")
        .annotate(last=Max("purchased_at"), frequency=Count("pk"), monetary=Sum(NET_AMOUNT))
        .annotate(r=quintile("last"), f=quintile("frequency"), m=quintile("monetary"))
        .values_list("member_id", "last", "frequency", "monetary", "r", "f", "m")
    )

    columns: list[list[np.ndarray]] = [[] for _ in range(7)]
    chunk: list[tuple] = []
    end_ordinal = end_day.toordinal()

    def flush() -> None:
        if not chunk:
            return
        member_id, last, frequency, monetary, r, f, m = zip(*chunk, strict=True)
        recency = [end_ordinal - instant.astimezone(tz).date().toordinal() for instant in last]
        cents = [int((amount * 100).to_integral_value()) for amount in monetary]  # two places: exact
        for column, values in zip(columns, (member_id, recency, frequency, cents, r, f, m), strict=True):
            column.append(np.asarray(values, dtype=np.int64))
        chunk.clear()

    for row in rows.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            flush()
    flush()

    member_id, recency, frequency, cents, r, f, m = (
        np.concatenate(column) if column else np.empty(0, dtype=np.int64) for column in columns
    )
    # Ordered here: an ORDER BY on the grouped query would add nothing but a sort.
    order = np.argsort(member_id, kind="stable")
    member_id, recency, frequency, cents, r, f, m = (
        array[order] for array in (member_id, recency, frequency, cents, r, f, m)
    )
    return RfmScores(
        as_of=end_at, window_start=start_at, member_id=member_id, recency_days=recency, frequency=frequency,
        monetary_cents=cents,
        # Recency ties are whole days (the window orders by the instant, which sorts the same way).
        r_score=_ties_share_lowest(recency, r),
        f_score=_ties_share_lowest(frequency, f),
        m_score=_ties_share_lowest(cents, m),
    )
