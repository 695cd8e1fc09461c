"""Loading history in bulk through the ledger's own rules.

``BulkLedger`` is the batch twin of ``purchase_record`` and ``refund_record``:
imports and the demo data feed it purchases and refunds, it runs every rule
through ``AccountLedger`` (the same class the live services use) and writes
purchases, lines, refunds, lots, entries and balances in batches: ``COPY`` on
PostgreSQL, ``bulk_create`` elsewhere. Primary keys are reserved up front
(``nextval`` over ``generate_series`` on PostgreSQL, ``max(id) + 1`` inside the
transaction on SQLite), so lots, entries and refunds can point at rows that
are still in the buffer.

How the result equals live use: the events of one account must come in time
order (accounts are independent, so their relative order does not matter).
Each purchase credits its points at ``purchased_at`` (pending for the return
window, expiring from then), each refund reverses at its own time, and every
operation first settles what fell due before it, as the engine always does.
When the caller closes an account it is settled to ``now``: releases and
expiries that fell due since are written dated when they fell due. That is
the ledger a member would have had if each purchase had been recorded live
at its time and the periodic jobs had run since. Idempotency keys are the
live ones (``purchase:<pk>``, ``refund:<pk>``, ``release:<lot pk>``,
``expire:<lot pk>``) and payload hashes are computed by the live functions, so
a POS that later resends an imported receipt finds it already taken.

Earning rules, as on the live path. The member's tier, segments and stamp
cards are read once, when the account is prepared (``member_standings``),
and kept in memory while it is open. Tiers move up as the history goes, as
``tier_upgrade_if_qualified`` moves a live purchase's member: when a tier can
be reached (``TierTable.qualifying``), each open account keeps the events its
qualification window counts (purchases less refunds, or earn, bonus and
reversal points; for an existing account read from the database with its
tier, two queries per chunk of accounts), and after each purchase's earn the
same decision (``TierTable.upgrade_to``) over the same window
(``tier_upgrade_window``: ending at ``purchased_at`` plus the clock skew)
moves the member up, dated at the purchase; the tier's multiplier and
conditions apply from their next purchase. The ``MemberTier`` and
``TierChange(QUALIFIED)`` rows are written with the batches. Moves down
remain the periodic review's (``tiers_review``). Without a reachable tier
none of this costs anything. Members created by the same load (the demo
data) start with no tier, segment or card. Caps are counted as live
(``RuleUsageBook``): the rows stay locked until the load commits, and the
first time a capped rule gives points every total budget of the active rules
is locked at once, in rule id order; since members are fed one after another,
a total budget goes to the members fed first rather than strictly to the
earliest purchases, and a live earn of a budgeted rule waits for the load to
commit (should it also hold an account the load is about to lock, PostgreSQL
reports a deadlock and one of the two fails: run large imports of history
while capped rules are paused or outside opening hours). Stamp cards are
kept in memory while the account is open and written when it closes;
refunds take their stamps back as ``refund_record`` does. A full card of a
rule that names a reward owes a voucher, as live: the load keeps the list
and, once every row is written (``finish``), has them issued through the
same seam (``stamp_card_rewards_issue``), keyed and dated as the live path
keys and dates them (``purchase:<pk>``, at the purchase), in the load's
transaction.

Memory: an account's lots live in memory from its first event until it is
closed; closed accounts and written rows are dropped. Close accounts as soon
as their events are done (the imports and the demo data feed one member at a
time) and memory stays flat however long the history is.

Locks: ``accounts_prepare`` locks existing accounts (``SELECT ... FOR UPDATE``
in primary-key order), as the live services do one at a time; callers
prepare members in ascending id order. Everything runs in the caller's
transaction.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import itertools
import json
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from operator import itemgetter

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone
from psycopg.copy import Copy, FileWriter

from loyalty.earning import NO_STANDING, Earning, MemberStanding, member_standings, purchase_earning
from loyalty.ledger.engine import AccountLedger, Lot
from loyalty.ledger.storage import ledger_rules, lot_from_row, open_lots_query
from loyalty.models import (
    LedgerEntry,
    MemberTier,
    PointsAccount,
    PointsLot,
    Program,
    Purchase,
    PurchaseLine,
    Refund,
    RuleUsage,
    StampCard,
    TierChange,
)
from loyalty.rules import stamp_card_fill
from loyalty.services.budgets import TOTAL, RuleUsageBook, capped_rules
from loyalty.services.purchases import (
    LineInput,
    earning_credit,
    purchase_payload_hash,
    refund_apply,
    refund_payload_hash,
)
from loyalty.services.rules import active_rules
from loyalty.services.stamps import (
    StampCardReward,
    stamp_card_rewards_due,
    stamp_card_rewards_issue,
    stamps_given,
    stamps_removed,
)
from loyalty.services.tiers.table import QUALIFYING_KINDS, TierTable, tier_table, tier_upgrade_window

BATCH_SIZE = 10_000


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


# -- primary keys reserved up front ---------------------------------------------


class IdPool:
    """Primary keys for new rows of ``model``, reserved in blocks.

    PostgreSQL: ``nextval`` of the table's sequence over ``generate_series``,
    safe beside concurrent inserts. SQLite: counting on from ``max(id)`` (and
    the ``AUTOINCREMENT`` high-water mark); the caller's transaction holds
    SQLite's write lock (``BEGIN IMMEDIATE``), so nobody else inserts meanwhile.
    """

    def __init__(
        self, model: type[models.Model], *, block: int = 1000, max_block: int = 100_000, using=None
    ) -> None:
        self.using = using  # PostgreSQL: a separate connection may serve (sequences ignore transactions)
        self.table = model._meta.db_table
        self.column = model._meta.pk.column
        self.block = block
        self.max_block = max_block
        self._ids: list[int] = []
        self._sqlite_next: int | None = None
        self._sequence: str | None = None

    def take(self) -> int:
        if not self._ids:
            self._refill()
        return self._ids.pop()

    def _refill(self) -> None:
        with (self.using or connection).cursor() as cursor:
            if on_postgres():
                if self._sequence is None:
                    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [self.table, self.column])
                    self._sequence = cursor.fetchone()[0]
                # Usually one unbroken range, sent back as three numbers; if other
                # sessions took ids meanwhile, another block is fetched id by id.
                cursor.execute(
                    "SELECT MIN(id), MAX(id), COUNT(*) FROM "
                    "(SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)) AS reserved",
                    [self._sequence, self.block],
                )
                low, high, count = cursor.fetchone()
                if high - low + 1 == count:
                    ids = list(range(low, high + 1))
                else:
                    cursor.execute(
                        "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [self._sequence, self.block]
                    )
                    ids = sorted(row[0] for row in cursor.fetchall())
            else:
                if self._sqlite_next is None:
                    quoted = connection.ops.quote_name
                    cursor.execute(
                        f"SELECT COALESCE(MAX({quoted(self.column)}), 0) FROM {quoted(self.table)}"  # noqa: S608
                    )
                    high = cursor.fetchone()[0]
                    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [self.table])
                    row = cursor.fetchone()
                    self._sqlite_next = max(high, row[0] if row else 0) + 1
                ids = list(range(self._sqlite_next, self._sqlite_next + self.block))
                self._sqlite_next += self.block
        self._ids = ids[::-1]  # pop() hands them out in ascending order
        self.block = min(self.block * 4, self.max_block)  # a long load asks less often


# -- batched inserts and updates ---------------------------------------------------


class RowBuffer:
    """Rows for one table, written with COPY (PostgreSQL) or ``bulk_create``.

    ``fields`` are attribute names (``account_id`` for a foreign key); a row is
    a tuple in that order. JSON fields take Python values.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[str], *, statement_rows: int = 10_000) -> None:
        self.model = model
        self.fields = list(fields)
        self.statement_rows = statement_rows
        self.rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: tuple) -> None:
        self.rows.append(row)

    def take(self) -> Callable[..., None] | None:
        """A job that inserts the rows buffered so far (the buffer is emptied).

        On PostgreSQL the rows are formatted now, in the caller's thread.
        """
        rows, self.rows = self.rows, []
        if not rows:
            return None
        return insert_job(self.model, self.fields, rows, statement_rows=self.statement_rows)


