"""Loading ``AccountLedger`` state from the database and saving what it did.

``LedgerWriter`` saves any number of accounts in a few statements (one
``bulk_create`` for lots, one for entries, one ``bulk_update`` each for the
lots and the accounts that changed), so the live services (one account) and
the batch jobs (hundreds per transaction) share one path. On PostgreSQL a
small flush (a live operation) is a single statement instead
(``loyalty.ledger.statement``), which keeps the ORM's per-query cost off the
path of every earn (see ``bench/bench_earn.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Iterable

from django.db import connection
from django.db.models import Model, Q
from django.utils import timezone

from loyalty.ledger.engine import AVAILABLE, PENDING, AccountLedger, EntryDraft, LedgerRules, Lot
from loyalty.ledger.statement import ONE_STATEMENT_MAX_ROWS, bound_cursor, write_in_one_statement
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


_ACCOUNT_FIELDS = ("member_id", "available", "pending", "debt", "next_due_at")


@functools.cache
def _account_lock_sql(vendor: str, for_update: bool, next_id: bool) -> str:
    quote = connection.ops.quote_name
    return "SELECT {}{} FROM {} WHERE {} = %s{}".format(  # noqa: S608 -- names from the model, the id a parameter
        ", ".join(quote(PointsAccount._meta.get_field(name).column) for name in _ACCOUNT_FIELDS),
        ", nextval(%s::regclass)" if next_id else "",
        quote(PointsAccount._meta.db_table), quote(PointsAccount._meta.pk.column),
        " FOR UPDATE" if for_update else "",
    )


def account_select_for_update(member_id: int) -> PointsAccount | None:
    """The member's account row, locked (``SELECT ... FOR UPDATE``), or ``None``.

    Must run inside a transaction. A hand-written query: on the path of every
    earn, compiling ``select_for_update().filter(...).first()`` cost the ORM
    more than the query itself took.
    """
    sql = _account_lock_sql(connection.vendor, connection.features.has_select_for_update, False)
    if connection.vendor != "postgresql":  # values may need the backend's converters
        return next(iter(PointsAccount.objects.raw(sql, [member_id])), None)
    with bound_cursor() as cursor:
        cursor.execute(sql, [member_id])
        row = cursor.fetchone()
    return None if row is None else PointsAccount.from_db(connection.alias, _ACCOUNT_FIELDS, row)


_sequences: dict[tuple[str, str], str] = {}


def _id_sequence(model: type[Model]) -> str:
    """The name of the sequence behind ``model``'s id (PostgreSQL), looked up once."""
    key = (connection.settings_dict["NAME"], model._meta.db_table)
    if key not in _sequences:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column])
            _sequences[key] = cursor.fetchone()[0]
    return _sequences[key]


def account_select_for_update_with_id(member_id: int, model: type[Model]) -> tuple[PointsAccount | None, int | None]:
    """``account_select_for_update`` that, on PostgreSQL, also takes the next id of
    ``model`` in the same statement: the id of a row the caller then inserts under
    the lock, in the same statement as the ledger rows (``LedgerWriter.insert``).

    The id is ``None`` on other databases and when the member has no account yet.
    """
    if not LedgerWriter.one_statement():
        return account_select_for_update(member_id), None
    sql = _account_lock_sql(connection.vendor, True, True)
    with bound_cursor() as cursor:
        cursor.execute(sql, [_id_sequence(model), member_id])
        row = cursor.fetchone()
    if row is None:
        return None, None
    return PointsAccount.from_db(connection.alias, _ACCOUNT_FIELDS, row[:-1]), row[-1]


class LedgerWriter:
    """Collects what ``AccountLedger`` objects did and writes it in bulk.

    Call inside the transaction that holds the accounts' row locks.
    """

    def __init__(self, *, now: dt.datetime | None = None) -> None:
        self.now = now or timezone.now()
        self._pairs: list[tuple[PointsAccount, AccountLedger]] = []
        self._inserts: list[Model] = []

    @staticmethod
    def one_statement() -> bool:
        """Whether a small flush (a live operation) is one statement on this database."""
        return connection.vendor == "postgresql"

    def add(self, account: PointsAccount, ledger: AccountLedger) -> None:
        self._pairs.append((account, ledger))

    def insert(self, *rows: Model) -> None:
        """New rows the flush writes before the ledger rows: the purchase an earn is
        for and its lines, so that on PostgreSQL they are part of the same statement.

        A row the ledger rows point at must have its id already (reserved with
        ``account_select_for_update_with_id``); the others get theirs in the flush.
        """
        self._inserts.extend(rows)

    def flush(self, *, returning: bool = True) -> list[LedgerEntry]:
        """Write everything added; returns the entries written (``[]`` with ``returning=False``)."""
        pairs, self._pairs = self._pairs, []
        inserts, self._inserts = self._inserts, []
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

        rows = len(inserts) + len(new_lots) + len(changed_rows) + len(drafts) + len(changed_accounts)
        if self.one_statement() and rows <= ONE_STATEMENT_MAX_ROWS:
            entries = write_in_one_statement(
                inserts, new_lots, changed_rows, drafts, changed_accounts, now=self.now, returning=returning
            )
        else:
            _insert_with_orm(inserts)
            entries = self._write_with_orm(new_lots, changed_rows, drafts, changed_accounts)
        for _account, ledger in pairs:
            for lot in ledger.lots_in_memory():
                lot.changed = False
            ledger.new_lots.clear()
            ledger.entries.clear()
        return entries if returning else []

    def _write_with_orm(self, new_lots, changed_rows, drafts, changed_accounts) -> list[LedgerEntry]:
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
        return entries


def _insert_with_orm(rows: list[Model]) -> None:
    """``bulk_create`` the rows given to ``LedgerWriter.insert``, in order, a model at a time."""
    for model, group in itertools.groupby(rows, key=type):
        model._default_manager.bulk_create(list(group))
