"""Saved segments: the condition language, its checking, and its compilation
into a member queryset.

The conditions of a ``Segment``
-------------------------------
``Segment.conditions`` is ``{"all": [<condition>, ...]}``: a member is in the
segment when every condition holds (AND). An empty list is every member.
Deleted members are never in a segment. Each condition is
``{"field": ..., "op": ..., "value": ...}`` (``{}``, the model's default, is
no condition):

- ``rfm_group`` ``in`` [group codes, e.g. "champions"]: their RFM group from
  the last scoring run is one of them (members not scored have no group).
- ``last_purchase`` ``before`` "YYYY-MM-DD": they have bought, and never on
  or after that day; ``after`` "YYYY-MM-DD": they bought on a later day;
  ``within_days`` N (>= 1): they bought in the last N x 24 hours.
- ``spend`` ``at_least`` / ``at_most`` "100.00": their lifetime net spend
  (purchase amounts less refunds).
- ``purchases`` ``at_least`` / ``at_most`` N (>= 0): their number of purchases.
- ``tier`` ``in`` [tier ids]: their current tier (``MemberTier``) is one of them.
- ``store`` ``enrolled_at`` [store ids]: they enrolled at one of the stores;
  ``bought_at`` [store ids]: they have bought at one of them.
- ``enrolled`` ``before`` / ``after`` "YYYY-MM-DD": their enrollment date.
- ``consent`` ``given`` / ``not_given`` "email" or "sms": their marketing
  consent on that channel.
- ``birthday_month`` ``in`` [months 1-12]: their birth date's month.
- ``churn`` ``at_least`` / ``at_most`` "0.7" (a fraction 0-1):
  1 - their probability of being active (CLV model, ``MemberScore``).
- ``clv`` ``at_least`` / ``at_most`` "250.00": their predicted 12-month CLV.

For example::

    {"all": [
        {"field": "rfm_group", "op": "in", "value": ["champions", "loyal"]},
        {"field": "last_purchase", "op": "before", "value": "2026-01-01"},
        {"field": "consent", "op": "given", "value": "email"},
    ]}

Purchases are counted as the KPIs count them (``analytics.kpis.counted_purchases``:
a fully refunded purchase is no purchase) and a purchase's amount is
``NET_AMOUNT``. Dates (1900-01-01 to 2999-12-31) are whole calendar days in the program's time zone:
"before 2026-01-01" ends at the first midnight of that day, "after
2026-01-01" starts at the first midnight of the next day; the day itself
is in neither. Members without a score (never bought, or not scored yet)
match no ``rfm_group``, ``churn`` or ``clv`` condition; members who never
bought match ``spend``/``purchases`` ``at_most`` (their total is 0) and no
``last_purchase`` condition.

``segment_validate`` checks a whole list and returns it cleaned (lists sorted
without repeats, amounts as strings with two places, ids and numbers as
ints); errors name each bad condition's position (from 1) and field.

Compilation
-----------
Every condition becomes one expression on the member row: a column test, an
``EXISTS`` over the member's purchases, tier or score, or ``pk IN`` a grouped
subquery for the totals (spend, number of purchases). No join multiplies rows;
the same expressions work as a ``filter`` and inside a conditional ``Count``,
so ``segment_counts`` counts a whole page of segments in one query.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from analytics.kpis import NET_AMOUNT, counted_purchases
from analytics.models import MemberScore, RfmGroup, Segment
from loyalty.models import MemberTier, Store, Tier
from members.models import Member

logger = logging.getLogger(__name__)

MAX_DAYS = 36_500
MONTHS = [
    (1, _("January")), (2, _("February")), (3, _("March")), (4, _("April")), (5, _("May")), (6, _("June")),
    (7, _("July")), (8, _("August")), (9, _("September")), (10, _("October")), (11, _("November")),
    (12, _("December")),
]
CHANNELS = [("email", _("email")), ("sms", _("SMS"))]
# Dates a condition may name: their local midnights (and the next day's) stay
# within what datetimes and the databases can hold in any zone.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


# -- the language ---------------------------------------------------------------------------


OPERATORS: dict[str, Promise] = {
    "in": _("is one of"),
    "before": _("before"),
    "after": _("after"),
    "within_days": _("in the last N days"),
    "at_least": _("at least"),
    "at_most": _("at most"),
    "enrolled_at": _("enrolled at one of"),
    "bought_at": _("bought at one of"),
    "given": _("given"),
    "not_given": _("not given"),
}


@dataclass(frozen=True)
class FieldSpec:
    """A field of the condition language: its label, operators and the kind of value each takes."""

    label: Promise
    ops: dict[str, str]  # op -> value kind (see _PARSERS)
    help: Promise


FIELDS: dict[str, FieldSpec] = {
    "rfm_group": FieldSpec(_("RFM group"), {"in": "rfm_groups"}, _("Choose one or more groups.")),
    "last_purchase": FieldSpec(
        _("Last purchase"), {"before": "date", "after": "date", "within_days": "days"},
        _("A date (YYYY-MM-DD), or a number of days for \"in the last N days\"."),
    ),
    "spend": FieldSpec(
        _("Lifetime spend"), {"at_least": "money", "at_most": "money"},
        _("An amount such as 100.00: all purchases less refunds."),
    ),
    "purchases": FieldSpec(
        _("Number of purchases"), {"at_least": "count", "at_most": "count"}, _("A whole number, 0 or more."),
    ),
    "tier": FieldSpec(_("Tier"), {"in": "tiers"}, _("Choose one or more tiers.")),
    "store": FieldSpec(
        _("Store"), {"enrolled_at": "stores", "bought_at": "stores"}, _("Choose one or more stores."),
    ),
    "enrolled": FieldSpec(
        _("Enrollment date"), {"before": "date", "after": "date"}, _("A date (YYYY-MM-DD)."),
    ),
    "consent": FieldSpec(
        _("Marketing consent"), {"given": "channel", "not_given": "channel"}, _("Choose email or SMS."),
    ),
    "birthday_month": FieldSpec(_("Birthday month"), {"in": "months"}, _("Choose one or more months.")),
    "churn": FieldSpec(
        _("Churn probability"), {"at_least": "fraction", "at_most": "fraction"},
        _("A fraction from 0 to 1, e.g. 0.7 (from the CLV model)."),
    ),
    "clv": FieldSpec(
        _("Predicted 12-month CLV"), {"at_least": "money", "at_most": "money"}, _("An amount such as 250.00."),
    ),
}

CHOICE_KINDS = ("rfm_groups", "tiers", "stores", "months", "channel")
"""Value kinds chosen from a list (the rest are typed)."""


class _Bad(Exception):
    """A value that cannot be read: the problem, for the condition's error."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _date(value: object) -> str:
    try:
        if not isinstance(value, str) or len(value.strip()) != 10:
            raise ValueError(value)
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(gettext("give a date as YYYY-MM-DD")) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise _Bad(gettext("give a date from %(first)s to %(last)s") % {
            "first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat(),
        })
    return day.isoformat()


