"""The PostgreSQL write of a live ledger operation, in one statement.

``LedgerWriter.flush`` (``loyalty.ledger.storage``) sends a small flush (a
live operation: at most ``ONE_STATEMENT_MAX_ROWS`` rows) here: the rows it was
given to insert first (a purchase and its lines), the new and changed lots,
the entries and the balances go to PostgreSQL as one statement of chained
data-modifying CTEs, with every value a query parameter. That keeps the ORM's
per-query cost and all but one round trip off the path of every earn (see
``bench/bench_earn.py`` and ``bench/profile_earn.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from decimal import Decimal

from django.db import connection, connections, models
from django.db.models import Model

from loyalty.models import LedgerEntry, PointsAccount, PointsLot


def bound_cursor():
    """A cursor of the default connection that sends values as query parameters
    (server-side binding) whatever the connection's default, wrapped as Django
    wraps its own (database errors, query logging). PostgreSQL then parses no
    literals: for the statements of an earn that costs the server about a third
    less CPU than values spelled out in the SQL. Nothing is prepared: prepared
    statements stay as the settings have them (off by default, for poolers).
    """
    from django.db.backends.postgresql.base import ServerBindingCursor

    database = connections[connection.alias]
    database.ensure_connection()
    database.validate_thread_sharing()
    cursor = ServerBindingCursor(database.connection)
    return database.make_debug_cursor(cursor) if database.queries_logged else database.make_cursor(cursor)


# On PostgreSQL a flush of up to this many rows (lots, entries, accounts) is one
# statement; larger batches (the periodic jobs) use the ORM's bulk operations.
ONE_STATEMENT_MAX_ROWS = 200


_LOT_TYPES = ("bigint", "bigint", "integer", "integer", "varchar", "timestamptz", "timestamptz", "timestamptz")
_CHANGED_LOT_TYPES = ("bigint", "integer", "varchar")
_ACCOUNT_TYPES = ("bigint", "integer", "integer", "integer", "timestamptz")


def _values(count: int, types: tuple[str, ...]) -> str:
    """``(%s::t1, %s::t2), (...)``: ``count`` rows of placeholders."""
    row_sql = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    return ", ".join([row_sql] * count)


# Fields whose database value is the attribute itself when it already has one
# of these types (what ``get_db_prep_save`` would return unchanged).
_PLAIN_FIELDS = (
    models.AutoField, models.BigAutoField, models.BigIntegerField, models.BooleanField, models.CharField,
    models.DecimalField, models.ForeignKey, models.IntegerField, models.PositiveIntegerField,
)
_PLAIN_VALUES = (str, int, bool, Decimal)


@functools.cache
def _insert_fields(model: type[Model], with_pk: bool) -> tuple[tuple, str, tuple[str, ...]]:
    """The fields an ``INSERT`` of ``model`` writes (each with its attribute name
    and whether its value needs no preparing), their quoted columns and types."""
    fields = tuple(
        (field, field.attname, type(field) in _PLAIN_FIELDS or (
            type(field) is models.DateTimeField and not field.auto_now and not field.auto_now_add
        ))
        for field in model._meta.concrete_fields if with_pk or not field.primary_key
    )
    columns = ", ".join(connection.ops.quote_name(field.column) for field, _attname, _plain in fields)
    return fields, columns, tuple(field.db_type(connection) for field, _attname, _plain in fields)


def _insert_params(row: Model, fields: tuple, database) -> list:
    """The values ``row`` is inserted with, as the ORM's insert prepares them."""
    params = []
    for field, attname, plain in fields:
        value = getattr(row, attname)
        if plain and (value is None or type(value) in _PLAIN_VALUES or (
            type(value) is dt.datetime and value.tzinfo is not None
        )):
            params.append(value)
        else:
            params.append(field.get_db_prep_save(field.pre_save(row, True), database))
    return params


# How an entry row names its lot: no lot, a lot already saved (its id a
# parameter) or the n-th lot inserted by the same statement (1-based).
NO_LOT, SAVED_LOT = 0, -1