def insert_job(
    model: type[models.Model], fields: Sequence[str], rows: list[tuple], *, statement_rows: int
) -> Callable[..., None]:
    """A job for ``BulkWriter`` that inserts ``rows``; takes an optional ``cursor``."""
    if on_postgres():
        return partial(copy_write, *copy_data(model, fields, rows, statement_rows=statement_rows))
    return lambda cursor=None: insert_rows(model, fields, rows)


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[tuple],
    *,
    statement_rows: int = 10_000,
) -> None:
    """Insert ``rows`` (tuples in ``fields`` order) with COPY, or ``bulk_create`` batches off PostgreSQL.

    JSON fields take Python values.
    """
    if not on_postgres():
        model._default_manager.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=500
        )
        return
    copy_write(*copy_data(model, fields, rows, statement_rows=statement_rows))


def copy_data(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple], *, statement_rows: int
) -> tuple[str, list[bytes]]:
    """A COPY statement for ``fields`` of ``model``, and ``rows`` in COPY's text format.

    One ``bytes`` per statement of at most ``statement_rows`` rows: smaller
    statements let a caller sharing the connection get a word in sooner.
    Formatting (psycopg's own, through a ``FileWriter``) talks to no server,
    so the caller's thread can do it while the writer's thread sends the
    previous batch.
    """
    quoted = connection.ops.quote_name
    meta = model._meta
    targets = [meta.get_field(name) for name in fields]
    sql = "COPY {} ({}) FROM STDIN".format(
        quoted(meta.db_table), ", ".join(quoted(field.column) for field in targets)
    )
    json_indexes = [index for index, field in enumerate(targets) if isinstance(field, models.JSONField)]
    connection.ensure_connection()
    cursor = connection.connection.cursor()  # for its adapters only
    chunks = []
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, statement_rows)):
        buffer = io.BytesIO()
        with Copy(cursor, writer=FileWriter(buffer)) as copy:
            for row in chunk:
                if json_indexes:
                    row = list(row)
                    for index in json_indexes:
                        value = row[index]
                        row[index] = "[]" if value == [] else json.dumps(value)
                copy.write_row(row)
        chunks.append(buffer.getvalue())
    return sql, chunks


def copy_write(sql: str, chunks: list[bytes], *, cursor=None) -> None:
    """Send what ``copy_data`` prepared: one COPY statement per chunk."""
    if cursor is None:
        with connection.cursor() as own:
            copy_write(sql, chunks, cursor=own)
        return
    for data in chunks:
        with cursor.copy(sql) as copy:
            copy.write(data)


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple], *, cursor=None) -> None:
    """Set ``fields`` of existing rows; each row is ``(pk, *values)``.

    PostgreSQL: one ``UPDATE ... FROM unnest(<one array per column>)``.
    Elsewhere: ``bulk_update``.
    """
    if not rows:
        return
    meta = model._meta
    if not on_postgres():
        objects = []
        for row in rows:
            obj = model(pk=row[0])
            for name, value in zip(fields, row[1:], strict=True):
                setattr(obj, name, value)
            objects.append(obj)
        model._default_manager.bulk_update(objects, list(fields), batch_size=500)
        return
    quoted = connection.ops.quote_name
    pk = meta.pk
    targets = [pk, *(meta.get_field(name) for name in fields)]
    # One array parameter per column (unnest), whatever the number of rows.
    arrays = ", ".join(f"%s::{target.db_type(connection)}[]" for target in targets)
    names = ["k", *(f"v{index}" for index in range(len(fields)))]
    assignments = ", ".join(
        f"{quoted(meta.get_field(name).column)} = v.v{index}" for index, name in enumerate(fields)
    )
    sql = "UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({names}) WHERE t.{pk} = v.k".format(  # noqa: S608
        table=quoted(meta.db_table), assignments=assignments, arrays=arrays, names=", ".join(names),
        pk=quoted(pk.column),
    )
    if cursor is None:
        with connection.cursor() as own:
            own.execute(sql, [list(column) for column in zip(*rows, strict=True)])
    else:
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])