def _integer(value: object, *, minimum: int, maximum: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal():  # isdigit() lets "²" through to int()
        number = int(value.strip())
    if number is None or not minimum <= number <= maximum:
        raise _Bad(gettext("give a whole number from %(minimum)d to %(maximum)d") % {
            "minimum": minimum, "maximum": maximum,
        })
    return number


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _money(value: object) -> str:
    number = _decimal(value)
    if number is None or number < 0 or number.as_tuple().exponent < -2 or number >= Decimal("1e12"):
        raise _Bad(gettext("give an amount of 0 or more with at most two decimals, such as 100.00"))
    return f"{number.quantize(Decimal('0.01')):f}"


def _fraction(value: object) -> str:
    number = _decimal(value)
    if number is None or not Decimal(0) <= number <= Decimal(1) or number.as_tuple().exponent < -6:
        raise _Bad(gettext("give a fraction from 0 to 1, such as 0.7"))
    return f"{number.normalize():f}"


def _choices(value: object, allowed: Container, what: str, coerce: Callable[[object], Any] = str) -> list:
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _Bad(gettext("choose at least one %(what)s") % {"what": what})
    chosen, unknown = set(), []
    for item in value:
        try:
            item = coerce(item)
        except (TypeError, ValueError):
            unknown.append(str(item))
            continue
        (chosen.add(item) if item in allowed else unknown.append(str(item)))
    if unknown:
        raise _Bad(gettext("no %(what)s %(items)s") % {"what": what, "items": ", ".join(unknown)})
    return sorted(chosen)


def _id(item: object) -> int:
    if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
        raise TypeError  # int() would turn True into 1 and 5.5 into 5
    if isinstance(item, str):
        item = item.strip()
    return int(item)  # type: ignore[arg-type]


@dataclass
class _Known:
    """What the ids in conditions may name; ``None``: not checked (compiling saved conditions)."""

    tiers: set[int] | None = None
    stores: set[int] | None = None


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


def _value(kind: str, value: object, known: _Known) -> object:
    if kind == "date":
        return _date(value)
    if kind == "days":
        return _integer(value, minimum=1, maximum=MAX_DAYS)
    if kind == "count":
        return _integer(value, minimum=0, maximum=10**9)
    if kind == "money":
        return _money(value)
    if kind == "fraction":
        return _fraction(value)
    if kind == "rfm_groups":
        return _choices(value, set(RfmGroup.values), gettext("RFM group"))
    if kind == "months":
        return _choices(value, range(1, 13), gettext("month"), _id)
    if kind == "tiers":
        return _choices(value, known.tiers if known.tiers is not None else _Everything(), gettext("tier"), _id)
    if kind == "stores":
        return _choices(value, known.stores if known.stores is not None else _Everything(), gettext("store"), _id)
    if kind == "channel":
        if value not in ("email", "sms"):
            raise _Bad(gettext("choose email or SMS"))
        return value
    raise AssertionError(kind)


def _clean(conditions: object, known: _Known) -> dict:
    if conditions == {}:  # the model's default: no condition yet
        conditions = {"all": []}
    if not isinstance(conditions, dict) or set(conditions) != {"all"} or not isinstance(conditions["all"], list):
        raise ValidationError(
            _('Conditions must be {"all": [...]}, a list of conditions.'), code="invalid_conditions"
        )
    cleaned, errors = [], []
    for position, item in enumerate(conditions["all"], start=1):
        field = item.get("field") if isinstance(item, dict) else None
        spec = FIELDS.get(field) if isinstance(field, str) else None
        label = str(spec.label) if spec else str(field or "?")

        def error(problem: str, code: str, *, position=position, field=field, label=label) -> None:
            errors.append(ValidationError(
                _("Condition %(position)d (%(label)s): %(problem)s."), code=code,
                params={"position": position, "field": field, "label": label, "problem": problem},
            ))

        if not isinstance(item, dict) or set(item) != {"field", "op", "value"}:
            error(gettext("give field, op and value"), "invalid_condition")
            continue
        if spec is None:
            error(gettext("unknown field; use one of %(fields)s") % {"fields": ", ".join(FIELDS)}, "unknown_field")
            continue
        op = item["op"]
        if not isinstance(op, str) or op not in spec.ops:
            error(gettext("%(op)s is not an operator of this field; use %(ops)s") % {
                "op": op, "ops": ", ".join(str(OPERATORS[name]) for name in spec.ops),
            }, "unknown_op")
            continue
        try:
            value = _value(spec.ops[op], item["value"], known)
        except _Bad as bad:
            error(bad.problem, "invalid_value")
            continue
        cleaned.append({"field": field, "op": op, "value": value})
    if errors:
        raise ValidationError(errors)
    return {"all": cleaned}


def segment_validate(conditions: object) -> dict:
    """``conditions`` checked and cleaned (see the module docstring), or a
    ``ValidationError`` with one error per bad condition, each naming its
    position (from 1) and field in the message and in ``params``
    (``position``, ``field``). Tier and store ids must exist (one query each
    when a condition names them)."""
    items = conditions.get("all") if isinstance(conditions, dict) else None
    fields = (
        {item.get("field") for item in items if isinstance(item, dict) and isinstance(item.get("field"), str)}
        if isinstance(items, list) else set()
    )
    known = _Known(
        tiers=set(Tier.objects.values_list("pk", flat=True)) if "tier" in fields else None,
        stores=set(Store.objects.values_list("pk", flat=True)) if "store" in fields else None,
    )
    return _clean(conditions, known)


# -- compilation ------------------------------------------------------------------------------


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
    """The members the conditions select (see the module docstring), unordered."""
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


def conditions_key(conditions: dict) -> str:
    """A stable text of cleaned conditions (for cache keys)."""
    return json.dumps(conditions, sort_keys=True, separators=(",", ":"))


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
