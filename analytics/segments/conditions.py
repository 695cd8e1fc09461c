"""The condition language of saved segments: its fields and operators, and
the checking and cleaning of a segment's conditions (``segment_validate``).
The language itself is described in ``analytics.segments``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Container
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from analytics.models import RfmGroup
from loyalty.models import Store, Tier

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
    """``conditions`` checked and cleaned (see ``analytics.segments``), or a
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


def conditions_key(conditions: dict) -> str:
    """A stable text of cleaned conditions (for cache keys)."""
    return json.dumps(conditions, sort_keys=True, separators=(",", ":"))

