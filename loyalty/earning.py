"""How many points a purchase earns: the seam where earning rules plug in.

``purchase_earning`` is a pure evaluation: it reads the purchase it is given,
the program and the active earning rules (cached in process memory, see
``loyalty.services.rules``), writes nothing and returns the points with a
breakdown per rule: the base rate first (``"rule": "base"``), then each rule
that applied (``loyalty.rules`` defines the semantics). The ledger stores the
breakdown on the earn entry. Live purchases and the bulk import both call it.

With no active rules it costs what the base rate alone costs: no query. The
member's first purchase and birth date are read only when an active rule
looks at them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from loyalty.models import Program, Purchase, PurchaseLine, Store
from loyalty.rules import Line, MemberContext, ProgramFacts, PurchaseFacts, evaluate
from loyalty.services.rules import ActiveRules, active_rules
from members.models import Member


@dataclass(frozen=True)
class Earning:
    points: int
    breakdown: list[dict] = field(default_factory=list)


def base_points(amount: Decimal, earn_rate: Decimal) -> int:
    """Points for ``amount`` at ``earn_rate`` points per 1.00, rounded down."""
    return int((amount * earn_rate).to_integral_value(rounding=ROUND_DOWN))


def _store_tz(purchase: Purchase, active: ActiveRules) -> str:
    if Purchase.store.is_cached(purchase):
        return purchase.store.timezone
    tz = active.store_timezones.get(purchase.store_id)
    if tz is None:  # a store created after the rules were loaded
        tz = Store.objects.values_list("timezone", flat=True).get(pk=purchase.store_id)
    return tz


def _member_context(
    purchase: Purchase, active: ActiveRules, earlier_unsaved: Callable[[], bool] | None
) -> MemberContext:
    if purchase.member_id is None:
        return MemberContext()
    first = False
    if active.needs_first_purchase and not (earlier_unsaved is not None and earlier_unsaved()):
        earlier = Purchase.objects.filter(member_id=purchase.member_id, purchased_at__lt=purchase.purchased_at)
        if purchase.pk is not None:
            earlier = earlier.exclude(pk=purchase.pk)
        first = not earlier.exists()
    birth_date = None
    if active.needs_birth_date:
        if Purchase.member.is_cached(purchase):
            birth_date = purchase.member.birth_date
        else:
            birth_date = Member.objects.values_list("birth_date", flat=True).filter(pk=purchase.member_id).first()
    return MemberContext(is_first_purchase=first, birth_date=birth_date)


def purchase_earning(
    *,
    purchase: Purchase,
    lines: Sequence[PurchaseLine] = (),
    program: Program,
    earlier_unsaved: Callable[[], bool] | None = None,
) -> Earning:
    """The points ``purchase`` earns, with their breakdown; writes nothing.

    ``earlier_unsaved`` tells whether the member has an earlier purchase the
    database does not hold yet (the bulk path's queued rows); it is called
    only when an active rule is for first purchases.
    """
    active = active_rules()
    if not active.rules:
        points = base_points(purchase.amount, program.earn_rate)
        if points <= 0:
            return Earning(points=0)
        return Earning(
            points=points,
            breakdown=[{"rule": "base", "label": "Base rate", "points": points}],
        )
    needs_tz = any(rule.needs_store_time for rule in active.rules)
    facts = PurchaseFacts(
        store_id=purchase.store_id,
        store_tz=_store_tz(purchase, active) if needs_tz else "UTC",
        purchased_at=purchase.purchased_at,
        amount=purchase.amount,
        lines=tuple(Line(sku=ln.sku, category=ln.category, quantity=ln.quantity, amount=ln.amount) for ln in lines),
    )
    evaluation = evaluate(
        purchase=facts,
        member=_member_context(purchase, active, earlier_unsaved),
        program=ProgramFacts(earn_rate=program.earn_rate, timezone=program.timezone),
        rules=active.rules,
        base_label="Base rate",
    )
    return Earning(points=evaluation.points, breakdown=evaluation.breakdown)
