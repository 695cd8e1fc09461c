"""How many points a purchase earns: the seam where earning rules plug in.

``purchase_earning`` is a pure evaluation: it reads the purchase it is given
and the program, writes nothing and returns the points with a breakdown per
rule. The ledger stores the breakdown on the earn entry. Today only the base
rate applies; the rules engine of a later issue adds its rules here, for live
purchases, imports, previews and simulations alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from loyalty.models import Program, Purchase, PurchaseLine


@dataclass(frozen=True)
class Earning:
    points: int
    breakdown: list[dict] = field(default_factory=list)


def base_points(amount: Decimal, earn_rate: Decimal) -> int:
    """Points for ``amount`` at ``earn_rate`` points per 1.00, rounded down."""
    return int((amount * earn_rate).to_integral_value(rounding=ROUND_DOWN))


def purchase_earning(
    *, purchase: Purchase, lines: Sequence[PurchaseLine] = (), program: Program
) -> Earning:
    points = base_points(purchase.amount, program.earn_rate)
    if points <= 0:
        return Earning(points=0)
    return Earning(
        points=points,
        breakdown=[{"rule": "base", "label": "Base rate", "points": points}],
    )
