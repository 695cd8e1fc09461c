"""What a replay reads: its context, and every event of a batch of members, grouped
by member in time order (each stream read with ``.iterator(chunk_size=CHUNK)``)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Min, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from analytics.whatif.version import Version
from loyalty.ledger.engine import LedgerRules
from loyalty.models import LedgerEntry, Program, Purchase, PurchaseLine, Refund, TierChange
from loyalty.rules import Line

Kind = LedgerEntry.Kind
CHUNK = 2000


@dataclass
class ReplayContext:
    """What every member's replay shares: the window, the program and its real ledger
    rules, the stores' zones, the instants the tier review really ran."""

    program: Program
    start_at: dt.datetime
    end_at: dt.datetime
    real_ledger: LedgerRules
    store_tz: dict[int, str]
    tiering: bool
    tier_window_from: dt.datetime
    capped_ids: frozenset[int]
    reviews: list[dt.datetime]
    lot_ids: Iterable[int] = field(default_factory=lambda: itertools.count(1))


def budgets_before(ctx: ReplayContext, versions: tuple[Version, ...]) -> dict[int, int]:
    """What each budgeted rule gave before the window, from the earn entries' breakdowns
    (a pass over them only when a rule has a total budget)."""
    budgeted = {rule.id for version in versions for rule in version.rules if rule.budget is not None}
    used: dict[int, int] = {}
    if not budgeted:
        return used
    rows = LedgerEntry.objects.filter(kind=Kind.EARN, effective_at__lt=ctx.start_at).values_list("breakdown", flat=True)
    for breakdown in rows.iterator(chunk_size=CHUNK):
        for item in breakdown or ():
            if item.get("rule") in budgeted:
                used[item["rule"]] = used.get(item["rule"], 0) + int(item.get("points") or 0)
    return used


def _grouped(rows: Iterable[tuple], index: int = 0) -> dict[int, list[tuple]]:
    grouped: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        grouped[row[index]].append(row)
    return grouped


ENTRY_ROW = ("account_id", "kind", "points", "effective_at", "purchase_id", "pending_delta", "breakdown")


def batch_events(ctx: ReplayContext, low: int, high: int, *, needs_lines: bool, needs_first: bool) -> dict:
    """Every event of the members ``low``..``high``, grouped by member, in time order."""
    start, end = ctx.start_at, ctx.end_at
    entries = LedgerEntry.objects.filter(account_id__gte=low, account_id__lte=high)
    before = entries.filter(effective_at__lt=start).exclude(kind__in=[Kind.RELEASE, Kind.EXPIRE])
    events: dict[str, Any] = {
        "before": _grouped(before.order_by("account_id", "effective_at", "pk").values_list(*ENTRY_ROW)
                           .iterator(chunk_size=CHUNK)),
        "entries": _grouped(
            entries.filter(effective_at__gte=start, effective_at__lt=end,
                           kind__in=[Kind.BONUS, Kind.REDEEM, Kind.REDEEM_CANCEL, Kind.ADJUST])
            .order_by("account_id", "effective_at", "pk").values_list(*ENTRY_ROW).iterator(chunk_size=CHUNK)
        ),
    }
    purchases = Purchase.objects.filter(member_id__gte=low, member_id__lte=high)
    events["purchases"] = _grouped(
        purchases.filter(purchased_at__gte=start, purchased_at__lt=end).order_by("member_id", "purchased_at", "pk")
        .values_list("pk", "member_id", "store_id", "purchased_at", "amount", "points").iterator(chunk_size=CHUNK),
        index=1,
    )
    lines: dict[int, list[Line]] = defaultdict(list)
    if needs_lines:
        rows = PurchaseLine.objects.filter(
            purchase__member_id__gte=low, purchase__member_id__lte=high,
            purchase__purchased_at__gte=start, purchase__purchased_at__lt=end,
        ).order_by("purchase_id", "pk").values_list("purchase_id", "sku", "category", "quantity", "amount")
        for purchase_id, sku, category, quantity, amount in rows.iterator(chunk_size=CHUNK):
            lines[purchase_id].append(Line(sku=sku, category=category or "", quantity=Decimal(quantity),
                                           amount=Decimal(amount)))
    events["lines"] = lines
    prior = Refund.objects.filter(purchase=OuterRef("purchase_id"), refunded_at__lt=start).order_by().values(
        "purchase_id").annotate(total=Sum("amount")).values("total")
    events["refunds"] = _grouped(
        Refund.objects.filter(purchase__member_id__gte=low, purchase__member_id__lte=high,
                              refunded_at__gte=start, refunded_at__lt=end)
        .annotate(prior=Coalesce(Subquery(prior), Decimal(0)))
        .order_by("purchase__member_id", "refunded_at", "pk")
        .values_list("pk", "purchase_id", "purchase__member_id", "amount", "refunded_at", "purchase__amount",
                     "purchase__purchased_at", "purchase__points", "prior").iterator(chunk_size=CHUNK),
        index=2,
    )
    events["tiers"] = _grouped(
        TierChange.objects.filter(member_id__gte=low, member_id__lte=high, at__lt=end)
        .order_by("member_id", "at", "pk").values_list("member_id", "from_tier_id", "to_tier_id", "reason", "at")
        .iterator(chunk_size=CHUNK)
    )
    events["spend_before"] = {}
    if ctx.tiering and ctx.program.tier_metric != "points":
        refunded = Refund.objects.filter(purchase=OuterRef("pk"), refunded_at__lt=start).order_by().values(
            "purchase_id").annotate(total=Sum("amount")).values("total")
        events["spend_before"] = _grouped(
            purchases.filter(purchased_at__gt=ctx.tier_window_from, purchased_at__lt=start)
            .annotate(prior=Coalesce(Subquery(refunded), Decimal(0)))
            .order_by("member_id", "purchased_at", "pk")
            .values_list("member_id", "pk", "purchased_at", "amount", "prior").iterator(chunk_size=CHUNK)
        )
    events["earliest"] = {}
    if needs_first:
        events["earliest"] = dict(
            purchases.filter(purchased_at__lt=start).order_by().values("member_id").annotate(first=Min("purchased_at"))
            .values_list("member_id", "first")
        )
    return events

