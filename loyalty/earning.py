"""How many points a purchase earns: the seam where earning rules plug in.

``purchase_earning`` is a pure evaluation: it reads the purchase it is given,
the program, the active earning rules and the tiers (both cached in process
memory, see ``loyalty.services.rules`` and ``loyalty.services.tiers``) and
what the rules need of the member, writes nothing and returns the points
with a breakdown per rule: the base rate first (``"rule": "base"``), the
tier's multiplier, then each rule that applied (``loyalty.rules`` defines the
semantics). The ledger stores the breakdown on the earn entry. Live
purchases and the bulk import both call it; the live path then applies the
budget caps and fills the stamp cards in the same transaction.

``earning_simulate`` is the same evaluation for a basket that is not
recorded: the staff simulator (with draft rules) and the till's preview.

With no active rules and no tier that multiplies it costs what the base rate
alone costs: no query. The member's data is read only when an active rule
(or a tier multiplier) looks at it: the first purchase and the birth date,
the tier (``MemberTier``), the segments (``loyalty.segments``, one query per
segment a rule names) and the stamp cards of the active stamp rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Protocol

from loyalty.models import MemberTier, Program, Purchase, StampCard, Store, Tier
from loyalty.rules import Evaluation, Line, MemberContext, ProgramFacts, PurchaseFacts, RuleSnapshot, evaluate
from loyalty.segments import member_segments, members_segments
from loyalty.services.rules import ActiveRules, RuleNeeds, active_rules, rule_needs
from members.models import Member

if TYPE_CHECKING:
    from loyalty.services.tiers import TierTable

BASE_LABEL = "Base rate"


@dataclass(frozen=True)
class Earning:
    points: int
    breakdown: list[dict] = field(default_factory=list)
    # The engine's result (None: the base rate alone, no rule or tier looked at)
    # and the rules it evaluated, by id (for the caps and the stamp cards).
    evaluation: Evaluation | None = None
    rules: Mapping[int, RuleSnapshot] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberStanding:
    """The part of a member's context that outlives a purchase: tier, segments, stamp cards.

    ``stamps`` holds the stamps on the current card of each active stamp rule
    the member has a card of.
    """

    tier_id: int | None = None
    tier_code: str = ""
    tier_multiplier: Decimal = Decimal(1)
    segment_ids: frozenset[int] = frozenset()
    stamps: Mapping[int, int] = field(default_factory=dict)


NO_STANDING = MemberStanding()


class LineLike(Protocol):
    sku: str
    category: str
    quantity: Decimal
    amount: Decimal


def tier_table() -> TierTable:
    # Imported here: loyalty.services.tiers reads loyalty.services.purchases, which imports this module.
    from loyalty.services.tiers import tier_table

    return tier_table()


def base_points(amount: Decimal, earn_rate: Decimal) -> int:
    """Points for ``amount`` at ``earn_rate`` points per 1.00, rounded down."""
    return int((amount * earn_rate).to_integral_value(rounding=ROUND_DOWN))


def _tiers_multiply(tiers: TierTable) -> bool:
    return any(tier.multiplier > 1 for tier in tiers.tiers)


def member_standings(
    *,
    member_ids: Iterable[int],
    rules: Sequence[RuleSnapshot] | None = None,
    tiers: TierTable | None = None,
    needs: RuleNeeds | None = None,
) -> dict[int, MemberStanding]:
    """The standing of each member (tier, segments, stamp cards) as the rules need it.

    Reads only what ``rules`` (default: the active rules) and the tiers look
    at: ``MemberTier`` when a tier multiplies or a rule names tiers, one query
    per segment a rule names, the stamp cards of the stamp rules; nothing at
    all otherwise. A member missing from the result has no tier, segment or
    card. Reads without locks: the live path calls it under the account lock.
    ``needs`` is ``rule_needs(rules)`` when the caller has it.
    """
    if needs is None:
        needs = active_rules().needs if rules is None else rule_needs(rules)
    tiers = tier_table() if tiers is None else tiers
    needs_tier, segments, stamp_ids = needs.tier or _tiers_multiply(tiers), needs.segment_ids, needs.stamp_rule_ids
    if not (needs_tier or segments or stamp_ids):
        return {}
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    tier_of: dict[int, int | None] = {}
    if needs_tier:
        query = MemberTier.objects.filter(tier__isnull=False)
        query = query.filter(member_id=ids[0]) if len(ids) == 1 else query.filter(member_id__in=ids)
        tier_of = dict(query.values_list("member_id", "tier_id"))
    in_segments = (
        {ids[0]: member_segments(ids[0], segments)} if len(ids) == 1 else members_segments(ids, segments)
    ) if segments else {}
    cards: dict[int, dict[int, int]] = {}
    if stamp_ids:
        query = StampCard.objects.filter(rule_id__in=stamp_ids, stamps__gt=0)
        query = query.filter(member_id=ids[0]) if len(ids) == 1 else query.filter(member_id__in=ids)
        for member_id, rule_id, stamps in query.values_list("member_id", "rule_id", "stamps"):
            cards.setdefault(member_id, {})[rule_id] = stamps
    standings = {}
    for member_id in ids:
        tier_id = tier_of.get(member_id)
        tier = tiers.get(tier_id)
        standing = MemberStanding(
            tier_id=tier_id, tier_code=tier.code if tier else "",
            tier_multiplier=tier.multiplier if tier else Decimal(1),
            segment_ids=in_segments.get(member_id, frozenset()), stamps=cards.get(member_id, {}),
        )
        if standing != NO_STANDING:
            standings[member_id] = standing
    return standings


def _store_tz(purchase: Purchase, active: ActiveRules) -> str:
    if Purchase.store.is_cached(purchase):
        return purchase.store.timezone
    tz = active.store_timezones.get(purchase.store_id)
    if tz is None:  # a store created after the rules were loaded
        tz = Store.objects.values_list("timezone", flat=True).get(pk=purchase.store_id)
    return tz


def _first_purchase(member_id: int, purchased_at: dt.datetime, exclude_pk: int | None) -> bool:
    earlier = Purchase.objects.filter(member_id=member_id, purchased_at__lt=purchased_at)
    if exclude_pk is not None:
        earlier = earlier.exclude(pk=exclude_pk)
    return not earlier.exists()


def _member_context(
    purchase: Purchase, needs: RuleNeeds, standing: MemberStanding, has_earlier: Callable[[], bool | None] | None
) -> MemberContext:
    if purchase.member_id is None:
        return MemberContext()
    first = False
    if needs.first_purchase:
        earlier = has_earlier() if has_earlier is not None else None
        if earlier is None:  # the caller does not know: ask the database
            first = _first_purchase(purchase.member_id, purchase.purchased_at, purchase.pk)
        else:
            first = not earlier
    birth_date = None
    if needs.birth_date:
        if Purchase.member.is_cached(purchase):
            birth_date = purchase.member.birth_date
        else:
            birth_date = Member.objects.values_list("birth_date", flat=True).filter(pk=purchase.member_id).first()
    return MemberContext(
        is_first_purchase=first, birth_date=birth_date, tier_id=standing.tier_id, tier_code=standing.tier_code,
        tier_multiplier=standing.tier_multiplier, segment_ids=standing.segment_ids, stamps=standing.stamps,
    )


def _facts(
    *, store_id: int, store_tz: str, purchased_at: dt.datetime, amount: Decimal, lines: Iterable[LineLike]
) -> PurchaseFacts:
    return PurchaseFacts(
        store_id=store_id, store_tz=store_tz, purchased_at=purchased_at, amount=amount,
        lines=tuple(
            Line(sku=ln.sku, category=ln.category or "", quantity=Decimal(ln.quantity), amount=Decimal(ln.amount))
            for ln in lines
        ),
    )


def purchase_earning(
    *,
    purchase: Purchase,
    lines: Sequence[LineLike] = (),
    program: Program,
    has_earlier: Callable[[], bool | None] | None = None,
    standing: MemberStanding | None = None,
) -> Earning:
    """The points ``purchase`` earns, with their breakdown; writes nothing.

    Caps are not applied here (``loyalty.services.budgets`` does, in the
    earn's transaction). ``has_earlier`` tells whether the member has a
    purchase before this one (``None``: the caller does not know, and the
    database is asked); the bulk path knows it for the accounts it holds, so
    that a load asks nothing per purchase. It is called only when an active
    rule is for first purchases.
    ``standing`` is the member's tier, segments and stamps when the caller
    keeps them (the bulk path); otherwise they are read, as far as the rules
    and tiers need them.
    """
    active = active_rules()
    tiers = tier_table()
    if not (active.rules or _tiers_multiply(tiers)):
        points = base_points(purchase.amount, program.earn_rate)
        if points <= 0:
            return Earning(points=0)
        return Earning(points=points, breakdown=[{"rule": "base", "label": BASE_LABEL, "points": points}])
    needs = active.needs
    if purchase.member_id is None:
        standing = NO_STANDING
    elif standing is None:
        standing = member_standings(member_ids=[purchase.member_id], tiers=tiers, needs=needs).get(
            purchase.member_id, NO_STANDING
        )
    evaluation = evaluate(
        purchase=_facts(
            store_id=purchase.store_id, store_tz=_store_tz(purchase, active) if needs.store_time else "UTC",
            purchased_at=purchase.purchased_at, amount=purchase.amount, lines=lines,
        ),
        member=_member_context(purchase, needs, standing, has_earlier),
        program=ProgramFacts(earn_rate=program.earn_rate, timezone=program.timezone),
        rules=active.rules,
        base_label=BASE_LABEL,
    )
    return Earning(
        points=evaluation.points, breakdown=evaluation.breakdown, evaluation=evaluation, rules=active.by_id
    )


def earning_simulate(
    *,
    store: Store,
    purchased_at: dt.datetime,
    amount: Decimal,
    lines: Sequence[LineLike] = (),
    member: Member | None = None,
    tier: Tier | None = None,
    extra_rules: Sequence[RuleSnapshot] = (),
    program: Program | None = None,
    caps: bool = False,
) -> Evaluation:
    """What a basket would earn, per rule; a pure read that writes nothing.

    For the staff simulator and the till's preview (a preview is this with
    the member). Evaluates the active rules plus ``extra_rules``: snapshots
    of rules that are not live (draft, paused, or an edit not yet saved),
    built with ``loyalty.services.rules.rule_snapshot`` (an unsaved rule takes
    ``rule_id=SIMULATED_RULE_ID`` and its stores and tiers as arguments). An
    extra rule replaces the active rule with the same id.

    With ``member`` the member's real context counts (tier, segments, stamp
    cards, first purchase before ``purchased_at``, birthday); ``tier``, when
    given, replaces the member's tier (or gives a tier to an anonymous
    basket). Without a member, rules for first purchases, birthdays and
    segments do not apply and stamp cards start empty.

    Caps (per-member caps and budgets) are not applied by default: the result
    is what the rules give. ``caps=True`` applies what is left of each cap as
    the database says now, without locks: the earn itself may give less.
    """
    from loyalty.services.budgets import budgets_preview
    from loyalty.services.program import program_get

    program = program or program_get()
    replaced = {rule.id for rule in extra_rules}
    rules = tuple(rule for rule in active_rules().rules if rule.id not in replaced) + tuple(extra_rules)
    needs = rule_needs(rules)
    standing = NO_STANDING
    if member is not None:
        standing = member_standings(member_ids=[member.pk], needs=needs).get(member.pk, NO_STANDING)
    if tier is not None:
        standing = replace(standing, tier_id=tier.pk, tier_code=tier.code, tier_multiplier=tier.multiplier)
    first = member is not None and needs.first_purchase and _first_purchase(member.pk, purchased_at, None)
    context = MemberContext(
        is_first_purchase=first, birth_date=member.birth_date if member is not None else None,
        tier_id=standing.tier_id, tier_code=standing.tier_code, tier_multiplier=standing.tier_multiplier,
        segment_ids=standing.segment_ids, stamps=standing.stamps,
    )
    evaluation = evaluate(
        purchase=_facts(store_id=store.pk, store_tz=store.timezone, purchased_at=purchased_at,
                        amount=Decimal(amount), lines=lines),
        member=context,
        program=ProgramFacts(earn_rate=program.earn_rate, timezone=program.timezone),
        rules=rules,
        base_label=BASE_LABEL,
    )
    if caps:
        evaluation = budgets_preview(
            evaluation=evaluation, rules={rule.id: rule for rule in rules},
            member_id=member.pk if member is not None else None, purchased_at=purchased_at, program=program,
        )
    return evaluation

