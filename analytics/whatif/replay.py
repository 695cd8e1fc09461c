"""``whatif_replay``: the replay of the window, batch by batch, and its totals."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Mapping
from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone

from analytics.kpis import kpi_scope, ledger_flows, money, ratio
from analytics.whatif.events import ReplayContext, batch_events, budgets_before
from analytics.whatif.member import Totals, replay_member
from analytics.whatif.result import Figures, WhatIfResult
from analytics.whatif.scenario import Scenario
from analytics.whatif.version import Version, version_changed, version_current
from loyalty.ledger.storage import ledger_rules
from loyalty.models import Program, Store, TierChange
from loyalty.months import months_shift
from loyalty.segments import members_segments
from loyalty.services.program import program_get
from loyalty.services.tiers.review import next_review_at
from loyalty.services.tiers.table import tier_window_start
from members.models import Member

WINDOW_MONTHS = 12
BATCH_MEMBERS = 500
# A recorded review change this long after a scheduled review is that review, run late.
REVIEW_RUN_LATE = dt.timedelta(days=1)


def window_bounds(*, end: dt.date | None, program: Program) -> tuple[dt.date, dt.date]:
    """``(start, end)`` dates of the replayed window: the 12 months before ``end``
    (default: today in the program's zone)."""
    if end is None:
        end = timezone.localdate(timezone=program.tz)
    start = months_shift(dt.datetime.combine(end, dt.time.min), -WINDOW_MONTHS).date()
    return start, end


def review_instants(*, start_at: dt.datetime, end_at: dt.datetime, program: Program) -> list[dt.datetime]:
    """When the periodic tier review ran in ``[start_at, end_at)``: the instants of the
    ledger's grace and review changes, and the beat schedule's (``next_review_at``) for each
    month whose review left no such trace (it ran and moved nobody down; a changed
    program may move members there)."""
    recorded = sorted(set(
        TierChange.objects.filter(
            reason__in=[TierChange.Reason.GRACE, TierChange.Reason.REVIEW], at__gte=start_at, at__lt=end_at,
        ).values_list("at", flat=True).distinct()
    ))
    instants = set(recorded)
    moment = next_review_at(now=start_at - dt.timedelta(microseconds=1), program=program)
    while moment < end_at:
        if not any(moment <= at < moment + REVIEW_RUN_LATE for at in recorded):
            instants.add(moment)
        moment = months_shift(moment, 1)
    return sorted(instants)


def whatif_replay(
    scenario: Scenario, *, end: dt.date | None = None, batch_members: int = BATCH_MEMBERS
) -> WhatIfResult:
    """Replay the 12 months before ``end`` with the current program and with ``scenario``.

    Reads only, in a transaction that is rolled back whatever happens (the
    engine runs on in-memory objects and never writes; the rollback is a
    guarantee, not a need). Memory holds one batch of members' events.
    Raises ``ValidationError`` when the scenario's rule no longer validates.
    """
    started = time.monotonic()
    with transaction.atomic():
        try:
            return _replay(scenario, end=end, batch_members=batch_members, started=started)
        finally:
            transaction.set_rollback(True)


def _replay(scenario: Scenario, *, end, batch_members: int, started: float) -> WhatIfResult:
    program = program_get()
    start, end = window_bounds(end=end, program=program)
    scope = kpi_scope(start=start, end=end, program=program)
    current = version_current(program)
    changed = version_changed(current, scenario)
    versions = (current, changed)
    tiering = any(version.tiers.qualifying for version in versions)
    capped_ids = frozenset(rule.id for version in versions for rule in version.rules if rule.is_capped)
    ctx = ReplayContext(
        program=program, start_at=scope.start_at, end_at=scope.end_at, real_ledger=ledger_rules(program),
        store_tz=dict(Store.objects.values_list("pk", "timezone")), tiering=tiering,
        tier_window_from=tier_window_start(as_of=scope.start_at, program=program), capped_ids=capped_ids,
        reviews=review_instants(start_at=scope.start_at, end_at=scope.end_at, program=program),
    )
    totals = (Totals(), Totals())
    budgets = budgets_before(ctx, versions)
    for total in totals:
        total.budgets = dict(budgets)
    needs_lines = any(version.needs_lines for version in versions)
    segment_ids = frozenset().union(*(version.needs.segment_ids for version in versions))
    needs_first = any(version.needs.first_purchase for version in versions)
    counts = Counter()
    real_mix: Counter = Counter()
    members_total = 0
    last = 0
    while True:
        batch = list(
            Member.objects.filter(pk__gt=last).order_by("pk")
            .values_list("pk", "birth_date", "enrolled_at", "status")[:batch_members]
        )
        if not batch:
            break
        last = batch[-1][0]
        low, high = batch[0][0], last
        events = batch_events(ctx, low, high, needs_lines=needs_lines, needs_first=needs_first)
        segments = members_segments([row[0] for row in batch], segment_ids) if segment_ids else {}
        for pk, birth_date, enrolled_at, status in batch:
            counted = enrolled_at < ctx.end_at and status != Member.Status.DELETED
            members_total += counted
            member = SimpleNamespace(pk=pk, birth_date=birth_date)
            tier_rows = events["tiers"].get(pk, [])
            real = next((row[2] for row in reversed(tier_rows) if row[4] < ctx.end_at), None)
            if counted and real is not None:
                real_mix[real] += 1
            replay_member(
                ctx, member, versions, totals, events, segments.get(pk, frozenset()), counted=counted,
                counts=counts, same_earning=not scenario.changes_earning,
            )
    codes = {tier.id: tier.code for tier in current.tiers.tiers}
    figures = [_figures(total, version, members_total) for total, version in zip(totals, versions, strict=True)]
    real = ledger_flows(scope)  # the KPIs' own definitions
    ledger = Figures(
        points_earned=real["points_earned"], points_redeemed=real["points_redeemed"],
        points_expired=real["points_expired"], points_outstanding=real["outstanding"],
        liability=money(real["outstanding"] * program.point_value),
        breakage_rate=ratio(real["points_expired"], real["points_earned"]),
        tier_mix=_mix({codes.get(tier_id, str(tier_id)): n for tier_id, n in real_mix.items()}, members_total),
    )
    return WhatIfResult(
        start=start, end=end, currency=program.currency, actual=figures[0], scenario=figures[1], ledger=ledger,
        members=members_total, purchases=counts["purchases"], refunds=counts["refunds"],
        purchases_changed=counts["changed"], seconds=time.monotonic() - started,
    )


def _mix(mix: Mapping[str, int], members_total: int) -> dict[str, int]:
    result = dict(sorted(mix.items()))
    result[""] = members_total - sum(mix.values())
    return result


def _figures(total: Totals, version: Version, members_total: int) -> Figures:
    return Figures(
        points_earned=total.earned, points_redeemed=total.redeemed, points_expired=total.expired,
        points_outstanding=total.outstanding,
        liability=money(total.outstanding * version.point_value),
        breakage_rate=ratio(total.expired, total.earned),
        tier_mix=_mix(total.tier_mix, members_total), points_base=total.base, points_tier=total.tier,
        points_rules=total.rules,
    )
