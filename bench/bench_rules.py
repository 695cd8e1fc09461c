"""The earning engine with 50 active rules: one purchase evaluated, median and 95th percentile.

* ``evaluate``: the pure engine (``loyalty.rules.evaluate``) on one purchase
  with three lines against the 50 rules of ``bench/rules_mix.py``;
* ``purchase_earning`` with the caches warm: what every earn pays before the
  ledger write (the rules and tiers come from process memory; no query);
* ``purchase_earning`` with a tier that multiplies and a stamp card also
  active (the member's tier and card are read: two queries);
* ``purchase_record`` in one process, the whole live earn (lock, caps, the
  one-statement write, stamp cards, the tier check, commit): with no rules and
  no tiers, with the 50 rules, and with the 50 rules plus a qualifying tier
  that multiplies (so every earn also checks for an upgrade), a stamp card and
  a capped rule.

``BENCH_RULES`` (``python -m bench rules --rules N``) changes the number of rules.
"""

from __future__ import annotations

import os
import statistics
import time
from decimal import Decimal

QUICK = os.environ.get("BENCH_QUICK") == "1"
RULES = int(os.environ.get("BENCH_RULES") or "0") or 50
EVALUATIONS = 500 if QUICK else 5000
EARNS = 200 if QUICK else 2000
STORES = 16
MEMBERS = 200  # earns go round them: a member's history stays the size of a real one


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _timed(call, count: int) -> list[float]:
    """Microseconds of each of ``count`` calls (after a warm-up of a tenth)."""
    for _ in range(max(1, count // 10)):
        call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e6)
    return times


def _rows(name: str, times: list[float], detail: str = "") -> list[dict]:
    median, p95 = statistics.median(times), _percentile(times, 0.95)
    return [
        {"benchmark": f"{name}, median", "value": round(median, 1), "unit": "µs", "detail": detail,
         "samples": len(times)},
        {"benchmark": f"{name}, p95", "value": round(p95, 1), "unit": "µs", "detail": detail,
         "samples": len(times)},
    ]


def _setup():
    from loyalty.models import PointsAccount, Program, Store
    from loyalty.services.program import program_save, store_save
    from members.models import Member

    program_save(program=Program(
        name="Bench", currency="PLN", country="PL", timezone="Europe/Warsaw", earn_rate=Decimal("1"),
        point_value=Decimal("0.01"), return_window_days=14, expiry_months=12, allow_debt=True,
    ))
    stores = [store_save(store=Store(code=f"R{n}", name=f"Store {n}", timezone="Europe/Warsaw"))
              for n in range(STORES)]
    members = Member.objects.bulk_create([
        Member(card_number=f"27{n:011d}", email=f"rules{n}@example.com", first_name="R", last_name=str(n))
        for n in range(4 * MEMBERS)
    ])
    PointsAccount.objects.bulk_create([PointsAccount(member=member) for member in members])
    return stores, members


def _earns(tag: str, store, members, count: int) -> list[float]:
    from django.utils import timezone

    from loyalty.models import Source
    from loyalty.services.purchases import LineInput, purchase_record

    lines = [LineInput(sku="LATTE", category="coffee", quantity=Decimal("2"), amount=Decimal("18.00")),
             LineInput(sku="CAKE", category="cake", amount=Decimal("14.50"))]
    counter = iter(range(10**9))

    def earn():
        n = next(counter)
        purchase_record(external_id=f"{tag}-{n}", store=store, member=members[n % len(members)],
                        purchased_at=timezone.now(), amount=Decimal("32.50"), lines=lines, source=Source.API)

    return _timed(earn, count)


def main() -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench.rules_mix import extras_create, rules_create
    from loyalty.earning import purchase_earning
    from loyalty.models import MemberTier, Purchase, PurchaseLine, Tier
    from loyalty.rules import Line, MemberContext, ProgramFacts, PurchaseFacts, evaluate
    from loyalty.services.program import program_get
    from loyalty.services.rules import active_rules

    stores, members = _setup()
    rows: list[dict] = []
    # The live earn before any rule or tier: the baseline.
    baseline = _earns("none", stores[0], members[:MEMBERS], EARNS)
    rows += _rows("purchase_record, no rules, no tiers (one process)", baseline)

    rules_create(RULES, store_ids=[store.pk for store in stores])
    active = active_rules()
    assert len(active.rules) == RULES
    program = program_get()
    now = timezone.now()
    facts = PurchaseFacts(
        store_id=stores[0].pk, store_tz="Europe/Warsaw", purchased_at=now, amount=Decimal("32.50"),
        lines=(Line(sku="LATTE", category="coffee", quantity=Decimal("2"), amount=Decimal("18.00")),
               Line(sku="CAKE", category="cake", quantity=Decimal("1"), amount=Decimal("14.50"))),
    )
    program_facts = ProgramFacts(earn_rate=program.earn_rate, timezone=program.timezone)
    member_context = MemberContext()
    result = evaluate(purchase=facts, member=member_context, program=program_facts, rules=active.rules)
    applied = len(result.applied) - 1
    rows += _rows(
        f"evaluate, one purchase against {RULES} rules",
        _timed(lambda: evaluate(purchase=facts, member=member_context, program=program_facts, rules=active.rules),
               EVALUATIONS),
        f"{applied} of {RULES} rules apply",
    )

    purchase = Purchase(store=stores[0], member=members[2 * MEMBERS], purchased_at=now, amount=Decimal("32.50"))
    lines = [PurchaseLine(sku="LATTE", category="coffee", quantity=Decimal("2"), amount=Decimal("18.00")),
             PurchaseLine(sku="CAKE", category="cake", quantity=Decimal("1"), amount=Decimal("14.50"))]
    purchase_earning(purchase=purchase, lines=lines, program=program)
    with CaptureQueriesContext(connection) as queries:
        purchase_earning(purchase=purchase, lines=lines, program=program)
    rows += _rows(
        f"purchase_earning, {RULES} rules, caches warm",
        _timed(lambda: purchase_earning(purchase=purchase, lines=lines, program=program), EVALUATIONS),
        f"{len(queries)} queries",
    )
    with_rules = _earns("rules", stores[0], members[MEMBERS:2 * MEMBERS], EARNS)
    rows += _rows(f"purchase_record, {RULES} rules (one process)", with_rules)

    extras_create()
    gold = Tier.objects.get(code="bench-gold")
    MemberTier.objects.bulk_create([MemberTier(member=member, tier=gold) for member in members[3 * MEMBERS:]])
    purchase.member = members[3 * MEMBERS]
    purchase_earning(purchase=purchase, lines=lines, program=program)
    with CaptureQueriesContext(connection) as queries:
        purchase_earning(purchase=purchase, lines=lines, program=program)
    rows += _rows(
        f"purchase_earning, {RULES} rules + a tier that multiplies + a stamp card",
        _timed(lambda: purchase_earning(purchase=purchase, lines=lines, program=program), EVALUATIONS),
        f"{len(queries)} queries (tier, card)",
    )
    rows += _rows(
        f"purchase_record, {RULES} rules + tier (multiplier, upgrade check), stamp card, capped rule (one process)",
        _earns("extras", stores[0], members[3 * MEMBERS:], EARNS),
    )
    return rows
