"""A realistic set of active earning rules for the benchmarks (``bench_rules``, ``bench_earn --rules N``).

Promotions as a shop runs them: every kind, days of the week and happy hours
in the store's time zone, store lists, categories and SKUs, minimum spends,
tiers, priorities, exclusive rules and best-of-group groups. Some apply to a
given purchase, most do not: the engine still looks at each. None has a cap or
is a stamp card (those cost queries of their own and are measured separately,
see ``extras_create``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

KINDS = ("multiplier", "per_unit", "fixed", "percent")
CATEGORIES = ("coffee", "tea", "cake", "beans", "mugs")


def rules_create(count: int, *, store_ids: list[int], tier_ids: list[int] = ()) -> list[int]:
    """Save ``count`` active rules through ``rule_save``; returns their ids."""
    from loyalty.models import EarnRule, Store, Tier
    from loyalty.services.rules import rule_save

    stores = list(Store.objects.filter(pk__in=store_ids).order_by("pk"))
    tiers = list(Tier.objects.filter(pk__in=list(tier_ids)).order_by("pk"))
    ids = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        value = {"multiplier": Decimal("2"), "per_unit": Decimal("5"), "fixed": Decimal("10"),
                 "percent": Decimal("5")}[kind]
        rule = EarnRule(
            name=f"Promo {n}", kind=kind, value=value, priority=n % 5,
            weekdays=sorted({n % 7, (n + 3) % 7}) if n % 3 == 0 else [],
            hours_start=dt.time(7 + n % 4) if n % 4 == 1 else None,
            hours_end=dt.time(15 + n % 5) if n % 4 == 1 else None,
            categories=[CATEGORIES[n % len(CATEGORIES)]] if kind == "per_unit" or n % 5 == 2 else [],
            skus=[f"SKU-{n}"] if n % 11 == 4 else [],
            min_spend=Decimal(10 * (n % 6)) if n % 2 else None,
            mode="exclusive" if n % 17 == 16 else ("best_of_group" if n % 6 == 5 else "stack"),
            group=f"group-{n % 2}" if n % 6 == 5 else "",
        )
        chosen_stores = [store for index, store in enumerate(stores) if (index + n) % 3 == 0] if n % 4 == 2 else None
        chosen_tiers = tiers[n % len(tiers):][:1] if tiers and n % 9 == 7 else None
        ids.append(rule_save(rule=rule, stores=chosen_stores, tiers=chosen_tiers).pk)
    return ids


def extras_create() -> None:
    """What the earn pays extra for: a tier that multiplies, a visit stamp card and a
    capped rule (a member cap per day and a large total budget)."""
    from loyalty.models import EarnRule, Tier
    from loyalty.services.rules import rule_save

    Tier.objects.get_or_create(code="bench-gold", defaults={
        "name": "Gold", "rank": 90, "threshold": Decimal("1000000"), "multiplier": Decimal("1.5"),
    })
    rule_save(rule=EarnRule(name="Coffee card", kind="stamps", value=Decimal("100"), stamps_needed=10))
    rule_save(rule=EarnRule(name="Capped bonus", kind="fixed", value=Decimal("5"), member_cap=1_000_000,
                            member_cap_period="day", budget=2_000_000_000))
    from loyalty.services.tiers import tiers_cache_clear

    tiers_cache_clear()