@functools.lru_cache(maxsize=256)
def _one_statement_sql(
    inserts: tuple[tuple[type[Model], bool, int], ...], new_lots: int, changed_lots: int,
    entries: tuple[tuple[int, bool], ...], accounts: int, returning: bool,
) -> str:
    """The statement of ``_write_in_one_statement`` for a shape: the rows inserted
    first (model, with id, how many), how many lots are inserted and updated, for
    each entry where its lot is and whether its key is known, how many accounts
    change, and whether the lot and entry ids are read back.

    Live operations come in a handful of shapes, so each is built once; the
    common one-of-each case is plain ``INSERT ... VALUES`` and ``UPDATE ...
    WHERE id =`` statements, which PostgreSQL parses and plans in a fraction of
    the time joins against ``VALUES`` lists take.
    """
    quote = connection.ops.quote_name
    lot_table, entry_table = quote(PointsLot._meta.db_table), quote(LedgerEntry._meta.db_table)
    account_table = quote(PointsAccount._meta.db_table)
    parts: list[tuple[str, str]] = []  # (name, statement): all but the last become CTEs
    selects: list[str] = []
    for index, (model, with_pk, count) in enumerate(inserts):
        _fields, columns, types = _insert_fields(model, with_pk)
        returning_id = "" if with_pk else f" RETURNING {quote(model._meta.pk.column)} AS id"
        parts.append((f"rows_{index}", (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES {_values(count, types)}{returning_id}"
        )))
        if not with_pk:
            selects.append(f"SELECT 'row', {index}::bigint, id, NULL::varchar FROM rows_{index}")  # noqa: S608
    if new_lots:
        parts.append(("new_lots", (
            f"INSERT INTO {lot_table} (account_id, purchase_id, points, remaining, status, "  # noqa: S608
            f"earned_at, available_at, expires_at) VALUES {_values(new_lots, _LOT_TYPES)} RETURNING id"
        )))
        if new_lots > 1:
            parts.append(("lot_ids", "SELECT id, row_number() OVER (ORDER BY id) AS n FROM new_lots"))
        if returning:
            selects.append(
                "SELECT 'lot', 1::bigint, id, NULL FROM new_lots" if new_lots == 1
                else "SELECT 'lot', n, id, NULL FROM lot_ids"
            )
    if changed_lots == 1:
        parts.append(("changed_lots", (
            f"UPDATE {lot_table} SET remaining = %s::integer, status = %s::varchar WHERE id = %s::bigint"  # noqa: S608
        )))
    elif changed_lots:
        parts.append(("changed_lots", (
            f"UPDATE {lot_table} AS l SET remaining = v.remaining, status = v.status "  # noqa: S608
            f"FROM (VALUES {_values(changed_lots, _CHANGED_LOT_TYPES)}) AS v(id, remaining, status) "
            f"WHERE l.id = v.id"
        )))
    if entries:
        rows = []
        for lot, key_known in entries:
            if lot in (NO_LOT, SAVED_LOT):
                lot_sql = "%s::bigint"
            elif new_lots == 1:
                lot_sql = "(SELECT id FROM new_lots)"
            else:
                lot_sql = f"(SELECT id FROM lot_ids WHERE n = {lot})"  # noqa: S608 -- a position we count
            key_sql = "%s::varchar" if key_known else f"%s::varchar || {lot_sql}::text"
            rows.append(
                "(%s::bigint, %s::varchar, %s::integer, %s::integer, %s::integer, %s::integer, %s::timestamptz, "
                f"%s::timestamptz, {key_sql}, {lot_sql}, %s::bigint, %s::bigint, %s::jsonb, %s::varchar, %s::bigint)"
            )
        parts.append(("new_entries", (
            f"INSERT INTO {entry_table} (account_id, kind, points, available_delta, "  # noqa: S608
            f"pending_delta, debt_delta, effective_at, recorded_at, idempotency_key, lot_id, purchase_id, "
            f"refund_id, breakdown, reason, actor_id) VALUES {', '.join(rows)}"
            + (" RETURNING id, account_id, idempotency_key" if returning else "")
        )))
        if returning:
            selects.append("SELECT 'entry', account_id, id, idempotency_key FROM new_entries")
    if accounts == 1:
        parts.append(("accounts", (
            f"UPDATE {account_table} SET available = %s::integer, pending = %s::integer, "  # noqa: S608
            f"debt = %s::integer, next_due_at = %s::timestamptz WHERE member_id = %s::bigint"
        )))
    elif accounts:
        parts.append(("accounts", (
            f"UPDATE {account_table} AS a SET available = v.available, pending = v.pending, "  # noqa: S608
            f"debt = v.debt, next_due_at = v.next_due_at FROM (VALUES {_values(accounts, _ACCOUNT_TYPES)}) "
            f"AS v(member_id, available, pending, debt, next_due_at) WHERE a.member_id = v.member_id"
        )))
    if not parts:
        return ""
    # Data-modifying CTEs always run to completion, read or not.
    if selects:
        ctes, main = parts, " UNION ALL ".join(selects)
    else:
        ctes, main = parts[:-1], parts[-1][1]
    return ("WITH " + ", ".join(f"{name} AS ({sql})" for name, sql in ctes) + " " if ctes else "") + main