# -- the writer: inline, or on a background thread (PostgreSQL) ---------------------


class BulkWriter:
    """Runs write jobs in order: on PostgreSQL on a background thread, else inline.

    The thread writes through the same database connection, so in the same
    transaction; psycopg serialises the connection between threads, so the
    caller may go on reading and locking meanwhile. While the database
    processes one batch (its COPY, indexes and foreign-key checks) Python
    prepares the next: the two cores of a small server both work. At most
    ``depth`` jobs wait in the queue, which bounds memory. ``close`` must run
    before the transaction ends (``BulkLedger`` is a context manager for
    that); a failed job's error is raised by the next ``submit`` or ``wait``.
    """

    def __init__(self, *, threaded: bool, depth: int = 2) -> None:
        self.error: BaseException | None = None
        self._cancelled = False
        self._thread: threading.Thread | None = None
        if threaded:
            connection.ensure_connection()
            self._raw = connection.connection
            self._jobs: queue.Queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._run, name="bulk-ledger-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        from psycopg.pq import TransactionStatus

        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self.error is None and not self._cancelled:
                    if self._raw.info.transaction_status not in (TransactionStatus.INTRANS, TransactionStatus.ACTIVE):
                        raise RuntimeError("the bulk writer runs only inside the caller's transaction")
                    with self._raw.cursor() as cursor:
                        job(cursor=cursor)
            except BaseException as error:  # handed to the caller's thread
                self.error = error
            finally:
                self._jobs.task_done()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def submit(self, job: Callable[..., None]) -> None:
        if self._thread is None:
            job()
            return
        self._raise()
        self._jobs.put(job)

    def wait(self) -> None:
        """Return once every job submitted is written; raise the first failure."""
        if self._thread is not None:
            self._jobs.join()
        self._raise()

    def close(self) -> None:
        """Stop the thread; jobs still queued (after a failure) are dropped."""
        if self._thread is not None and self._thread.is_alive():
            self._cancelled = True
            self._jobs.put(None)
            self._thread.join()


# -- accounts ----------------------------------------------------------------------

LOT_ROW = ("pk", "account_id", "purchase_id", "points", "remaining", "status", "earned_at", "available_at",
           "expires_at")


def _accounts_lock(member_ids: list[int]) -> list[tuple]:
    """Create the missing accounts (ignoring concurrent inserts), then lock all in pk order.

    Returns ``(member_id, available, pending, debt, next_due_at)`` rows.
    """
    if not on_postgres():
        existing = set(PointsAccount.objects.filter(pk__in=member_ids).values_list("pk", flat=True))
        PointsAccount.objects.bulk_create(
            [PointsAccount(member_id=member_id) for member_id in member_ids if member_id not in existing],
            ignore_conflicts=True,
        )
        return list(
            PointsAccount.objects.select_for_update().filter(pk__in=member_ids).order_by("pk")
            .values_list("pk", *ACCOUNT_BALANCES)
        )
    table = connection.ops.quote_name(PointsAccount._meta.db_table)
    with connection.cursor() as cursor:
        # One array parameter rather than a thousand placeholders.
        cursor.execute(
            f"INSERT INTO {table} (member_id, available, pending, debt) "  # noqa: S608
            "SELECT id, 0, 0, 0 FROM unnest(%s::bigint[]) AS id ON CONFLICT DO NOTHING",
            [member_ids],
        )
        cursor.execute(
            f"SELECT member_id, available, pending, debt, next_due_at FROM {table} "  # noqa: S608
            "WHERE member_id = ANY(%s::bigint[]) ORDER BY member_id FOR UPDATE",
            [member_ids],
        )
        return cursor.fetchall()


# -- the bulk ledger ---------------------------------------------------------------


@dataclass(eq=False)
class BulkPurchase:
    """A purchase fed to ``BulkLedger``: its row and the lot it earned."""

    row: Purchase
    lot: Lot | None = None
    written: bool = False
    stamps: dict[int, int] | None = None  # stamps given, by rule id

    @property
    def pk(self) -> int:
        return self.row.pk


@dataclass(eq=False)
class _OpenAccount:
    member_id: int
    ledger: AccountLedger
    row: tuple | None  # balances as loaded; None: inserted when closed (a member new in this transaction)
    last_at: dt.datetime | None = None
    standing: MemberStanding = NO_STANDING  # tier, segments and stamps as the rules need them
    cards: dict[int, list] | None = None  # rule id -> [card pk or None, stamps, completed], once stamped
    # The member's earliest purchase, in the database or in this load, when
    # known (``purchases_known``): the first-purchase rules need it, and
    # knowing it spares a query per purchase.
    purchases_known: bool = False
    earliest_purchase_at: dt.datetime | None = None
    tier: _TierState | None = None  # only when a tier can be reached by spend or points


def tier_window_start_before(since: dt.datetime | None, program: Program) -> dt.datetime | None:
    """The earliest (excluded) moment a window of an event at or after ``since``
    reaches back to; ``None``: unbounded."""
    if since is None:
        return None
    start, _end = tier_upgrade_window(at=since, program=program)
    return start


def _has_earlier(account: _OpenAccount, purchased_at: dt.datetime) -> bool | None:
    """Whether the member bought before ``purchased_at`` (``None``: not known here)."""
    if not account.purchases_known:
        return None
    return account.earliest_purchase_at is not None and account.earliest_purchase_at < purchased_at


