"""Loading ``AccountLedger`` state from the database and saving what it did.

``LedgerWriter`` saves any number of accounts in a few statements (one
``bulk_create`` for lots, one for entries, one ``bulk_update`` each for the
lots and the accounts that changed), so the live services (one account) and
the batch jobs (hundreds per transaction) share one path. On PostgreSQL a
small flush (a live operation) is a single statement instead, which keeps the
ORM's per-query cost off the path of every earn (see ``bench/bench_earn.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from django.db import connection
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


_ACCOUNT_FIELDS = ("member_id", "available", "pending", "debt", "next_due_at")


def account_select_for_update(member_id: int) -> PointsAccount | None:
    """The member's account row, locked (``SELECT ... FOR UPDATE``), or ``None``.

    Must run inside a transaction. A hand-written query: on the path of every
    earn, compiling ``select_for_update().filter(...).first()`` cost the ORM
    more than the query itself took.
    """
    quote = connection.ops.quote_name
    sql = "SELECT {} FROM {} WHERE {} = %s{}".format(  # noqa: S608 -- names from the model, the id a parameter
        ", ".join(quote(PointsAccount._meta.get_field(name).column) for name in _ACCOUNT_FIELDS),
        quote(PointsAccount._meta.db_table), quote(PointsAccount._meta.pk.column),
        " FOR UPDATE" if connection.features.has_select_for_update else "",
    )
    if connection.vendor != "postgresql":  # values may need the backend's converters
        return next(iter(PointsAccount.objects.raw(sql, [member_id])), None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [member_id])
        row = cursor.fetchone()
    return None if row is None else PointsAccount.from_db(connection.alias, _ACCOUNT_FIELDS, row)


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

        if connection.vendor == "postgresql" and (
            len(new_lots) + len(changed_rows) + len(drafts) + len(changed_accounts) <= ONE_STATEMENT_MAX_ROWS
        ):
            entries = _write_in_one_statement(new_lots, changed_rows, drafts, changed_accounts, now=self.now)
        else:
            entries = self._write_with_orm(new_lots, changed_rows, drafts, changed_accounts)
        for _account, ledger in pairs:
            for lot in ledger.lots_in_memory():
                lot.changed = False
            ledger.new_lots.clear()
            ledger.entries.clear()
        return entries

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



# On PostgreSQL a flush of up to this many rows (lots, entries, accounts) is one
# statement; larger batches (the periodic jobs) use the ORM's bulk operations.
ONE_STATEMENT_MAX_ROWS = 200


def _values(rows: list[list], types: tuple[str, ...], params: list) -> str:
    """``(%s::t1, %s::t2), (...)`` for ``rows``, appending their values to ``params``."""
    row_sql = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    for row in rows:
        params.extend(row)
    return ", ".join([row_sql] * len(rows))


def _write_in_one_statement(new_lots, changed_rows, drafts, changed_accounts, *, now) -> list[LedgerEntry]:
    """What ``LedgerWriter.flush`` writes, as one PostgreSQL statement.

    Table names come from the models; every value is a query parameter.

    Data-modifying CTEs insert the new lots, update the changed lots, insert
    the entries (pointing at the new lots by position: the ids of one
    ``INSERT ... VALUES`` ascend in row order) and update the accounts. A live
    operation thus costs one round trip and no ORM compilation after the lock.
    """
    quote = connection.ops.quote_name
    lot_table, entry_table = quote(PointsLot._meta.db_table), quote(LedgerEntry._meta.db_table)
    account_table = quote(PointsAccount._meta.db_table)
    params: list = []
    ctes: list[str] = []
    selects: list[str] = []
    position = {id(lot): index for index, (_account, lot) in enumerate(new_lots, start=1)}
    if new_lots:
        values = _values(
            [
                [account.pk, lot.purchase_id, lot.points, lot.remaining, lot.status, lot.earned_at,
                 lot.available_at, lot.expires_at]
                for account, lot in new_lots
            ],
            ("bigint", "bigint", "integer", "integer", "varchar", "timestamptz", "timestamptz", "timestamptz"),
            params,
        )
        ctes.append(
            f"new_lots AS (INSERT INTO {lot_table} (account_id, purchase_id, points, remaining, status, "  # noqa: S608
            f"earned_at, available_at, expires_at) VALUES {values} RETURNING id)"
        )
        ctes.append("lot_ids AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM new_lots)")
        selects.append("SELECT 'lot', n, id, NULL FROM lot_ids")
    if changed_rows:
        values = _values(
            [[row.pk, row.remaining, row.status] for row in changed_rows], ("bigint", "integer", "varchar"), params
        )
        ctes.append(
            f"changed_lots AS (UPDATE {lot_table} AS l SET remaining = v.remaining, status = v.status "  # noqa: S608
            f"FROM (VALUES {values}) AS v(id, remaining, status) WHERE l.id = v.id RETURNING l.id)"
        )
    if drafts:
        rows = []
        for account, draft in drafts:
            lot = draft.lot
            rows.append([
                account.pk, draft.kind, draft.points, draft.available_delta, draft.pending_delta,
                draft.debt_delta, draft.effective_at, draft.idempotency_key,
                lot.pk if lot is not None else None,
                position.get(id(lot)) if lot is not None and lot.pk is None else None,
                draft.purchase_id, draft.refund_id, json.dumps(draft.breakdown), draft.reason, draft.actor_id,
            ])
        params.append(now)  # recorded_at comes before the rows in the statement
        values = _values(rows, (
            "bigint", "varchar", "integer", "integer", "integer", "integer", "timestamptz", "varchar",
            "bigint", "integer", "bigint", "bigint", "jsonb", "varchar", "bigint",
        ), params)
        new_lot_id = "lot_ids.id" if new_lots else "NULL::bigint"
        join = "LEFT JOIN lot_ids ON lot_ids.n = v.lot_n" if new_lots else ""
        ctes.append(
            f"new_entries AS (INSERT INTO {entry_table} (account_id, kind, points, available_delta, "  # noqa: S608
            f"pending_delta, debt_delta, effective_at, recorded_at, idempotency_key, lot_id, purchase_id, "
            f"refund_id, breakdown, reason, actor_id) "
            f"SELECT v.account_id, v.kind, v.points, v.available_delta, v.pending_delta, v.debt_delta, "
            f"v.effective_at, %s::timestamptz, "
            f"COALESCE(v.key, v.kind || ':' || COALESCE(v.lot_id, {new_lot_id})), "
            f"COALESCE(v.lot_id, {new_lot_id}), v.purchase_id, v.refund_id, v.breakdown, v.reason, v.actor_id "
            f"FROM (VALUES {values}) AS v(account_id, kind, points, available_delta, pending_delta, debt_delta, "
            f"effective_at, key, lot_id, lot_n, purchase_id, refund_id, breakdown, reason, actor_id) {join} "
            f"RETURNING id, account_id, idempotency_key)"
        )
        selects.append("SELECT 'entry', account_id, id, idempotency_key FROM new_entries")
    if changed_accounts:
        values = _values(
            [[a.pk, a.available, a.pending, a.debt, a.next_due_at] for a in changed_accounts],
            ("bigint", "integer", "integer", "integer", "timestamptz"),
            params,
        )
        ctes.append(
            f"accounts AS (UPDATE {account_table} AS a SET available = v.available, pending = v.pending, "  # noqa: S608
            f"debt = v.debt, next_due_at = v.next_due_at FROM (VALUES {values}) "
            f"AS v(member_id, available, pending, debt, next_due_at) WHERE a.member_id = v.member_id "
            f"RETURNING a.member_id)"
        )
    if not ctes:
        return []
    # Data-modifying CTEs always run to completion, read or not.
    sql = "WITH " + ", ".join(ctes) + " " + (" UNION ALL ".join(selects) or "SELECT NULL, NULL, NULL, NULL")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    entry_ids = {}
    for what, number, pk, key in returned:
        if what == "lot":
            new_lots[number - 1][1].pk = pk  # saved with its final remaining and status
        elif what == "entry":
            entry_ids[number, key] = pk
    entries = []
    for account, draft in drafts:
        entry = LedgerEntry(
            account_id=account.pk, kind=draft.kind, points=draft.points,
            available_delta=draft.available_delta, pending_delta=draft.pending_delta,
            debt_delta=draft.debt_delta, effective_at=draft.effective_at, recorded_at=now,
            idempotency_key=draft.idempotency_key or f"{draft.kind}:{draft.lot.pk}",
            lot_id=draft.lot.pk if draft.lot else None,
            purchase_id=draft.purchase_id, refund_id=draft.refund_id,
            breakdown=draft.breakdown, reason=draft.reason, actor_id=draft.actor_id,
        )
        entry.pk = entry_ids[account.pk, entry.idempotency_key]
        entry._state.adding = False
        entry._state.db = connection.alias
        entries.append(entry)
    return entries
