"""Loading ``AccountLedger`` state from the database and saving what it did.

``LedgerWriter`` saves any number of accounts in a few statements (one
``bulk_create`` for lots, one for entries, one ``bulk_update`` each for the
lots and the accounts that changed), so the live services (one account) and
the batch jobs (hundreds per transaction) share one path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from loyalty.ledger.engine import AVAILABLE, PENDING, AccountLedger, EntryDraft, LedgerRules, Lot
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Program


def ledger_rules(program: Program) -> LedgerRules:
    return LedgerRules(
        return_window_days=program.return_window_days,
        expiry_months=program.expiry_months,
        allow_debt=program.allow_debt,
        timezone=program.tz,
    )


def lot_from_row(row: PointsLot) -> Lot:
    return Lot(
        pk=row.pk,
        points=row.points,
        remaining=row.remaining,
        status=row.status,
        earned_at=row.earned_at,
        available_at=row.available_at,
        expires_at=row.expires_at,
        purchase_id=row.purchase_id,
    )


OPEN_LOTS = Q(status=PENDING) | Q(status=AVAILABLE, remaining__gt=0)


def open_lots_query(account_ids: Iterable[int]):
    return PointsLot.objects.filter(OPEN_LOTS, account_id__in=list(account_ids)).order_by(
        "earned_at", "pk"
    )


def account_ledger(
    account: PointsAccount, rules: LedgerRules, *, lots: list[Lot] | None = None
) -> AccountLedger:
    """The ledger of a (locked) account; its open lots are read only if needed."""

    def load() -> list[Lot]:
        if lots is not None:
            return lots
        return [lot_from_row(row) for row in open_lots_query([account.pk])]

    return AccountLedger(
        rules=rules,
        available=account.available,
        pending=account.pending,
        debt=account.debt,
        next_due_at=account.next_due_at,
        load_lots=load,
    )


class LedgerWriter:
    """Collects what ``AccountLedger`` objects did and writes it in bulk.

    Call inside the transaction that holds the accounts' row locks.
    """

    def __init__(self, *, now: dt.datetime | None = None) -> None:
        self.now = now or timezone.now()
        self._pairs: list[tuple[PointsAccount, AccountLedger]] = []

    def add(self, account: PointsAccount, ledger: AccountLedger) -> None:
        self._pairs.append((account, ledger))

    def flush(self) -> list[LedgerEntry]:
        pairs, self._pairs = self._pairs, []
        new_lots: list[tuple[PointsAccount, Lot]] = []
        changed_rows: list[PointsLot] = []
        drafts: list[tuple[PointsAccount, EntryDraft]] = []
        changed_accounts: list[PointsAccount] = []
        for account, ledger in pairs:
            new_lots.extend((account, lot) for lot in ledger.new_lots)
            changed_rows.extend(
                PointsLot(pk=lot.pk, remaining=lot.remaining, status=lot.status)
                for lot in ledger.changed_lots
            )
            drafts.extend((account, entry) for entry in ledger.entries)
            if (account.available, account.pending, account.debt, account.next_due_at) != (
                ledger.available, ledger.pending, ledger.debt, ledger.next_due_at
            ):
                account.available = ledger.available
                account.pending = ledger.pending
                account.debt = ledger.debt
                account.next_due_at = ledger.next_due_at
                changed_accounts.append(account)

        if new_lots:
            rows = PointsLot.objects.bulk_create(
                [
                    PointsLot(
                        account_id=account.pk, purchase_id=lot.purchase_id,
                        points=lot.points, remaining=lot.remaining, status=lot.status,
                        earned_at=lot.earned_at, available_at=lot.available_at,
                        expires_at=lot.expires_at,
                    )
                    for account, lot in new_lots
                ]
            )
            for (_account, lot), row in zip(new_lots, rows, strict=True):
                lot.pk = row.pk  # saved with its final remaining and status
        if changed_rows:
            PointsLot.objects.bulk_update(changed_rows, ["remaining", "status"])
        entries = LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    account_id=account.pk, kind=draft.kind, points=draft.points,
                    available_delta=draft.available_delta, pending_delta=draft.pending_delta,
                    debt_delta=draft.debt_delta, effective_at=draft.effective_at,
                    recorded_at=self.now,
                    idempotency_key=draft.idempotency_key or f"{draft.kind}:{draft.lot.pk}",
                    lot_id=draft.lot.pk if draft.lot else None,
                    purchase_id=draft.purchase_id, refund_id=draft.refund_id,
                    breakdown=draft.breakdown, reason=draft.reason, actor_id=draft.actor_id,
                )
                for account, draft in drafts
            ]
        ) if drafts else []
        if len(changed_accounts) == 1:
            changed_accounts[0].save(update_fields=["available", "pending", "debt", "next_due_at"])
        elif changed_accounts:
            PointsAccount.objects.bulk_update(
                changed_accounts, ["available", "pending", "debt", "next_due_at"]
            )
        for _account, ledger in pairs:
            for lot in ledger.lots_in_memory():
                lot.changed = False
            ledger.new_lots.clear()
            ledger.entries.clear()
        return entries