_AT = itemgetter(0)


@dataclass(eq=False)
class _TierState:
    """A member's tier and what their qualifying value counts, while the account is open.

    ``events`` are ``[at, value]`` cells in time order: each purchase's amount
    less its refunds (spend), or each earn, bonus and reversal (points), from
    the database and from this load. Cells before ``start`` have left the
    window (window starts only move forward, as the events come in time order).
    """

    tier_id: int | None = None
    since: dt.datetime | None = None
    grace_until: dt.datetime | None = None
    in_database: bool = False  # a ``MemberTier`` row exists: updated rather than inserted
    changed: bool = False
    events: list[list] = field(default_factory=list)
    start: int = 0
    by_purchase: dict[int, list] = field(default_factory=dict)  # spend: purchase pk -> its cell

    def add(self, at: dt.datetime, value: Decimal | int, purchase_id: int | None = None) -> None:
        cell = [at, value]
        if not self.events or self.events[-1][0] <= at:
            self.events.append(cell)
        else:  # the database holds later events
            bisect.insort(self.events, cell, lo=self.start, key=_AT)
        if purchase_id is not None:
            self.by_purchase[purchase_id] = cell

    def value(self, start: dt.datetime, end: dt.datetime) -> Decimal:
        """The qualifying value over ``(start, end]``."""
        events = self.events
        self.start = bisect.bisect_right(events, start, lo=self.start, key=_AT)
        if self.start > 256 and self.start * 2 > len(events):  # forget what left the window
            del events[:self.start]
            self.start = 0
        end_index = bisect.bisect_right(events, end, lo=self.start, key=_AT)
        return Decimal(sum((cell[1] for cell in itertools.islice(events, self.start, end_index)), 0))


@dataclass
class BulkStats:
    purchases: int = 0
    lines: int = 0
    refunds: int = 0
    lots: int = 0
    entries: int = 0
    accounts: int = 0
    points_earned: int = 0
    points_reversed: int = 0
    tier_upgrades: int = 0
    stamp_vouchers: int = 0  # vouchers owed by full stamp cards (one per card)


PURCHASE_FIELDS = (
    "id", "external_id", "store_id", "member_id", "purchased_at", "amount", "currency",
    "refunded_amount", "points", "points_kept", "payload_hash", "source", "recorded_by_id",
    "recorded_at",
)
LINE_FIELDS = ("purchase_id", "sku", "category", "quantity", "amount")
REFUND_FIELDS = (
    "id", "external_id", "purchase_id", "amount", "refunded_at", "points_reversed",
    "payload_hash", "source", "recorded_by_id", "recorded_at",
)
LOT_FIELDS = (
    "id", "account_id", "purchase_id", "points", "remaining", "status", "earned_at",
    "available_at", "expires_at",
)
ENTRY_FIELDS = (
    "account_id", "kind", "points", "available_delta", "pending_delta", "debt_delta",
    "effective_at", "recorded_at", "idempotency_key", "lot_id", "purchase_id", "refund_id",
    "breakdown", "reason", "actor_id",
)
_PURCHASE_POSITIONAL = tuple(field.attname for field in Purchase._meta.concrete_fields) == PURCHASE_FIELDS
ZERO = Decimal("0.00")
ACCOUNT_FIELDS = ("member_id", "available", "pending", "debt", "next_due_at")
ACCOUNT_BALANCES = ("available", "pending", "debt", "next_due_at")
CARD_FIELDS = ("member_id", "rule_id", "stamps", "completed", "updated_at")
MEMBER_TIER_FIELDS = ("member_id", "tier_id", "since", "grace_until", "vip_until")
TIER_CHANGE_FIELDS = ("member_id", "from_tier_id", "to_tier_id", "reason", "at")


