"""The rules of the points ledger, in memory and free of any database access.

``AccountLedger`` holds one member's balances and open lots, applies one
business operation at a time and records what it did as entry drafts and lot
changes. The live services (one account, row-locked) and the bulk paths
(imports, demo data, the periodic jobs: many accounts per transaction) both
run every rule through this class and differ only in how they load and save,
so a history loaded in bulk yields the same ledger as live use.

The rules (the README explains them to staff):

* every operation first settles what fell due before its effective time:
  pending lots are released and available lots expire, each dated when it
  fell due, in time order;
* points that become available first repay a debt;
* redemptions and negative adjustments take from the oldest available lots
  and never overdraw;
* a refund reverses points from the refunded purchase's own lot first (while
  pending, or what is left of it once available), then from the other
  available lots, oldest first; what is still missing becomes a debt when the
  program allows debts, and is forgiven otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from loyalty.exceptions import InsufficientPoints
from loyalty.months import months_shift

PENDING = "pending"
AVAILABLE = "available"
EXPIRED = "expired"
VOIDED = "voided"


@dataclass(frozen=True)
class LedgerRules:
    """The program settings the ledger needs, detached from the ORM."""

    return_window_days: int
    expiry_months: int | None
    allow_debt: bool
    timezone: ZoneInfo

    def available_at(self, earned_at: dt.datetime) -> dt.datetime:
        return earned_at + dt.timedelta(days=self.return_window_days)

    def expires_at(self, earned_at: dt.datetime) -> dt.datetime | None:
        """``expiry_months`` calendar months after ``earned_at``, in the program's zone.

        Never before the lot becomes available, so a lot is always released
        before it can expire.
        """
        if self.expiry_months is None:
            return None
        local = earned_at.astimezone(self.timezone)
        expiry = months_shift(local, self.expiry_months).astimezone(dt.UTC)
        return max(expiry, self.available_at(earned_at))


@dataclass(eq=False)
class Lot:
    points: int
    remaining: int
    status: str
    earned_at: dt.datetime
    available_at: dt.datetime
    expires_at: dt.datetime | None
    purchase_id: int | None = None
    pk: int | None = None
    changed: bool = False

    @property
    def is_open(self) -> bool:
        return self.status == PENDING or (self.status == AVAILABLE and self.remaining > 0)

    @property
    def next_due_at(self) -> dt.datetime | None:
        if self.status == PENDING:
            return self.available_at
        if self.status == AVAILABLE and self.remaining > 0:
            return self.expires_at
        return None

    def age_key(self) -> tuple:
        return (self.earned_at, self.pk or 0, id(self))


@dataclass(eq=False)
class EntryDraft:
    kind: str
    points: int
    effective_at: dt.datetime
    available_delta: int = 0
    pending_delta: int = 0
    debt_delta: int = 0
    idempotency_key: str | None = None  # None: "<kind>:<lot pk>", set on save
    lot: Lot | None = None
    purchase_id: int | None = None
    refund_id: int | None = None
    breakdown: list = field(default_factory=list)
    reason: str = ""
    actor_id: int | None = None


class AccountLedger:
    """One member's points account while an operation runs.

    ``load_lots`` returns the account's open lots (pending, or available with
    points left); it is called at most once, and only by operations that need
    the lots, so that an earn touches no other lot.
    """

    def __init__(
        self,
        *,
        rules: LedgerRules,
        available: int,
        pending: int,
        debt: int,
        next_due_at: dt.datetime | None,
        load_lots: Callable[[], Iterable[Lot]],
    ) -> None:
        self.rules = rules
        self.available = available
        self.pending = pending
        self.debt = debt
        self.next_due_at = next_due_at
        self._load_lots = load_lots
        self._lots: list[Lot] | None = None
        self.new_lots: list[Lot] = []
        self.entries: list[EntryDraft] = []

    # -- state ---------------------------------------------------------------

    @property
    def lots(self) -> list[Lot]:
        if self._lots is None:
            self._lots = list(self._load_lots()) + self.new_lots
        return self._lots

    @property
    def changed_lots(self) -> list[Lot]:
        return [lot for lot in (self._lots or ()) if lot.changed and lot.pk is not None]

    def lots_in_memory(self) -> list[Lot]:
        """The lots loaded or created so far, without loading any."""
        return self._lots if self._lots is not None else list(self.new_lots)

    def _add_lot(self, lot: Lot) -> None:
        self.new_lots.append(lot)
        if self._lots is not None:
            self._lots.append(lot)
        due = lot.next_due_at
        if due is not None and (self.next_due_at is None or due < self.next_due_at):
            self.next_due_at = due

    def _recompute_next_due(self) -> None:
        dues = [d for d in (lot.next_due_at for lot in self.lots) if d is not None]
        self.next_due_at = min(dues, default=None)

    def _record(self, entry: EntryDraft) -> EntryDraft:
        self.available += entry.available_delta
        self.pending += entry.pending_delta
        self.debt += entry.debt_delta
        assert self.available >= 0 and self.pending >= 0 and self.debt >= 0, entry
        self.entries.append(entry)
        return entry

    def _repay_debt(self, points: int) -> int:
        """How much of ``points`` becoming available goes to the debt."""
        return min(self.debt, points)

    # -- time-driven ---------------------------------------------------------

    def settle(
        self, as_of: dt.datetime, *, release: bool = True, expire: bool = True
    ) -> list[EntryDraft]:
        """Release and expire every lot that fell due at or before ``as_of``.

        Each entry is dated when its lot fell due. Releases and expiries of
        different lots commute (a release only repays debt from its own lot),
        so running only one kind is safe: the periodic jobs do.
        """
        if self.next_due_at is None or self.next_due_at > as_of:
            return []
        start = len(self.entries)
        events: list[tuple[dt.datetime, int, tuple, Lot]] = []
        for lot in self.lots:
            if release and lot.status == PENDING and lot.available_at <= as_of:
                events.append((lot.available_at, 0, lot.age_key(), lot))
            if expire and lot.is_open and lot.expires_at is not None and lot.expires_at <= as_of:
                events.append((lot.expires_at, 1, lot.age_key(), lot))
        events.sort(key=lambda event: event[:3])
        for due_at, order, _age, lot in events:
            if order == 0:
                self._release(lot, due_at)
            elif lot.status == AVAILABLE and lot.remaining > 0:
                self._expire(lot, due_at)
        self._recompute_next_due()
        return self.entries[start:]

    def _release(self, lot: Lot, at: dt.datetime) -> None:
        points = lot.remaining
        repaid = self._repay_debt(points)
        lot.status = AVAILABLE
        lot.remaining = points - repaid
        lot.changed = True
        self._record(
            EntryDraft(
                kind="release", points=points, effective_at=at, lot=lot,
                purchase_id=lot.purchase_id, pending_delta=-points,
                available_delta=points - repaid, debt_delta=-repaid,
            )
        )

    def _expire(self, lot: Lot, at: dt.datetime) -> None:
        points = lot.remaining
        lot.status = EXPIRED
        lot.remaining = 0
        lot.changed = True
        self._record(
            EntryDraft(
                kind="expire", points=-points, effective_at=at, lot=lot,
                purchase_id=lot.purchase_id, available_delta=-points,
            )
        )

    # -- operations ----------------------------------------------------------

    def credit(
        self,
        *,
        kind: str,
        points: int,
        effective_at: dt.datetime,
        idempotency_key: str,
        pending: bool = False,
        purchase_id: int | None = None,
        breakdown: list | None = None,
        reason: str = "",
        actor_id: int | None = None,
    ) -> EntryDraft:
        """Add a new lot of ``points`` earned at ``effective_at``.

        ``pending`` lots wait out the return window; others are available at
        once and repay a debt first.
        """
        assert points > 0
        self.settle(effective_at)
        available_at = self.rules.available_at(effective_at) if pending else effective_at
        is_pending = pending and available_at > effective_at
        repaid = 0 if is_pending else self._repay_debt(points)
        lot = Lot(
            points=points,
            remaining=points - repaid,
            status=PENDING if is_pending else AVAILABLE,
            earned_at=effective_at,
            available_at=available_at,
            expires_at=self.rules.expires_at(effective_at),
            purchase_id=purchase_id,
        )
        self._add_lot(lot)
        return self._record(
            EntryDraft(
                kind=kind, points=points, effective_at=effective_at,
                idempotency_key=idempotency_key, lot=lot, purchase_id=purchase_id,
                pending_delta=points if is_pending else 0,
                available_delta=0 if is_pending else points - repaid,
                debt_delta=-repaid, breakdown=breakdown or [], reason=reason,
                actor_id=actor_id,
            )
        )

    def debit(
        self,
        *,
        kind: str,
        points: int,
        effective_at: dt.datetime,
        idempotency_key: str,
        reason: str = "",
        actor_id: int | None = None,
    ) -> EntryDraft:
        """Take ``points`` from the available balance, oldest lots first."""
        assert points > 0
        self.settle(effective_at)
        if points > self.available:
            raise InsufficientPoints(needed=points, available=self.available)
        taken = self._take_oldest(points)
        assert taken == points
        return self._record(
            EntryDraft(
                kind=kind, points=-points, effective_at=effective_at,
                idempotency_key=idempotency_key, available_delta=-points,
                reason=reason, actor_id=actor_id,
            )
        )

    def reverse(
        self,
        *,
        lot: Lot | None,
        points: int,
        effective_at: dt.datetime,
        idempotency_key: str,
        purchase_id: int | None,
        refund_id: int | None = None,
        reason: str = "",
    ) -> EntryDraft:
        """Take back ``points`` that a refunded purchase no longer earns."""
        assert points > 0
        self.settle(effective_at)
        pending_taken = available_taken = 0
        if lot is not None:
            # Use the open lot this ledger already holds, if the lot is open.
            lot = next(
                (
                    candidate for candidate in self.lots
                    if candidate is lot or (lot.pk is not None and candidate.pk == lot.pk)
                ),
                lot,
            )
        if lot is not None and lot.status == PENDING:
            pending_taken = min(points, lot.remaining)
            lot.remaining -= pending_taken
            if lot.remaining == 0:
                lot.status = VOIDED
            lot.changed = True
        elif lot is not None and lot.status == AVAILABLE and lot.remaining > 0:
            available_taken = min(points, lot.remaining)
            lot.remaining -= available_taken
            lot.changed = True
        missing = points - pending_taken - available_taken
        if missing:
            from_others = self._take_oldest(min(missing, self.available - available_taken))
            available_taken += from_others
            missing -= from_others
        debt = missing if self.rules.allow_debt else 0
        self._recompute_next_due()
        return self._record(
            EntryDraft(
                kind="reversal", points=-points, effective_at=effective_at,
                idempotency_key=idempotency_key, lot=lot, purchase_id=purchase_id,
                refund_id=refund_id, pending_delta=-pending_taken,
                available_delta=-available_taken, debt_delta=debt, reason=reason,
            )
        )

    def _take_oldest(self, points: int) -> int:
        """Take up to ``points`` from available lots, oldest first."""
        taken = 0
        for lot in sorted(
            (lot for lot in self.lots if lot.status == AVAILABLE and lot.remaining > 0),
            key=Lot.age_key,
        ):
            if taken == points:
                break
            take = min(points - taken, lot.remaining)
            lot.remaining -= take
            lot.changed = True
            taken += take
        return taken
