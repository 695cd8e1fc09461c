"""One member's replay: the opening state at the window's start, then each event
under each program version (``replay_member``); see the package's docstring."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal

from analytics.whatif.events import ReplayContext
from analytics.whatif.version import Version
from loyalty.earning import BASE_LABEL, Earning
from loyalty.ledger.engine import AccountLedger
from loyalty.models import LedgerEntry, Purchase, TierChange
from loyalty.rules import Evaluation, Line, MemberContext, PurchaseFacts, evaluate, evaluation_capped, stamp_card_fill
from loyalty.services.budgets import TOTAL, capped_rules, member_scope, rule_caps
from loyalty.services.purchases import earning_credit, refund_apply, refund_points_kept
from loyalty.services.stamps import stamps_given, stamps_removed
from loyalty.services.tiers.review import tier_review_member
from loyalty.services.tiers.table import TierTable, tier_upgrade_window, tier_window_start

Kind = LedgerEntry.Kind
_TICK = dt.timedelta(microseconds=1)


@dataclass
class _TierState:
    member_id: int
    tier_id: int | None = None
    grace_until: dt.datetime | None = None
    cells: list = field(default_factory=list)  # [at, value] in time order (spend: per purchase)
    by_purchase: dict = field(default_factory=dict)

    def add(self, at: dt.datetime, value, purchase_id: int | None = None) -> None:
        cell = [at, value]
        self.cells.append(cell)
        if len(self.cells) > 1 and self.cells[-2][0] > at:
            self.cells.sort(key=lambda item: item[0])
        if purchase_id is not None:
            self.by_purchase[purchase_id] = cell

    def value(self, start: dt.datetime, end: dt.datetime) -> Decimal:
        return Decimal(sum((cell[1] for cell in self.cells if start < cell[0] <= end), 0))

    def copy(self) -> _TierState:
        cells = [list(cell) for cell in self.cells]
        by_cell = {id(old): new for old, new in zip(self.cells, cells, strict=True)}
        return _TierState(
            self.member_id, self.tier_id, self.grace_until, cells,
            {pk: by_cell[id(cell)] for pk, cell in self.by_purchase.items()},
        )


class _ReviewWrites:
    """What ``tier_review_member`` decides, applied to the replayed tier (the review's own rules)."""

    def __init__(self, state: _TierState) -> None:
        self.state = state

    def move(self, status, *, member_id, tier_id, reason, at, count, vip_until=None, clear_vip=False):
        self.state.tier_id, self.state.grace_until = tier_id, None
        return self.state

    def mark(self, status, *, reason, at, count) -> None:
        pass


@dataclass
class Totals:
    """One program version's sums over the members replayed so far (``replay_member`` adds to them)."""

    earned: int = 0
    redeemed: int = 0
    expired: int = 0
    outstanding: int = 0
    base: int = 0
    tier: int = 0
    rules: int = 0
    tier_mix: Counter = field(default_factory=Counter)
    budgets: dict = field(default_factory=dict)  # rule id -> points given in all


class _Track:
    """One member's account replayed under one version."""

    def __init__(self, ctx: ReplayContext, version: Version, totals: Totals, opening: _Opening, member) -> None:
        self.ctx, self.version, self.totals = ctx, version, totals
        self.member_id, self.birth_date = member.pk, member.birth_date
        lots = [replace(lot) for lot in opening.ledger.lots if lot.is_open]
        self.ledger = AccountLedger(
            rules=version.ledger, available=opening.ledger.available, pending=opening.ledger.pending,
            debt=opening.ledger.debt, next_due_at=opening.ledger.next_due_at, load_lots=lambda: lots,
        )
        self.lots = {lot.purchase_id: lot for lot in self.ledger.lots if lot.purchase_id is not None}
        self.tier = opening.tier.copy()
        self.stamps = {
            rule_id: given % version.stamp_rules[rule_id].stamps_needed
            for rule_id, given in opening.stamps.items() if rule_id in version.stamp_rules
        }
        self.usage: dict[tuple[int, str], int] = defaultdict(int)
        for rule_id, at, points in opening.rule_points:
            rule = version.by_id.get(rule_id)
            if rule is not None and rule.member_cap is not None:
                self.usage[rule_id, member_scope(rule, member_id=self.member_id, at=at, tz=version.facts.timezone)] \
                    += points
        self.earliest = opening.earliest
        self.purchases: dict[int, list] = {}  # pk -> [points, kept, refunded, stamps given]
        self.shortfall = 0  # points the replay's redemptions took less than the real ones
        self.standing = _tier_standing(version.tiers, self.tier.tier_id)

    def _lot_pk(self, draft) -> None:
        if draft is not None and draft.lot is not None and draft.lot.pk is None:
            draft.lot.pk = next(self.ctx.lot_ids)

    # -- events -----------------------------------------------------------

    def evaluation(self, row: tuple, lines: tuple[Line, ...], segments: frozenset[int]) -> Evaluation:
        _pk, _member, store_id, at, amount, _points = row
        version = self.version
        first = self.earliest is None or not self.earliest < at
        tier_id, tier_code, multiplier = self.standing
        context = MemberContext(
            is_first_purchase=first, birth_date=self.birth_date, tier_id=tier_id, tier_code=tier_code,
            tier_multiplier=multiplier, segment_ids=segments, stamps=self.stamps,
        )
        facts = PurchaseFacts(
            store_id=store_id, store_tz=self.ctx.store_tz.get(store_id, "UTC"), purchased_at=at, amount=amount,
            lines=lines,
        )
        evaluation = evaluate(purchase=facts, member=context, program=version.facts, rules=version.rules,
                              base_label=BASE_LABEL)
        return self._capped(evaluation, at)

    def _capped(self, evaluation: Evaluation, at: dt.datetime) -> Evaluation:
        capped = capped_rules(evaluation, self.version.by_id)
        if not capped:
            return evaluation
        tz = self.version.facts.timezone
        caps = {rule.id: rule_caps(rule, member_id=self.member_id, at=at, tz=tz) for rule in capped}

        def used(rule_id: int, scope: str) -> int:
            if scope == TOTAL:
                return self.totals.budgets.get(rule_id, 0)
            return self.usage[rule_id, scope]

        left = {rule_id: min(cap - used(rule_id, scope) for scope, cap in found) for rule_id, found in caps.items()}
        result = evaluation_capped(evaluation, left=left)
        for item in result.applied:
            if item.rule_id in caps and item.points > 0:
                for scope, _cap in caps[item.rule_id]:
                    if scope == TOTAL:
                        self.totals.budgets[item.rule_id] = self.totals.budgets.get(item.rule_id, 0) + item.points
                    else:
                        self.usage[item.rule_id, scope] += item.points
        return result

    def purchase(self, row: tuple, evaluation: Evaluation) -> int:
        pk, _member, _store, at, amount, _points = row
        given: dict[int, int] = {}
        for rule_id, (stamps, _cards) in evaluation.stamps.items():
            rule = self.version.by_id[rule_id]
            _filled, self.stamps[rule_id] = stamp_card_fill(
                current=self.stamps.get(rule_id, 0), given=stamps, needed=rule.stamps_needed
            )
            given[rule_id] = stamps
        for item in evaluation.applied:
            if item.rule_id == "base":
                self.totals.base += item.points
            elif item.rule_id == "tier":
                self.totals.tier += item.points
            else:
                self.totals.rules += item.points
        earning = Earning(points=evaluation.points, breakdown=evaluation.breakdown, evaluation=evaluation)
        draft = earning_credit(self.ledger, earning=earning, purchase_id=pk, purchased_at=at)
        self._lot_pk(draft)
        if draft is not None and draft.lot is not None:
            self.lots[pk] = draft.lot
        self.purchases[pk] = [evaluation.points, evaluation.points, Decimal(0), given]
        if self.earliest is None or at < self.earliest:
            self.earliest = at
        if self.ctx.tiering:
            if self.ctx.program.tier_metric == "points":
                if evaluation.points:
                    self.tier.add(at, evaluation.points)
            else:
                self.tier.add(at, amount, pk)
            self._upgrade(at)
        return evaluation.points

    def refund(self, row: tuple) -> None:
        _pk, purchase_id, _member, amount, at, purchase_amount, purchased_at, real_points, prior = row
        state = self.purchases.get(purchase_id)
        if state is None:  # bought before the window: the points it really earned
            kept = _kept(real_points, purchase_amount, prior)
            state = self.purchases[purchase_id] = [real_points, kept, prior, {}]
        points, kept, refunded_before, given = state
        purchase = Purchase(amount=purchase_amount, refunded_amount=refunded_before, points=points,
                            points_kept=kept, purchased_at=purchased_at)
        refunded, state[1], reversed_points = refund_apply(purchase=purchase, amount=amount, refunded_at=at)
        state[2] = refunded
        for rule_id, stamps in stamps_removed(
            given, amount=purchase_amount, refunded_before=refunded_before, refunded_after=refunded
        ).items():
            self.stamps[rule_id] = max(0, self.stamps.get(rule_id, 0) - stamps)
        if reversed_points:
            self.ledger.reverse(
                lot=self.lots.get(purchase_id), points=reversed_points, effective_at=at, idempotency_key="",
                purchase_id=purchase_id,
            )
        if self.ctx.tiering:
            if self.ctx.program.tier_metric == "points":
                if reversed_points:
                    self.tier.add(at, -reversed_points)
            elif (cell := self.tier.by_purchase.get(purchase_id)) is not None:
                cell[1] -= amount

    def entry(self, row: tuple) -> None:
        _member, kind, points, at, _purchase, pending_delta, _breakdown = row
        ledger = self.ledger
        if kind == Kind.REDEEM_CANCEL:  # what a redemption did not take is not given back
            kept_back = min(points, self.shortfall)
            self.shortfall -= kept_back
            points -= kept_back
        if points > 0:
            self._lot_pk(ledger.credit(kind=kind, points=points, effective_at=at, idempotency_key="",
                                       pending=pending_delta > 0))
            if kind == Kind.BONUS and self.ctx.tiering and self.ctx.program.tier_metric == "points":
                self.tier.add(at, points)
                self._upgrade(at)  # as ``bonus_grant`` does: a bonus that reaches a tier moves up at once
        elif points < 0:
            ledger.settle(at)
            taken = min(-points, ledger.available)
            if taken:
                ledger.debit(kind=kind, points=taken, effective_at=at, idempotency_key="")
            if kind == Kind.REDEEM:
                self.shortfall += -points - taken

    def tier_event(self, tier_id: int | None) -> None:
        self.tier.tier_id, self.tier.grace_until = tier_id, None
        self.standing = _tier_standing(self.version.tiers, tier_id)

    def review(self, at: dt.datetime) -> None:
        table = self.version.tiers
        value = self.tier.value(tier_window_start(as_of=at, program=self.ctx.program), at) \
            if table.qualifying else Decimal(0)
        tier_review_member(
            _ReviewWrites(self.tier), table, member_id=self.member_id,
            status=self.tier if self.tier.tier_id is not None else None, value=value, floor=None, now=at,
            grace_days=self.ctx.program.tier_grace_days,
        )
        self.standing = _tier_standing(table, self.tier.tier_id)

    def _upgrade(self, at: dt.datetime) -> None:
        table, state = self.version.tiers, self.tier
        current = table.get(state.tier_id)
        in_grace = state.grace_until is not None
        if not table.upgrade_possible(current=current, in_grace=in_grace):
            return
        start, end = tier_upgrade_window(at=at, program=self.ctx.program)
        target = table.upgrade_to(current=current, in_grace=in_grace, value=state.value(start, end))
        if target is None:
            return
        state.tier_id, state.grace_until = target.id, None
        self.standing = _tier_standing(table, target.id)

    def close(self, *, counted: bool) -> None:
        ctx, totals = self.ctx, self.totals
        self.ledger.settle(ctx.end_at - _TICK)
        for entry in self.ledger.entries:
            if not ctx.start_at <= entry.effective_at < ctx.end_at:
                continue
            if entry.kind in (Kind.EARN, Kind.BONUS, Kind.REVERSAL):
                totals.earned += entry.points
            elif entry.kind in (Kind.REDEEM, Kind.REDEEM_CANCEL):
                totals.redeemed -= entry.points
            elif entry.kind == Kind.EXPIRE:
                totals.expired -= entry.points
        totals.outstanding += self.ledger.available + self.ledger.pending
        tier = self.version.tiers.get(self.tier.tier_id)
        if counted and tier is not None:
            totals.tier_mix[tier.code] += 1


def _tier_standing(table: TierTable, tier_id: int | None) -> tuple[int | None, str, Decimal]:
    tier = table.get(tier_id)
    if tier is None:
        return None, "", Decimal(1)
    return tier.id, tier.code, tier.multiplier


def _kept(points: int, amount: Decimal, refunded: Decimal) -> int:
    return refund_points_kept(points=points, amount=amount, refunded=refunded) if refunded else points


# -- the opening state at the window's start ----------------------------------------


@dataclass
class _Opening:
    ledger: AccountLedger
    tier: _TierState
    stamps: dict[int, int] = field(default_factory=dict)  # stamp rule id -> stamps given before the window
    rule_points: list = field(default_factory=list)  # (rule id, at, points) of capped rules before the window
    earliest: dt.datetime | None = None


def _opening(ctx: ReplayContext, member_id: int, entries: list, tier_rows: list, earliest) -> _Opening:
    ledger = AccountLedger(rules=ctx.real_ledger, available=0, pending=0, debt=0, next_due_at=None, load_lots=list)
    state = _TierState(member_id)
    opening = _Opening(ledger=ledger, tier=state, earliest=earliest)
    lots = {}
    window_from = ctx.tier_window_from
    for _member, kind, points, at, purchase_id, pending_delta, breakdown in entries:
        if kind == Kind.REVERSAL:
            ledger.reverse(lot=lots.get(purchase_id), points=-points, effective_at=at, idempotency_key="",
                           purchase_id=purchase_id)
        elif points > 0:
            draft = ledger.credit(kind=kind, points=points, effective_at=at, idempotency_key="",
                                  pending=pending_delta > 0, purchase_id=purchase_id)
            draft.lot.pk = next(ctx.lot_ids)
            if purchase_id is not None:
                lots[purchase_id] = draft.lot
        elif points < 0:
            ledger.settle(at)
            taken = min(-points, ledger.available)
            if taken:
                ledger.debit(kind=kind, points=taken, effective_at=at, idempotency_key="")
        if kind in (Kind.EARN, Kind.BONUS, Kind.REVERSAL) and ctx.tiering and ctx.program.tier_metric == "points" \
                and window_from < at:
            state.add(at, points)
        if kind == Kind.EARN and breakdown:
            for rule_id, stamps in stamps_given(breakdown).items():
                opening.stamps[rule_id] = opening.stamps.get(rule_id, 0) + stamps
            for item in breakdown:
                if item.get("rule") in ctx.capped_ids and item.get("points"):
                    opening.rule_points.append((item["rule"], at, item["points"]))
    ledger.settle(ctx.start_at - _TICK)
    ledger.entries.clear()
    for _member, _from, to_tier, reason, at in tier_rows:
        if at >= ctx.start_at:
            break
        state.tier_id = to_tier
        state.grace_until = at + dt.timedelta(days=ctx.program.tier_grace_days) \
            if reason == TierChange.Reason.GRACE else None
    return opening


STAFF_TIER_REASONS = (TierChange.Reason.VIP, TierChange.Reason.VIP_EXPIRED, TierChange.Reason.STAFF)


def replay_member(
    ctx: ReplayContext, member, versions, totals, events: dict, segments: frozenset[int], *, counted: bool,
    counts: Counter, same_earning: bool,
) -> None:
    """Replay one member's window under each of ``versions`` (the current program, then the
    scenario's), adding to the matching ``totals`` and to ``counts``; see the package's docstring."""
    pk = member.pk
    opening = _opening(ctx, pk, events["before"].get(pk, []), events["tiers"].get(pk, []),
                       events["earliest"].get(pk))
    for _member, purchase_id, at, amount, prior in events["spend_before"].get(pk, []):
        opening.tier.add(at, amount - prior, purchase_id)
    tracks = [_Track(ctx, version, total, opening, member) for version, total in zip(versions, totals, strict=True)]
    timeline = sorted(
        [(row[3], 0, row[0], "purchase", row) for row in events["purchases"].get(pk, [])]
        + [(row[4], 1, row[0], "refund", row) for row in events["refunds"].get(pk, [])]
        + [(row[3], 2, index, "entry", row) for index, row in enumerate(events["entries"].get(pk, []))]
        + [(row[4], 3, index, "tier", row) for index, row in enumerate(events["tiers"].get(pk, []))
           if row[4] >= ctx.start_at and row[3] in STAFF_TIER_REASONS],
        key=lambda event: event[:3],
    )
    reviews = iter(ctx.reviews)
    review = next(reviews, None)
    for at, _order, _key, what, row in timeline:
        while review is not None and review < at:
            for track in tracks:
                track.review(review)
            review = next(reviews, None)
        if what == "purchase":
            lines = tuple(events["lines"].get(row[0], ()))
            first = tracks[0].evaluation(row, lines, segments)
            second = first if same_earning else tracks[1].evaluation(row, lines, segments)
            tracks[0].purchase(row, first)
            tracks[1].purchase(row, second)
            counts["purchases"] += 1
            counts["changed"] += first.points != second.points
        elif what == "refund":
            for track in tracks:
                track.refund(row)
            counts["refunds"] += 1
        elif what == "entry":
            for track in tracks:
                track.entry(row)
        else:
            for track in tracks:
                track.tier_event(row[2])
    while review is not None:
        for track in tracks:
            track.review(review)
        review = next(reviews, None)
    for track in tracks:
        track.close(counted=counted)
