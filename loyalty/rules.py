"""The earning-rules engine: a pure evaluation of a purchase against rules.

Nothing here reads or writes the database: the caller gives the purchase (as
``PurchaseFacts``), the member's context, the program's figures and the active
rules as immutable ``RuleSnapshot`` objects (``loyalty.services.rules`` loads
and caches them; ``loyalty.earning`` builds the member's context). This
docstring is the one statement of the semantics.

Semantics (all points are whole, every rule's points rounded down):

* Base points: ``floor(amount x earn_rate)``.
* Tier multiplier: a member whose tier multiplies earnings by ``m`` gets
  ``floor(base x (m - 1))`` more, as its own breakdown item right after the
  base (``{"rule": "tier", "tier": <tier id>, "label": <tier code>,
  "points": p}``, only when ``p > 0``). It multiplies the base points only,
  never a rule's bonus.
* A rule's *spend* is the purchase amount, or, when the rule names categories
  or SKUs, the sum of the matching lines' amounts (a line matches when its
  category is in ``categories`` or its SKU in ``skus``).
* Kinds: ``multiplier`` gives ``floor(floor(spend x earn_rate) x (value - 1))``
  (a multiplier of 2 doubles the base points of its spend; it never multiplies
  other bonuses or the tier's points); ``per_unit`` gives ``floor(units x
  value)`` over the matching lines (every line when the rule names none);
  ``fixed`` gives ``floor(value)``; ``percent`` gives ``floor(spend x value /
  100)`` (value per cent of the spend, one point per 1.00).
* ``stamps`` (a stamp card): the purchase gives ``floor(quantity)`` stamps
  summed over the matching lines when the rule names categories or SKUs, else
  one stamp (a visit). With the stamps already on the member's card
  (``MemberContext.stamps``) that makes ``total``; ``total //
  stamps_needed`` cards are full, each worth ``floor(value)`` points. Its
  breakdown item is ``{"rule": id, "label": name, "points": p, "stamps":
  given, "cards": full cards}`` and appears whenever stamps were given, with
  0 points when no card filled. What stays on the card (``total %
  stamps_needed``) is kept by ``loyalty.services.stamps``. A stamp rule that
  names a reward (``reward_id``) gives no points for a full card, whatever
  its value: each full card gives a voucher for that reward instead
  (``loyalty.services.stamps`` has it issued), and its item also carries
  ``"reward": reward id, "reward_label": reward name`` (the name as the rule
  knew it then, like ``label``).
* Conditions, all of which must hold: ``starts_at <= purchased_at < ends_at``;
  the weekday and the time of day in the *store's* time zone (hours are
  ``[start, end)``, an end before the start runs past midnight); the store;
  the member's tier in ``tier_ids``; the member in at least one of
  ``segment_ids``; at least one matching line when categories or SKUs are
  named; the purchase amount at least ``min_spend``; the member's first
  purchase; the purchase's date in the *program's* time zone within three
  days of the member's birthday (29 February counts as 28 February in other
  years). An empty set of stores, tiers or segments means everyone.
  A rule *applies* when its conditions hold and it gives at least one point
  (a stamp rule: at least one stamp).
* Stacking: applying rules other than stamp cards are taken by priority
  (higher first, then lower id). The first ``exclusive`` rule met ends the
  walk: it applies, with the rules of higher priority already taken, and
  nothing below it does. Then of each ``best_of_group`` group only the rule
  giving the most points stays (ties: the one taken first). Every other
  applying rule stacks. Stamp cards stand outside stacking: they always
  count, whatever their mode, and no exclusive rule shuts them out.
* The breakdown lists the base (``"rule": "base"``), the tier's points, each
  applied rule in that order, then the stamp cards by priority; its points
  always sum to the total, which is never negative.
* Caps are applied after evaluation, in the earn's transaction
  (``loyalty.services.budgets`` counts and locks), by ``evaluation_capped``:
  ``member_cap`` is the most a rule gives one member per ``member_cap_period``
  (``rule``: as long as the rule runs; ``day``, ``week`` (ISO, from Monday),
  ``month``, ``year``: the calendar period of ``purchased_at`` in the
  program's time zone), ``budget`` the most it gives in all. A capped rule
  gives ``min(points, what is left of each cap)``, its item gets ``"capped":
  true`` and the reduced points; an item reduced to 0 points is dropped (a
  stamp card's stays: it still records the stamps). A capped rule keeps the
  place it won in stacking (caps never let another rule of its group or
  below an exclusive rule in). Refunds give no budget back.
* Refunds (``loyalty.services.stamps``): a refund leaving ``remaining`` of
  ``amount`` takes back ``given - floor(given x remaining / amount)`` of the
  stamps a purchase gave, from the current card and never below 0.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal

BIRTHDAY_DAYS = 3

MULTIPLIER, PER_UNIT, FIXED, PERCENT, STAMPS = "multiplier", "per_unit", "fixed", "percent", "stamps"
STACK, EXCLUSIVE, BEST_OF_GROUP = "stack", "exclusive", "best_of_group"
RULE_PERIOD, DAY, WEEK, MONTH, YEAR = "rule", "day", "week", "month", "year"


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
    """What the rules may ask about the member (everything empty: no member).

    ``stamps`` maps a stamp rule's id to the stamps on the member's current card.
    """

    is_first_purchase: bool = False
    birth_date: dt.date | None = None
    tier_id: int | None = None
    tier_code: str = ""
    tier_multiplier: Decimal = Decimal(1)
    segment_ids: frozenset[int] = frozenset()
    stamps: Mapping[int, int] = field(default_factory=dict)


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
    tier_ids: frozenset[int] = frozenset()
    segment_ids: frozenset[int] = frozenset()
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    min_spend: Decimal | None = None
    first_purchase_only: bool = False
    birthday_week: bool = False
    stamps_needed: int | None = None
    member_cap: int | None = None
    member_cap_period: str = RULE_PERIOD
    budget: int | None = None
    reward_id: int | None = None  # a stamp card whose full card gives a voucher for this reward
    reward_name: str = ""

    @property
    def needs_lines(self) -> bool:
        return bool(self.categories or self.skus)

    @property
    def needs_store_time(self) -> bool:
        return bool(self.weekdays) or self.hours_start is not None

    @property
    def is_stamps(self) -> bool:
        return self.kind == STAMPS

    @property
    def is_capped(self) -> bool:
        return self.member_cap is not None or self.budget is not None


@dataclass(frozen=True)
class Applied:
    """One item of the breakdown (``as_dict`` is what the ledger stores)."""

    rule_id: int | str
    label: str
    points: int
    tier_id: int | None = None  # the tier's item
    stamps: int | None = None  # a stamp card's item: stamps given
    cards: int | None = None  # and cards filled
    capped: bool = False
    reward_id: int | None = None  # a stamp card's reward: each card filled gives a voucher for it
    reward_label: str = ""

    def as_dict(self) -> dict:
        item: dict = {"rule": self.rule_id}
        if self.tier_id is not None:
            item["tier"] = self.tier_id
        item["label"] = self.label
        item["points"] = self.points
        if self.stamps is not None:
            item["stamps"] = self.stamps
            item["cards"] = self.cards
        if self.reward_id is not None:
            item["reward"] = self.reward_id
            item["reward_label"] = self.reward_label
        if self.capped:
            item["capped"] = True
        return item


@dataclass(frozen=True)
class Evaluation:
    points: int
    applied: tuple[Applied, ...]

    @property
    def breakdown(self) -> list[dict]:
        return [item.as_dict() for item in self.applied]

    @property
    def stamps(self) -> dict[int, tuple[int, int]]:
        """``{stamp rule id: (stamps given, cards filled)}``."""
        return {
            item.rule_id: (item.stamps, item.cards)
            for item in self.applied if item.stamps is not None and isinstance(item.rule_id, int)
        }

    @property
    def vouchers(self) -> dict[int, tuple[int, int]]:
        """``{stamp rule id: (reward id, cards filled)}`` for the cards that give a voucher."""
        return {
            item.rule_id: (item.reward_id, item.cards)
            for item in self.applied
            if item.reward_id is not None and item.cards and isinstance(item.rule_id, int)
        }


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


class _Moments:
    """The purchase's local time in the store's zone and its date in the program's, worked
    out once per evaluation (only if a rule asks)."""

    __slots__ = ("_day", "_local", "program", "purchase")

    def __init__(self, purchase: PurchaseFacts, program: ProgramFacts) -> None:
        self.purchase, self.program = purchase, program
        self._local: dt.datetime | None = None
        self._day: dt.date | None = None

    @property
    def store_local(self) -> dt.datetime:
        if self._local is None:
            self._local = self.purchase.purchased_at.astimezone(zoneinfo.ZoneInfo(self.purchase.store_tz))
        return self._local

    @property
    def program_day(self) -> dt.date:
        if self._day is None:
            self._day = self.purchase.purchased_at.astimezone(zoneinfo.ZoneInfo(self.program.timezone)).date()
        return self._day


def rule_conditions_hold(
    rule: RuleSnapshot,
    *,
    purchase: PurchaseFacts,
    member: MemberContext,
    program: ProgramFacts,
    moments: _Moments | None = None,
) -> bool:
    at = purchase.purchased_at
    if rule.starts_at is not None and at < rule.starts_at:
        return False
    if rule.ends_at is not None and at >= rule.ends_at:
        return False
    if rule.store_ids and purchase.store_id not in rule.store_ids:
        return False
    if rule.tier_ids and member.tier_id not in rule.tier_ids:
        return False
    if rule.segment_ids and rule.segment_ids.isdisjoint(member.segment_ids):
        return False
    if rule.min_spend is not None and purchase.amount < rule.min_spend:
        return False
    if rule.first_purchase_only and not member.is_first_purchase:
        return False
    if moments is None:
        moments = _Moments(purchase, program)
    if rule.needs_store_time:
        local = moments.store_local
        if rule.weekdays and local.weekday() not in rule.weekdays:
            return False
        if rule.hours_start is not None and not _in_hours(rule, local.time()):
            return False
    if rule.birthday_week:
        if member.birth_date is None:
            return False
        if not _birthday_near(member.birth_date, moments.program_day):
            return False
    return not rule.needs_lines or bool(_matching(rule, purchase.lines))


def rule_points(rule: RuleSnapshot, *, purchase: PurchaseFacts, program: ProgramFacts) -> int:
    """The points ``rule`` (not a stamp card) gives for ``purchase`` once its conditions hold."""
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


def rule_stamps(rule: RuleSnapshot, *, purchase: PurchaseFacts) -> int:
    """The stamps a stamp rule gives for ``purchase`` once its conditions hold."""
    if not rule.needs_lines:
        return 1  # a visit
    return max(0, floor_points(sum((line.quantity for line in _matching(rule, purchase.lines)), Decimal(0))))


def stamp_card_fill(*, current: int, given: int, needed: int) -> tuple[int, int]:
    """``(cards filled, stamps left on the new card)`` after ``given`` more stamps."""
    return divmod(max(0, current) + given, needed)


def evaluate(
    *,
    purchase: PurchaseFacts,
    member: MemberContext,
    program: ProgramFacts,
    rules: Sequence[RuleSnapshot],
    base_label: str = "Base rate",
) -> Evaluation:
    """The points ``purchase`` earns: the base rate, the tier, then the rules (see the module docstring)."""
    base = max(0, floor_points(purchase.amount * program.earn_rate))
    applied: list[Applied] = [Applied("base", base_label, base)] if base > 0 else []
    if member.tier_id is not None and member.tier_multiplier > 1:
        extra = max(0, floor_points(base * (member.tier_multiplier - 1)))
        if extra > 0:
            applied.append(Applied("tier", member.tier_code, extra, tier_id=member.tier_id))
    taken: list[tuple[RuleSnapshot, int]] = []
    stamp_cards: list[Applied] = []
    walk_ended = False  # by an exclusive rule; stamp cards still count
    moments = _Moments(purchase, program)
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if not rule.is_stamps and walk_ended:
            continue
        if not rule_conditions_hold(rule, purchase=purchase, member=member, program=program, moments=moments):
            continue
        if rule.is_stamps:
            given = rule_stamps(rule, purchase=purchase)
            if given > 0 and rule.stamps_needed:
                cards, _left = stamp_card_fill(
                    current=member.stamps.get(rule.id, 0), given=given, needed=rule.stamps_needed
                )
                points = 0 if rule.reward_id is not None else max(0, floor_points(cards * rule.value))
                stamp_cards.append(Applied(
                    rule.id, rule.name, points, stamps=given, cards=cards, reward_id=rule.reward_id,
                    reward_label=rule.reward_name if rule.reward_id is not None else "",
                ))
            continue
        points = rule_points(rule, purchase=purchase, program=program)
        if points <= 0:
            continue
        taken.append((rule, points))
        walk_ended = rule.mode == EXCLUSIVE
    best: dict[str, tuple[RuleSnapshot, int]] = {}
    for rule, points in taken:
        if rule.mode == BEST_OF_GROUP and (rule.group not in best or points > best[rule.group][1]):
            best[rule.group] = (rule, points)
    for rule, points in taken:
        if rule.mode == BEST_OF_GROUP and best[rule.group][0] is not rule:
            continue
        applied.append(Applied(rule.id, rule.name, points))
    applied.extend(stamp_cards)
    return Evaluation(points=sum(item.points for item in applied), applied=tuple(applied))


def evaluation_capped(evaluation: Evaluation, *, left: Mapping[int, int]) -> Evaluation:
    """``evaluation`` with rule ``id``'s points limited to ``left[id]`` (rules not in ``left``
    are not capped). A reduced item is marked ``capped``; one reduced to 0 points is
    dropped unless it is a stamp card's. The total is the sum of what stays."""
    items: list[Applied] = []
    for item in evaluation.applied:
        limit = left.get(item.rule_id) if isinstance(item.rule_id, int) else None
        if limit is not None and item.points > max(0, limit):
            item = replace(item, points=max(0, limit), capped=True)
            if item.points == 0 and item.stamps is None:
                continue
        items.append(item)
    return Evaluation(points=sum(item.points for item in items), applied=tuple(items))