class BulkLedger:
    """Purchases and refunds in bulk, through ``AccountLedger``; see the module docstring.

    Use inside ``transaction.atomic()``: ``accounts_prepare`` (ascending member
    ids), then per member ``purchase_add`` / ``refund_add`` in time order and
    ``account_close``; purchases without a member at any point; ``finish`` at
    the end. The caller validates its input (``purchase_validate``); the
    refund checks of ``refund_record`` (refundable amount, not before the
    purchase) are repeated here and raise the same errors.
    """

    def __init__(
        self,
        *,
        program: Program,
        source: str,
        now: dt.datetime | None = None,
        recorded_by_id: int | None = None,
        batch_size: int = BATCH_SIZE,
        threaded: bool = True,
        statement_rows: int = BATCH_SIZE,
    ) -> None:
        self.program = program
        self.rules = ledger_rules(program)
        self.source = source
        self.now = now or timezone.now()
        self.recorded_by_id = recorded_by_id
        self.batch_size = batch_size
        self.stats = BulkStats()
        self._accounts: dict[int, _OpenAccount] = {}
        self._earliest_in_load: dict[int, dt.datetime] = {}  # member -> earliest purchase of this load
        # On PostgreSQL ids come from a connection of their own, so that reserving
        # them never waits for the writer's COPY on the main connection.
        self._sequences = connections.create_connection(DEFAULT_DB_ALIAS) if on_postgres() and threaded else None
        self._purchase_ids = self.id_pool(Purchase)
        self._refund_ids = self.id_pool(Refund)
        self._lot_ids = self.id_pool(PointsLot)
        self._purchases: list[BulkPurchase] = []
        self.statement_rows = statement_rows
        self._lines = RowBuffer(PurchaseLine, LINE_FIELDS, statement_rows=statement_rows)
        self._refunds = RowBuffer(Refund, REFUND_FIELDS, statement_rows=statement_rows)
        self._lots = RowBuffer(PointsLot, LOT_FIELDS, statement_rows=statement_rows)
        self._entries = RowBuffer(LedgerEntry, ENTRY_FIELDS, statement_rows=statement_rows)
        self._new_accounts = RowBuffer(PointsAccount, ACCOUNT_FIELDS, statement_rows=statement_rows)
        self._account_updates: list[tuple] = []
        self._lot_updates: list[tuple] = []
        self._new_cards = RowBuffer(StampCard, CARD_FIELDS, statement_rows=statement_rows)
        self._card_updates: list[tuple] = []
        self._usage = RuleUsageBook()  # rows locked until the load commits
        # Upgrades as the history goes, when a tier can be reached by spend or points.
        self._tiers: TierTable = tier_table()
        self._tiering = bool(self._tiers.qualifying)
        self._new_member_tiers = RowBuffer(MemberTier, MEMBER_TIER_FIELDS, statement_rows=statement_rows)
        self._member_tier_updates: list[tuple] = []
        self._tier_changes = RowBuffer(TierChange, TIER_CHANGE_FIELDS, statement_rows=statement_rows)
        self._tier_closed: set[int] = set()  # accounts closed by this load (their rows may still be queued)
        self._usage_totals_locked = False
        self._purchase_updates: dict[int, tuple] = {}
        self._db_lots: dict[int, tuple[Lot | None, dict[int, int]]] = {}
        self._stamp_rewards: list[StampCardReward] = []  # issued by finish, once the rows are written
        self._finished = False
        if on_postgres():
            # Check foreign keys statement by statement (the rows are written in
            # dependency order) rather than all at commit: the work overlaps with
            # Python, and the server queues no trigger event per row.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        self._writer = BulkWriter(threaded=threaded and on_postgres())

    def id_pool(self, model: type[models.Model]) -> IdPool:
        """Primary keys for new rows of ``model`` (e.g. members written with ``rows_insert``)."""
        return IdPool(model, using=self._sequences)

    def __enter__(self) -> BulkLedger:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.finish()
            return
        self._close()

    def _close(self) -> None:
        self._writer.close()
        if self._sequences is not None:
            self._sequences.close()

    # -- accounts ------------------------------------------------------------

    def accounts_prepare(
        self, member_ids: Iterable[int], *, new: bool = False, since: dt.datetime | None = None
    ) -> None:
        """Open these members' accounts for appending.

        Existing accounts are locked (``SELECT ... FOR UPDATE``, primary-key
        order) and loaded with their open lots; a member without an account
        gets an empty one first (inserted ignoring a concurrent insert, then
        locked, as ``account_lock`` does). ``new=True`` declares members
        created in this same transaction, who cannot have an account or be
        seen by anyone else: their accounts are inserted when closed.
        ``since``, when the caller knows it, is no later than the first event
        it will feed for these members: the tier windows are read from the
        window before it rather than from the members' whole history.
        """
        ids = sorted(set(member_ids) - self._accounts.keys())
        if not ids:
            return
        if new:  # written by this load: no tier, segment, stamp card or purchase yet
            for member_id in ids:
                self._accounts[member_id] = _OpenAccount(
                    member_id, self._empty_ledger(), None, cards={}, purchases_known=True,
                    tier=_TierState() if self._tiering else None,
                )
            return
        if self._tiering and not self._tier_closed.isdisjoint(ids):
            # Opened again: what the load wrote for them must be in the database to be read back.
            self.flush()
            self._writer.wait()
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            locked = _accounts_lock(chunk)
            lots: dict[int, list[Lot]] = {row[0]: [] for row in locked}
            for row in open_lots_query(lots).values_list(*LOT_ROW):
                lots[row[1]].append(Lot(
                    pk=row[0], purchase_id=row[2], points=row[3], remaining=row[4], status=row[5],
                    earned_at=row[6], available_at=row[7], expires_at=row[8],
                ))
            for member_id, available, pending, debt, next_due_at in locked:
                ledger = AccountLedger(
                    rules=self.rules, available=available, pending=pending, debt=debt,
                    next_due_at=next_due_at, load_lots=lots[member_id].copy,
                )
                self._accounts[member_id] = _OpenAccount(
                    member_id, ledger, (available, pending, debt, next_due_at)
                )
            self._standings_load([row[0] for row in locked])
            self._earliest_purchases_load([row[0] for row in locked])
            self._tiers_load([row[0] for row in locked], since=since)

    def _earliest_purchases_load(self, member_ids: list[int]) -> None:
        """Each member's earliest purchase in the database, when a rule is for
        first purchases: one query per chunk of accounts, none per purchase."""
        if not active_rules().needs.first_purchase:
            return
        earliest = dict(
            Purchase.objects.filter(member_id__in=member_ids)
            .values("member_id").annotate(first=models.Min("purchased_at")).values_list("member_id", "first")
            .order_by()
        )
        for member_id in member_ids:
            account = self._accounts[member_id]
            account.purchases_known = True
            # A purchase of this load may still be queued (its account closed and opened again).
            known = [at for at in (earliest.get(member_id), self._earliest_in_load.get(member_id)) if at]
            account.earliest_purchase_at = min(known, default=None)

    def _tiers_load(self, member_ids: list[int], *, since: dt.datetime | None) -> None:
        """Each member's tier (one query) and what their qualification window
        counts from the database (one query: purchases or ledger entries), when
        a tier can be reached; nothing otherwise."""
        if not self._tiering:
            return
        states = {member_id: _TierState() for member_id in member_ids}
        for member_id, tier_id, since_at, grace_until in MemberTier.objects.filter(
            member_id__in=member_ids
        ).values_list("member_id", "tier_id", "since", "grace_until"):
            state = states[member_id]
            state.tier_id, state.since, state.grace_until, state.in_database = tier_id, since_at, grace_until, True
        after = tier_window_start_before(since, self.program)
        if self.program.tier_metric == "points":
            rows = LedgerEntry.objects.filter(account_id__in=member_ids, kind__in=QUALIFYING_KINDS)
            if after is not None:
                rows = rows.filter(effective_at__gt=after)
            for member_id, at, points in rows.order_by("effective_at", "pk").values_list(
                "account_id", "effective_at", "points"
            ):
                states[member_id].add(at, points)
        else:
            rows = Purchase.objects.filter(member_id__in=member_ids)
            if after is not None:
                rows = rows.filter(purchased_at__gt=after)
            for member_id, pk, at, amount, refunded in rows.order_by("purchased_at", "pk").values_list(
                "member_id", "pk", "purchased_at", "amount", "refunded_amount"
            ):
                states[member_id].add(at, amount - refunded, pk)
        for member_id, state in states.items():
            self._accounts[member_id].tier = state

    def _tier_upgrade(self, account: _OpenAccount, at: dt.datetime) -> None:
        """The upgrade at once of ``tier_upgrade_if_qualified``, after the earn of a
        purchase at ``at``, on the member's window as this load knows it: the
        same decision (``TierTable.upgrade_to``), the same window
        (``tier_upgrade_window``), dated at the purchase. The tier's multiplier
        and conditions apply from the member's next purchase."""
        state = account.tier
        table = self._tiers
        current = table.get(state.tier_id)
        in_grace = state.grace_until is not None
        if not table.upgrade_possible(current=current, in_grace=in_grace):
            return
        start, end = tier_upgrade_window(at=at, program=self.program)
        target = table.upgrade_to(current=current, in_grace=in_grace, value=state.value(start, end))
        if target is None:
            return
        self._tier_changes.add((account.member_id, state.tier_id, target.id, TierChange.Reason.QUALIFIED, at))
        if current is None or target.id != current.id:
            state.tier_id, state.since = target.id, at
            account.standing = replace(
                account.standing, tier_id=target.id, tier_code=target.code, tier_multiplier=target.multiplier
            )
            self.stats.tier_upgrades += 1
        state.grace_until = None
        state.changed = True

    def _standings_load(self, member_ids: list[int]) -> None:
        """The tier, segments and stamp cards of these members, as the active rules need
        them (``member_standings``: no query when none does), and their cards of the
        active stamp rules (one query, only when there are some)."""
        standings = member_standings(member_ids=member_ids)
        stamp_ids = active_rules().stamp_rule_ids
        cards: dict[int, dict[int, list]] = {}
        if stamp_ids:
            rows = StampCard.objects.filter(member_id__in=member_ids, rule_id__in=stamp_ids)
            for pk, member_id, rule_id, stamps, completed in rows.values_list(
                "pk", "member_id", "rule_id", "stamps", "completed"
            ):
                cards.setdefault(member_id, {})[rule_id] = [pk, stamps, completed, False]
        for member_id in member_ids:
            account = self._accounts[member_id]
            account.standing = standings.get(member_id, NO_STANDING)
            account.cards = cards.get(member_id, {}) if stamp_ids else None

    def _card(self, account: _OpenAccount, rule_id: int) -> list:
        """``[pk or None, stamps, completed, changed]`` of the member's card of ``rule_id``."""
        if account.cards is None:
            account.cards = {}
        card = account.cards.get(rule_id)
        if card is None:
            found = None
            if account.row is not None:  # a card of a rule not active now (refunds), read when needed
                found = StampCard.objects.filter(member_id=account.member_id, rule_id=rule_id).values_list(
                    "pk", "stamps", "completed"
                ).first()
            card = account.cards[rule_id] = [*found, False] if found else [None, 0, 0, False]
        return card

    def rows_insert(self, model: type[models.Model], fields: Sequence[str], rows: list[tuple]) -> None:
        """Insert other rows (e.g. new members) through the writer, in order with the rest.

        Everything queued before is written first; rows queued later may refer to these.
        """
        self.flush()
        if rows:
            self._writer.submit(insert_job(model, fields, rows, statement_rows=self.statement_rows))

    def _empty_ledger(self) -> AccountLedger:
        return AccountLedger(
            rules=self.rules, available=0, pending=0, debt=0, next_due_at=None, load_lots=list
        )

    def _account(self, member_id: int, at: dt.datetime) -> _OpenAccount:
        account = self._accounts.get(member_id)
        if account is None:
            self.accounts_prepare([member_id])
            account = self._accounts[member_id]
        if account.last_at is not None and at < account.last_at:
            raise ValueError(
                f"events of member {member_id} out of time order: {at} after {account.last_at}"
            )
        account.last_at = at
        return account

    def account_close(self, member_id: int) -> None:
        """Settle the account to ``now`` and queue its lots, entries and balances.

        Releases and expiries due by ``now`` are dated when they fell due.
        """
        account = self._accounts.pop(member_id, None)
        if account is None:
            return
        ledger = account.ledger
        ledger.settle(self.now)
        new_lots = {id(lot) for lot in ledger.new_lots}
        for lot in ledger.new_lots:
            self._lots.add((
                lot.pk, member_id, lot.purchase_id, lot.points, lot.remaining, lot.status,
                lot.earned_at, lot.available_at, lot.expires_at,
            ))
        self.stats.lots += len(new_lots)
        for lot in ledger.lots_in_memory():
            if lot.changed and id(lot) not in new_lots:
                self._lot_updates.append((lot.pk, lot.remaining, lot.status))
        for draft in ledger.entries:
            lot_id = draft.lot.pk if draft.lot is not None else None
            self._entries.add((
                member_id, draft.kind, draft.points, draft.available_delta, draft.pending_delta,
                draft.debt_delta, draft.effective_at, self.now,
                draft.idempotency_key or f"{draft.kind}:{lot_id}", lot_id, draft.purchase_id,
                draft.refund_id, draft.breakdown, draft.reason, draft.actor_id,
            ))
        self.stats.entries += len(ledger.entries)
        for rule_id, (pk, stamps, completed, changed) in (account.cards or {}).items():
            if changed and pk is None:
                self._new_cards.add((member_id, rule_id, stamps, completed, self.now))
            elif changed:
                self._card_updates.append((pk, stamps, completed, self.now))
        state = account.tier
        if state is not None:
            self._tier_closed.add(member_id)
            if state.changed and state.in_database:
                self._member_tier_updates.append((member_id, state.tier_id, state.since, state.grace_until))
            elif state.changed:
                self._new_member_tiers.add((member_id, state.tier_id, state.since, None, None))
        balances = (ledger.available, ledger.pending, ledger.debt, ledger.next_due_at)
        if account.row is None:
            self._new_accounts.add((member_id, *balances))
        elif balances != account.row:
            self._account_updates.append((member_id, *balances))
        self.stats.accounts += 1
        self._flush_if_full()

    # -- events --------------------------------------------------------------

    def purchase_add(
        self,
        *,
        external_id: str,
        store_id: int,
        member_id: int | None,
        purchased_at: dt.datetime,
        amount: Decimal,
        lines: Sequence[LineInput] = (),
        payload_hash: str | None = None,
    ) -> BulkPurchase:
        """Record a purchase and, for a member, credit what ``purchase_earning`` says it earns.

        The points are pending until the return window ends and expire with
        the program's expiry, both counted from ``purchased_at``, as in
        ``purchase_record``. ``amount`` must already be validated.
        """
        pk = self._purchase_ids.take()
        if payload_hash is None:
            payload_hash = purchase_payload_hash(
                store_id=store_id, member_id=member_id, purchased_at=purchased_at, amount=amount,
                currency=self.program.currency, lines=lines,
            )
        values = (
            pk, external_id, store_id, member_id, purchased_at, amount, self.program.currency,
            ZERO, 0, 0, payload_hash, self.source, self.recorded_by_id, self.now,
        )
        # Positional arguments take Django's fast path (a third of the time of keywords).
        row = Purchase(*values) if _PURCHASE_POSITIONAL else Purchase(**dict(zip(PURCHASE_FIELDS, values, strict=True)))
        purchase = BulkPurchase(row=row)
        if member_id is not None:
            account = self._account(member_id, purchased_at)
            earning = purchase_earning(
                purchase=row, lines=lines, program=self.program,
                has_earlier=partial(_has_earlier, account, purchased_at),
                standing=account.standing,
            )
            if earning.evaluation is not None:
                earning = self._capped(earning, member_id=member_id, purchased_at=purchased_at)
                if earning.evaluation.stamps:
                    purchase.stamps = self._stamp(account, earning)
                    if earning.evaluation.vouchers:
                        self._stamp_rewards.extend(stamp_card_rewards_due(
                            member_id=member_id, evaluation=earning.evaluation, key=f"purchase:{pk}",
                            at=min(purchased_at, self.now),
                        ))
            if account.purchases_known and (
                account.earliest_purchase_at is None or purchased_at < account.earliest_purchase_at
            ):
                account.earliest_purchase_at = purchased_at
            if member_id not in self._earliest_in_load or purchased_at < self._earliest_in_load[member_id]:
                self._earliest_in_load[member_id] = purchased_at
            row.points = row.points_kept = earning.points
            entry = earning_credit(account.ledger, earning=earning, purchase_id=pk, purchased_at=purchased_at)
            if entry is not None and entry.lot is not None:
                purchase.lot = entry.lot
                purchase.lot.pk = self._lot_ids.take()
                self.stats.points_earned += earning.points
            if account.tier is not None:
                if self.program.tier_metric == "points":
                    account.tier.add(purchased_at, earning.points)
                else:
                    account.tier.add(purchased_at, amount, pk)
                self._tier_upgrade(account, purchased_at)
        for line in lines:
            self._lines.add((pk, line.sku, line.category, line.quantity, line.amount))
        self._purchases.append(purchase)
        self.stats.purchases += 1
        self.stats.lines += len(lines)
        if member_id is None:
            self._flush_if_full()
        return purchase

    def _capped(self, earning: Earning, *, member_id: int, purchased_at: dt.datetime) -> Earning:
        """The caps, as the live path applies them; the rows stay locked until the load commits.

        The first time a capped rule gives points, every total budget of the
        active rules is locked at once, in rule id order (as live earns lock them).
        """
        if not capped_rules(earning.evaluation, earning.rules):
            return earning
        if not self._usage_totals_locked:
            self._usage.lock((rule.id, TOTAL) for rule in earning.rules.values() if rule.budget is not None)
            self._usage_totals_locked = True
        evaluation = self._usage.apply(
            evaluation=earning.evaluation, rules=earning.rules, member_id=member_id, purchased_at=purchased_at,
            program=self.program,
        )
        return replace(earning, points=evaluation.points, breakdown=evaluation.breakdown, evaluation=evaluation)

    def _stamp(self, account: _OpenAccount, earning: Earning) -> dict[int, int]:
        """Put an earn's stamps on the member's cards (kept in memory until the account closes)."""
        given = {}
        for rule_id, (stamps, _cards) in earning.evaluation.stamps.items():
            card = self._card(account, rule_id)
            needed = earning.rules[rule_id].stamps_needed
            filled, card[1] = stamp_card_fill(current=card[1], given=stamps, needed=needed)
            card[2] += filled
            card[3] = True
            given[rule_id] = stamps
        account.standing = replace(
            account.standing, stamps={rule_id: card[1] for rule_id, card in account.cards.items()}
        )
        return given

    def refund_add(
        self,
        *,
        external_id: str,
        purchase: BulkPurchase | Purchase,
        amount: Decimal,
        refunded_at: dt.datetime,
    ) -> Refund:
        """Record a refund of (part of) ``purchase`` and reverse the points of that share.

        ``purchase`` is one fed earlier or a row already in the database,
        which the caller has locked (after the member's account, as
        ``refund_record`` does). After the refund the purchase keeps
        ``floor(points × remaining / amount)`` points.
        """
        if isinstance(purchase, BulkPurchase):
            row, lot, in_database = purchase.row, purchase.lot, purchase.written
        else:
            row, lot, in_database = purchase, None, True
        refunded_before = row.refunded_amount
        refunded, kept, reversed_points = refund_apply(purchase=row, amount=amount, refunded_at=refunded_at)
        pk = self._refund_ids.take()
        refund = Refund(
            pk=pk, external_id=external_id, purchase_id=row.pk, amount=amount, refunded_at=refunded_at,
            points_reversed=reversed_points,
            payload_hash=refund_payload_hash(purchase_id=row.pk, amount=amount, refunded_at=refunded_at),
            source=self.source, recorded_by_id=self.recorded_by_id, recorded_at=self.now,
        )
        row.refunded_amount = refunded
        row.points_kept = kept
        if in_database:
            self._purchase_updates[row.pk] = (row.pk, refunded, kept)
        if row.member_id is not None:
            account = self._account(row.member_id, refunded_at)
            if isinstance(purchase, BulkPurchase):
                given = purchase.stamps or {}
            else:
                lot, given = self._database_earn(row.pk)
            removed = stamps_removed(
                given, amount=row.amount, refunded_before=refunded_before, refunded_after=refunded
            ) if given else {}
            for rule_id, stamps in removed.items():
                card = self._card(account, rule_id)
                if card[1] > 0:
                    card[1] -= min(card[1], stamps)
                    card[3] = True
            if removed:
                account.standing = replace(
                    account.standing, stamps={rule_id: card[1] for rule_id, card in account.cards.items()}
                )
            if reversed_points:
                account.ledger.reverse(
                    lot=lot, points=reversed_points, effective_at=refunded_at,
                    idempotency_key=f"refund:{pk}", purchase_id=row.pk, refund_id=pk,
                )
                self.stats.points_reversed += reversed_points
            if account.tier is not None:  # the window counts the refund (no upgrade at a refund, as live)
                if self.program.tier_metric == "points":
                    if reversed_points:
                        account.tier.add(refunded_at, -reversed_points)
                elif (cell := account.tier.by_purchase.get(row.pk)) is not None:
                    cell[1] -= amount
        self._refunds.add((
            pk, external_id, row.pk, amount, refunded_at, reversed_points, refund.payload_hash,
            self.source, self.recorded_by_id, self.now,
        ))
        self.stats.refunds += 1
        if row.member_id is None:
            self._flush_if_full()
        return refund

    def _database_earn(self, purchase_id: int) -> tuple[Lot | None, dict[int, int]]:
        """The lot and the stamps of a purchase already in the database, from its earn entry.

        The engine uses the account's own copy of the lot when it is open.
        """
        if purchase_id not in self._db_lots:
            entry = LedgerEntry.objects.filter(purchase_id=purchase_id, kind=LedgerEntry.Kind.EARN).select_related(
                "lot"
            ).first()
            lot = lot_from_row(entry.lot) if entry is not None and entry.lot is not None else None
            self._db_lots[purchase_id] = (lot, stamps_given(entry.breakdown) if entry is not None else {})
        return self._db_lots[purchase_id]

    # -- writing -------------------------------------------------------------

    def _flush_if_full(self) -> None:
        if max(len(self._purchases), len(self._entries), len(self._lots)) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write what is queued (the accounts still open keep their state).

        Rows go in dependency order (purchases, lines, refunds, new accounts,
        lots, entries, then the updates), as one job of the writer.
        """
        purchases, self._purchases = self._purchases, []
        jobs: list[Callable[..., None]] = []
        if purchases:
            rows = [
                (
                    row.pk, row.external_id, row.store_id, row.member_id, row.purchased_at,
                    row.amount, row.currency, row.refunded_amount, row.points, row.points_kept,
                    row.payload_hash, row.source, row.recorded_by_id, row.recorded_at,
                )
                for row in (purchase.row for purchase in purchases)
            ]
            jobs.append(insert_job(Purchase, PURCHASE_FIELDS, rows, statement_rows=self.statement_rows))
            for purchase in purchases:
                purchase.written = True  # later refunds of it become updates
        for buffer in (
            self._lines, self._refunds, self._new_accounts, self._new_cards, self._lots, self._entries,
            self._new_member_tiers, self._tier_changes,
        ):
            job = buffer.take()
            if job is not None:
                jobs.append(job)
        updates = (
            (Purchase, ("refunded_amount", "points_kept"), list(self._purchase_updates.values())),
            (PointsLot, ("remaining", "status"), self._lot_updates),
            (PointsAccount, ACCOUNT_BALANCES, self._account_updates),
            (StampCard, ("stamps", "completed", "updated_at"), self._card_updates),
            (RuleUsage, ("points",), self._usage.changed()),
            (MemberTier, ("tier_id", "since", "grace_until"), self._member_tier_updates),
        )
        self._purchase_updates, self._lot_updates, self._account_updates, self._card_updates = {}, [], [], []
        self._member_tier_updates = []
        jobs.extend(partial(update_rows, model, fields, rows) for model, fields, rows in updates if rows)
        if jobs:
            self._writer.submit(partial(_run_all, jobs))

    def finish(self) -> BulkStats:
        """Close every account still open (ascending member id), write everything, wait for
        it; then issue the vouchers of the stamp cards filled (their purchases and members
        are written by then), in member order."""
        if self._finished:
            return self.stats
        for member_id in sorted(self._accounts):
            self.account_close(member_id)
        self.flush()
        try:
            self._writer.wait()
        finally:
            self._close()
        rewards, self._stamp_rewards = self._stamp_rewards, []
        rewards.sort(key=lambda due: (due.member_id, due.at, due.key, due.rule_id))
        self.stats.stamp_vouchers += stamp_card_rewards_issue(rewards)
        if on_postgres():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        self._finished = True
        return self.stats


def _run_all(jobs: list[Callable[..., None]], cursor=None) -> None:
    for job in jobs:
        job(cursor=cursor)
