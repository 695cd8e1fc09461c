"""Saved segments' conditions compiled into member querysets: the whole
segment (``segment_queryset``), counts (``segment_count``, ``segment_counts``
for a page of segments in one query) and the per-member form the earning
rules ask through ``loyalty.segments`` (``segment_members``). How each
condition compiles is described in ``analytics.segments``."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from analytics.kpis import NET_AMOUNT, counted_purchases
from analytics.models import MemberScore, Segment
from analytics.segments.conditions import _clean, _Known, segment_validate
from loyalty.models import MemberTier
from members.models import Member

logger = logging.getLogger("analytics.segments")  # the name it logged under as one module

def _day_start(day: str, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.min, tzinfo=tz)


def _next_day_start(day: str, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def _bought(**lookups) -> Exists:
    return Exists(counted_purchases().filter(member=OuterRef("pk"), **lookups))


def _totals(aggregate, op: str, limit, *, per_member: bool) -> Q:
    """Members whose total over counted purchases is at least / at most ``limit``.

    For whole-table reads (counts, lists, exports): ``pk IN`` (or ``NOT IN``)
    one grouped subquery, computed once and hashed, so no row multiplies. For
    asking about a few members (``per_member``: the earning rules' seam):
    each member's total as a correlated subquery on the purchases' member
    index, since PostgreSQL cannot narrow a ``NOT IN`` to the members asked.
    Both give the same members (members without purchases total 0).
    """
    if per_member:
        total = Coalesce(
            Subquery(
                counted_purchases().filter(member=OuterRef("pk")).order_by().values("member")
                .annotate(total=aggregate).values("total")
            ),
            Value(0), output_field=aggregate.output_field,
        )
        lookup = GreaterThanOrEqual if op == "at_least" else LessThanOrEqual
        return Q(lookup(total, Value(limit, output_field=aggregate.output_field)))
    grouped = counted_purchases().filter(member__isnull=False).values("member").annotate(total=aggregate)
    if op == "at_least":
        return Q(pk__in=grouped.filter(total__gte=limit).values("member"))
    return ~Q(pk__in=grouped.filter(total__gt=limit).values("member"))


def _scored(**lookups) -> Exists:
    return Exists(MemberScore.objects.filter(member=OuterRef("pk"), **lookups))


def _condition(
    field: str, op: str, value: Any, *, tz: Callable[[], dt.tzinfo], now: dt.datetime, per_member: bool
) -> Q | Exists:
    if field == "rfm_group":
        return _scored(rfm_group__in=value)
    if field == "last_purchase":
        if op == "before":
            return Q(_bought()) & ~Q(_bought(purchased_at__gte=_day_start(value, tz())))
        if op == "after":
            return _bought(purchased_at__gte=_next_day_start(value, tz()))
        return _bought(purchased_at__gte=now - dt.timedelta(days=value))
    if field == "spend":
        return _totals(Sum(NET_AMOUNT), op, Decimal(value), per_member=per_member)
    if field == "purchases":
        if op == "at_least" and value == 0:
            return Q()
        return _totals(Count("pk"), op, value, per_member=per_member)
    if field == "tier":
        return Exists(MemberTier.objects.filter(member=OuterRef("pk"), tier_id__in=value))
    if field == "store":
        if op == "enrolled_at":
            return Q(enrollment_store_id__in=value)
        return _bought(store_id__in=value)
    if field == "enrolled":
        if op == "before":
            return Q(enrolled_at__lt=_day_start(value, tz()))
        return Q(enrolled_at__gte=_next_day_start(value, tz()))
    if field == "consent":
        column = "marketing_consent" if value == "email" else "sms_consent"
        return Q(**{column: op == "given"})
    if field == "birthday_month":
        return Q(birth_date__month__in=value)
    if field == "churn":
        alive = float(Decimal(1) - Decimal(value))  # churn >= c  <=>  alive <= 1 - c
        return _scored(**{"probability_alive__lte" if op == "at_least" else "probability_alive__gte": alive})
    if field == "clv":
        return _scored(**{"clv_12m__gte" if op == "at_least" else "clv_12m__lte": Decimal(value)})
    raise AssertionError(field)


def _program_tz() -> dt.tzinfo:
    from loyalty.services.program import program_get

    return program_get().tz


def segment_q(conditions: object, *, now: dt.datetime | None = None, per_member: bool = False) -> Q:
    """The conditions as one ``Q`` on ``Member`` (deleted members left out). The
    conditions' shape is checked, the ids they name are not (saved segments
    were checked by ``segment_validate`` when saved). ``per_member``: shaped
    for asking about a few members (see ``_totals``) rather than for reading
    the whole segment."""
    cleaned = _clean(conditions, _Known())
    now = now or timezone.now()
    zone: list[dt.tzinfo] = []

    def tz() -> dt.tzinfo:  # the program is read only when a date condition needs it
        if not zone:
            zone.append(_program_tz())
        return zone[0]

    q = ~Q(status=Member.Status.DELETED)
    for item in cleaned["all"]:
        part = _condition(item["field"], item["op"], item["value"], tz=tz, now=now, per_member=per_member)
        q &= part if isinstance(part, Q) else Q(part)
    return q


def segment_queryset(
    conditions: object, *, now: dt.datetime | None = None, per_member: bool = False
) -> QuerySet[Member]:
    """The members the conditions select (see ``analytics.segments``), unordered."""
    return Member.objects.filter(segment_q(conditions, now=now, per_member=per_member))


def segment_members(segment_id: int, *, now: dt.datetime | None = None) -> QuerySet[Member] | None:
    """The members of a saved segment, or ``None`` for a missing or archived one
    (the resolver ``loyalty.segments`` calls: one query to read the segment).
    Shaped for asking whether a few members are in it (``per_member``), as the
    earning rules do; count or list a whole segment with ``segment_queryset``."""
    try:
        segment_id = int(segment_id)
    except (TypeError, ValueError):
        return None
    segment = Segment.objects.filter(pk=segment_id, archived_at__isnull=True).only("conditions").first()
    if segment is None:
        return None
    try:
        return segment_queryset(segment.conditions, now=now, per_member=True)
    except ValidationError:  # written around segment_save: unusable, so nobody is in it
        logger.warning("segment %s has invalid conditions", segment_id)
        return None


def segment_count(conditions: object, *, now: dt.datetime | None = None) -> int:
    """How many members the conditions select: one ``COUNT`` query."""
    return segment_queryset(conditions, now=now).count()


def segment_counts(segments: Iterable[Segment], *, now: dt.datetime | None = None) -> dict[int, int]:
    """The number of members of each segment, all in one query (a conditional
    ``Count`` per segment over the member table); none for no segments. A
    segment whose saved conditions no longer check has nobody in it (as for
    ``segment_members``): 0, and a warning logged."""
    now = now or timezone.now()
    result, counts = {}, {}
    for segment in segments:
        result[segment.pk] = 0
        try:
            counts[f"s{segment.pk}"] = Count("pk", filter=segment_q(segment.conditions, now=now))
        except ValidationError:
            logger.warning("segment %s has invalid conditions", segment.pk)
    if counts:
        found = Member.objects.aggregate(**counts)
        result.update({int(key[1:]): value for key, value in found.items()})
    return result


def segment_count_time(conditions: object, *, repeat: int = 5) -> dict[str, float | int]:
    """For the perf helper (``bench/``): the count preview of ``conditions``
    timed ``repeat`` times on the current database, uncached. Returns the
    count and the best, median and worst time in milliseconds."""
    cleaned = segment_validate(conditions)
    timings, count = [], 0
    for _round in range(repeat):
        started = time.perf_counter()
        count = segment_count(cleaned)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "count": count, "best_ms": round(timings[0], 1), "median_ms": round(timings[len(timings) // 2], 1),
        "worst_ms": round(timings[-1], 1),
    }