def write_in_one_statement(
    inserts, new_lots, changed_rows, drafts, changed_accounts, *, now, returning: bool = True,
) -> list[LedgerEntry]:
    """What ``LedgerWriter.flush`` writes, as one PostgreSQL statement.

    Table names come from the models; every value is a query parameter.

    Data-modifying CTEs insert the rows given to ``LedgerWriter.insert`` (a
    purchase and its lines), insert the new lots, update the changed lots,
    insert the entries (pointing at the lots inserted with them by position:
    the ids of one ``INSERT ... VALUES`` ascend in row order) and update the
    accounts. A live operation thus costs one round trip and no ORM
    compilation after the lock.
    """
    database = connections[connection.alias]  # not the proxy: it is asked for every field
    params: list = []
    groups: list[list[Model]] = []
    shape: list[tuple[type[Model], bool, int]] = []
    for (model, with_pk), rows in itertools.groupby(inserts, key=lambda row: (type(row), row.pk is not None)):
        rows = list(rows)
        fields, _columns, _types = _insert_fields(model, with_pk)
        for row in rows:
            params.extend(_insert_params(row, fields, database))
        groups.append(rows)
        shape.append((model, with_pk, len(rows)))
    position = {id(lot): index for index, (_account, lot) in enumerate(new_lots, start=1)}
    for account, lot in new_lots:
        params.extend((account.pk, lot.purchase_id, lot.points, lot.remaining, lot.status, lot.earned_at,
                       lot.available_at, lot.expires_at))
    if len(changed_rows) == 1:
        params.extend((changed_rows[0].remaining, changed_rows[0].status, changed_rows[0].pk))
    else:
        for row in changed_rows:
            params.extend((row.pk, row.remaining, row.status))
    entry_shape = []
    for account, draft in drafts:
        lot = draft.lot
        new = position.get(id(lot)) if lot is not None and lot.pk is None else None
        key = draft.idempotency_key
        if key is None and new is None:
            key = f"{draft.kind}:{lot.pk}"
        params.extend((
            account.pk, draft.kind, draft.points, draft.available_delta, draft.pending_delta,
            draft.debt_delta, draft.effective_at, now, key if key is not None else f"{draft.kind}:",
        ))
        if new is None:
            params.append(lot.pk if lot is not None else None)
        params.extend((draft.purchase_id, draft.refund_id, json.dumps(draft.breakdown), draft.reason, draft.actor_id))
        entry_shape.append((new or (SAVED_LOT if lot is not None else NO_LOT), key is not None))
    if len(changed_accounts) == 1:
        a = changed_accounts[0]
        params.extend((a.available, a.pending, a.debt, a.next_due_at, a.pk))
    else:
        for a in changed_accounts:
            params.extend((a.pk, a.available, a.pending, a.debt, a.next_due_at))
    sql = _one_statement_sql(
        tuple(shape), len(new_lots), len(changed_rows), tuple(entry_shape), len(changed_accounts), returning
    )
    if not sql:
        return []
    with bound_cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall() if cursor.description else []
    entry_ids = {}
    inserted_ids: dict[int, list[int]] = {}
    for what, number, pk, key in returned:
        if what == "lot":
            new_lots[number - 1][1].pk = pk  # saved with its final remaining and status
        elif what == "entry":
            entry_ids[number, key] = pk
        else:
            inserted_ids.setdefault(number, []).append(pk)
    for index, rows in enumerate(groups):
        ids = sorted(inserted_ids.get(index, ()))
        for offset, row in enumerate(rows):
            if ids:
                row.pk = ids[offset]
            row._state.adding = False
            row._state.db = database.alias
    if not returning:
        return []
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
        entry._state.db = database.alias
        entries.append(entry)
    return entries
