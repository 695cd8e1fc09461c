"""The earning-rules engine: a pure evaluation of a purchase against rules.

Nothing here reads or writes the database: the caller gives the purchase (as
``PurchaseFacts``), the member's context, the program's figures and the active
rules as immutable ``RuleSnapshot`` objects (``loyalty.services.rules`` loads
and caches them).

Semantics (all points are whole, every rule's points rounded down):

* Base points: ``floor(amount x earn_rate)``.
* A rule's *spend* is the purchase amount, or, when the rule names categories
  or SKUs, the sum of the matching lines' amounts (a line matches when its
  category is in ``categories`` or its SKU in ``skus``).
* Kinds: ``multiplier`` gives ``floor(floor(spend x earn_rate) x (value - 1))``
  (a multiplier of 2 doubles the base points of its spend; it never multiplies
  other bonuses); ``per_unit`` gives ``floor(units x value)`` over the matching
  lines (every line when the rule names none); ``fixed`` gives ``floor(value)``;
  ``percent`` gives ``floor(spend x value / 100)`` (value per cent of the spend,
  one point per 1.00).
* Conditions, all of which must hold: ``starts_at <= purchased_at < ends_at``;
  the weekday and the time of day in the *store's* time zone (hours are
  ``[start, end)``, an end before the start runs past midnight); the store;
  at least one matching line when categories or SKUs are named; the purchase
  amount at least ``min_spend``; the member's first purchase; the purchase's
  date in the *program's* time zone within three days of the member's
  birthday (29 February counts as 28 February in other years).
  A rule *applies* when its conditions hold and it gives at least one point.
* Stacking: applying rules are taken by priority (higher first, then lower
  id). The first ``exclusive`` rule met ends the walk: it applies, with the
  rules of higher priority already taken, and nothing below it does. Then of
  each ``best_of_group`` group only the rule giving the most points stays
  (ties: the one taken first). Every other applying rule stacks.
* The breakdown lists the base (``"rule": "base"``) then each applied rule in
  that order; its points always sum to the total, which is never negative.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

BIRTHDAY_DAYS = 3

MULTIPLIER, PER_UNIT, FIXED, PERCENT = "multiplier", "per_unit", "fixed", "percent"
STACK, EXCLUSIVE, BEST_OF_GROUP = "stack", "exclusive", "best_of_group"


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    quantity: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PurchaseFacts:
    store_id: int
    store_tz: str
    purchased_at: dt.datetime
    amount: Decimal
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class MemberContext:
    is_first_purchase: bool = False
    birth_date: dt.date | None = None


@dataclass(frozen=True)
class ProgramFacts:
    earn_rate: Decimal
    timezone: str


@dataclass(frozen=True)
class RuleSnapshot:
    id: int
    name: str
    kind: str
    value: Decimal
    priority: int = 0
    mode: str = STACK
    group: str = ""
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    weekdays: frozenset[int] = frozenset()
    hours_start: dt.time | None = None
    hours_end: dt.time | None = None
    store_ids: frozenset[int] = frozenset()
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    min_spend: Decimal | None = None
    first_purchase_only: bool = False
    birthday_week: bool = False

    @property
    def needs_lines(self) -> bool:
        return bool(self.categories or self.skus)

    @property
    def needs_store_time(self) -> bool:
        return bool(self.weekdays) or self.hours_start is not None


@dataclass(frozen=True)
class Applied:
    rule_id: int | str
    label: str
    points: int

    def as_dict(self) -> dict:
        return {"rule": self.rule_id, "label": self.label, "points": self.points}


@dataclass(frozen=True)
class Evaluation:
    points: int
    applied: tuple[Applied, ...]

    @property
    def breakdown(self) -> list[dict]:
        return [item.as_dict() for item in self.applied]


def _matching(rule: RuleSnapshot, lines: Sequence[Line]) -> list[Line]:
    if not rule.needs_lines:
        return list(lines)
    return [line for line in lines if line.category in rule.categories or line.sku in rule.skus]


def _in_hours(rule: RuleSnapshot, local: dt.time) -> bool:
    start, end = rule.hours_start, rule.hours_end
    if start < end:
        return start <= local < end
    return local >= start or local < end  # runs past midnight


def _birthday_near(birth: dt.date, day: dt.date) -> bool:
    for year in (day.year - 1, day.year, day.year + 1):
        try:
            birthday = birth.replace(year=year)
        except ValueError:  # 29 February in a common year
            birthday = dt.date(year, 2, 28)
        if abs((day - birthday).days) <= BIRTHDAY_DAYS:
            return True
    return False


def rule_conditions_hold(
    rule: RuleSnapshot, *, purchase: PurchaseFacts, member: MemberContext, program: ProgramFacts
) -> bool:
    at = purchase.purchased_at
    if rule.starts_at is not None and at < rule.starts_at:
        return False
    if rule.ends_at is not None and at >= rule.ends_at:
        return False
    if rule.store_ids and purchase.store_id not in rule.store_ids:
        return False
    if rule.min_spend is not None and purchase.amount < rule.min_spend:
        return False
    if rule.first_purchase_only and not member.is_first_purchase:
        return False
    if rule.needs_store_time:
        local = at.astimezone(zoneinfo.ZoneInfo(purchase.store_tz))
        if rule.weekdays and local.weekday() not in rule.weekdays:
            return False
        if rule.hours_start is not None and not _in_hours(rule, local.time()):
            return False
    if rule.birthday_week:
        if member.birth_date is None:
            return False
        day = at.astimezone(zoneinfo.ZoneInfo(program.timezone)).date()
        if not _birthday_near(member.birth_date, day):
            return False
    return not rule.needs_lines or bool(_matching(rule, purchase.lines))


def rule_points(rule: RuleSnapshot, *, purchase: PurchaseFacts, program: ProgramFacts) -> int:
    """The points ``rule`` gives for ``purchase`` once its conditions hold."""
    matching = _matching(rule, purchase.lines)
    spend = sum((line.amount for line in matching), Decimal(0)) if rule.needs_lines else purchase.amount
    if rule.kind == MULTIPLIER:
        return max(0, floor_points(floor_points(spend * program.earn_rate) * (rule.value - 1)))
    if rule.kind == PER_UNIT:
        return max(0, floor_points(sum((line.quantity for line in matching), Decimal(0)) * rule.value))
    if rule.kind == FIXED:
        return max(0, floor_points(rule.value))
    if rule.kind == PERCENT:
        return max(0, floor_points(spend * rule.value / 100))
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def evaluate(
    *,
    purchase: PurchaseFacts,
    member: MemberContext,
    program: ProgramFacts,
    rules: Sequence[RuleSnapshot],
    base_label: str = "Base rate",
) -> Evaluation:
    """The points ``purchase`` earns: the base rate, then the rules (see the module docstring)."""
    base = max(0, floor_points(purchase.amount * program.earn_rate))
    applied: list[Applied] = [Applied("base", base_label, base)] if base > 0 else []
    taken: list[tuple[RuleSnapshot, int]] = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if not rule_conditions_hold(rule, purchase=purchase, member=member, program=program):
            continue
        points = rule_points(rule, purchase=purchase, program=program)
        if points <= 0:
            continue
        taken.append((rule, points))
        if rule.mode == EXCLUSIVE:
            break
    best: dict[str, tuple[RuleSnapshot, int]] = {}
    for rule, points in taken:
        if rule.mode == BEST_OF_GROUP and (rule.group not in best or points > best[rule.group][1]):
            best[rule.group] = (rule, points)
    for rule, points in taken:
        if rule.mode == BEST_OF_GROUP and best[rule.group][0] is not rule:
            continue
        applied.append(Applied(rule.id, rule.name, points))
    return Evaluation(points=sum(item.points for item in applied), applied=tuple(applied))
