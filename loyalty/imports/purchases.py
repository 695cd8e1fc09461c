"""``import_purchases``: purchases and refunds from an old system or a POS export.

Two passes in one transaction:

1. Validate. The file streams through row checks (formats, stores, members,
   ``purchase_validate``: the live service's own rules); valid rows go to a
   temporary table (see ``staging``). The database then answers the checks
   that span rows: an external id twice in the file; one already imported
   (same data: skipped; other data: an error); refunds (of a purchase
   earlier in the file or already imported, at most what is still
   refundable counting earlier refunds in the file, not before the purchase).
   Any error: the transaction is rolled back and nothing is written.
2. Write. The staged rows come back sorted by member and time and go through
   ``BulkLedger``: the ledger of each member is what live use would have
   produced (points earned at ``purchased_at``, pending and expiry counted
   from then, releases and expiries dated when they fell due).

Memory: one chunk of rows (5,000) and one member's history at a time, plus
the program's stores. No set of external ids or rows is kept in Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from loyalty.exceptions import CurrencyMismatch, ExternalIdConflict, RefundBeforePurchase, RefundTooLarge
from loyalty.ledger.bulk import BulkLedger, BulkPurchase
from loyalty.models import Program, Purchase, Refund, Source, Store
from loyalty.services.program import program_get
from loyalty.services.purchases import (
    money_clean,
    purchase_payload_hash,
    purchase_validate,
    refund_payload_hash,
)
from members.exceptions import LoyaltyError
from members.models import Member

from . import csvfile
from .csvfile import Column, ErrorReport, ImportResult, Rollback, RowReader, binary_input
from .errors import (
    DuplicateInFile,
    RefersToLater,
    RefersToMissing,
    RefersToNotForPurchases,
    RefundMemberMismatch,
    UnknownMember,
    UnknownStore,
    ValueRequired,
)
from .staging import StageTable, execute, stream

COLUMNS = (
    Column("external_id", required=True),
    Column("member"),
    Column("store", required=True),
    Column("purchased_at", required=True),
    Column("amount", required=True),
    Column("currency"),
    Column("kind"),
    Column("refers_to"),
)
KINDS = {"purchase": "p", "refund": "r"}
CHUNK = 5000
STAGE = "import_purchase_rows"
MARKS = "import_purchase_marks"


@dataclass
class PurchaseImportResult(ImportResult):
    purchases: int = 0
    refunds: int = 0
    points_earned: int = 0
    points_reversed: int = 0
    accounts: int = 0


def import_purchases(*, file: str | Path | BinaryIO, now: dt.datetime | None = None) -> PurchaseImportResult:
    """Import purchases and refunds from a CSV file (see BRIEF.md "Data in and out").

    All or nothing: one transaction; any bad row and nothing is written
    (the errors come back, each with its line and field). Re-running the same
    file changes nothing: rows already imported with the same data are
    skipped. Locks the accounts of the members concerned (primary-key order)
    and the already-imported purchases that the file refunds.
    """
    now = now or timezone.now()
    program = program_get()
    with binary_input(file) as handle:
        return _import(handle, program=program, now=now)


def _import(handle: BinaryIO, *, program: Program, now: dt.datetime) -> PurchaseImportResult:
    report = ErrorReport()
    result = PurchaseImportResult()
    try:
        with transaction.atomic():
            stage = StageTable(STAGE, [
                ("line", "int"), ("kind", "text"), ("external_id", "text"), ("member_id", "bigint"),
                ("store_id", "bigint"), ("at_us", "bigint"), ("amount", "text"), ("refers_to", "text"),
                ("payload_hash", "text"), ("skip", "int"),
            ]).create()
            marks = StageTable(MARKS, [
                ("line", "int"), ("member_id", "bigint"), ("target_id", "bigint"), ("skip", "int"),
            ]).create()
            reader = RowReader(handle, COLUMNS, report)
            _validate_rows(reader, stage, program=program, now=now, report=report)
            result.rows = reader.rows_read
            if report.fatal:
                raise Rollback
            _check_across_rows(stage, marks, report=report)
            if report:
                raise Rollback
            _write(program=program, now=now, result=result, report=report)
            stage.drop()
            marks.drop()
    except Rollback:
        result = PurchaseImportResult(rows=result.rows)
    result.error_count = report.count
    result.errors = report.errors
    return result


# -- pass 1: every row on its own --------------------------------------------------


@dataclass
class _Row:
    line: int
    kind: str
    external_id: str
    member_ref: str
    store_id: int | None
    purchased_at: dt.datetime | None
    amount: str
    currency: str
    refers_to: str
    bad: bool


def _validate_rows(reader: RowReader, stage: StageTable, *, program: Program, now, report: ErrorReport) -> None:
    stores = dict(Store.objects.values_list("code", "pk"))
    chunk: list[_Row] = []
    for line, values in reader:
        chunk.append(_parse(line, values, stores=stores, program=program, report=report))
        if len(chunk) >= CHUNK:
            _stage_chunk(chunk, stage, program=program, now=now, report=report)
            chunk = []
    _stage_chunk(chunk, stage, program=program, now=now, report=report)
    stage.flush()


def _parse(line: int, values: dict[str, str], *, stores, program: Program, report: ErrorReport) -> _Row:
    """The row's cells, each checked on its own (every bad cell is reported)."""
    errors_before = report.count

    def check(name, parse, *args, **kwargs):
        try:
            return parse(values[name], *args, **kwargs)
        except LoyaltyError as error:
            report.add(line, name, error)
            return None

    external_id = check("external_id", csvfile.required, limit=64)
    kind = check("kind", csvfile.choice, KINDS, default="p")
    store_id = None
    if not values["store"]:
        report.add(line, "store", ValueRequired())
    else:
        store_id = stores.get(values["store"])
        if store_id is None:
            report.add(line, "store", UnknownStore(value=values["store"]))
    purchased_at = check("purchased_at", csvfile.instant, tz=program.tz, date_allowed=False)
    if not values["amount"]:
        report.add(line, "amount", ValueRequired())
    else:
        check("amount", money_clean, currency=program.currency)
    if values["currency"] and values["currency"].upper() != program.currency:
        report.add(line, "currency", CurrencyMismatch(given=values["currency"], expected=program.currency))
    refers_to = check("refers_to", csvfile.optional, limit=64)
    if kind == "r" and not refers_to:
        report.add(line, "refers_to", ValueRequired())
    elif kind == "p" and refers_to:
        report.add(line, "refers_to", RefersToNotForPurchases())
    return _Row(
        line=line, kind=kind, external_id=external_id, member_ref=values["member"], store_id=store_id,
        purchased_at=purchased_at, amount=values["amount"], currency=values["currency"], refers_to=refers_to,
        bad=report.count != errors_before,
    )


def _members_by_reference(references: set[str]) -> dict[str, Member]:
    """Members by external id, else by card number (one query each per chunk)."""
    found: dict[str, Member] = {}
    fields = ("pk", "external_id", "card_number", "status")
    for member in Member.objects.filter(external_id__in=references).only(*fields):
        found[member.external_id] = member
    rest = references - found.keys()
    if rest:
        for member in Member.objects.filter(card_number__in=rest).only(*fields):
            found[member.card_number] = member
    return found


def _stage_chunk(chunk: list[_Row], stage: StageTable, *, program: Program, now, report: ErrorReport) -> None:
    """Check the rows' members and business rules; stage every row.

    A bad row is staged too (kind ``x``), so that the checks across rows still
    see its external id: a duplicate of it is reported, a refund of it is not.
    """
    members = _members_by_reference({row.member_ref for row in chunk if row.member_ref})
    for row in chunk:
        member = members.get(row.member_ref) if row.member_ref else None
        if row.member_ref and member is None:
            report.add(row.line, "member", UnknownMember(value=row.member_ref))
            row.bad = True
        if not row.bad:
            try:
                amount = purchase_validate(
                    program=program, member=member if row.kind == "p" else None,
                    purchased_at=row.purchased_at, amount=row.amount, currency=row.currency, now=now,
                )
            except LoyaltyError as error:
                report.add(row.line, error.field or None, error)
                row.bad = True
        if row.bad:
            if row.external_id:
                stage.add((row.line, "x", row.external_id, None, None, 0, "0", None, None, 2))
            continue
        payload_hash = None
        if row.kind == "p":
            payload_hash = purchase_payload_hash(
                store_id=row.store_id, member_id=member.pk if member else None,
                purchased_at=row.purchased_at, amount=amount, currency=program.currency, lines=(),
            )
        stage.add((
            row.line, row.kind, row.external_id, member.pk if member else None, row.store_id,
            csvfile.to_micros(row.purchased_at), str(amount), row.refers_to or None, payload_hash, 0,
        ))


# -- pass 1, continued: checks across rows, in the database ------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _check_across_rows(stage: StageTable, marks: StageTable, *, report: ErrorReport) -> None:
    stage.index("external_id")
    stage.index("line", unique=True)
    purchase, refund = _table(Purchase), _table(Refund)

    # The same external id twice in the file: every later line is an error.
    for rows in stream(
        f"SELECT s.line, s.external_id, f.first_line FROM {STAGE} s "  # noqa: S608
        f"JOIN (SELECT external_id, MIN(line) AS first_line FROM {STAGE} "
        "GROUP BY external_id HAVING COUNT(*) > 1) f ON f.external_id = s.external_id "
        "WHERE s.line > f.first_line"
    ):
        for line, external_id, first_line in rows:
            report.add(line, "external_id", DuplicateInFile(value=external_id, line=first_line))

    # Purchases imported before: the same data is skipped, other data refused.
    execute(
        f"UPDATE {STAGE} SET skip = 1 WHERE kind = 'p' AND EXISTS ("  # noqa: S608
        f"SELECT 1 FROM {purchase} p WHERE p.external_id = {STAGE}.external_id "
        f"AND p.payload_hash = {STAGE}.payload_hash)"
    )
    for rows in stream(
        f"SELECT s.line, s.external_id FROM {STAGE} s JOIN {purchase} p "  # noqa: S608
        "ON p.external_id = s.external_id WHERE s.kind = 'p' AND s.skip = 0"
    ):
        for line, external_id in rows:
            report.add(line, "external_id", ExternalIdConflict(external_id=external_id, what="purchase"))

    # Refunds, grouped by the purchase they refund, in file order.
    group: str | None = None
    refundable = Decimal(0)
    last_line = None
    for rows in stream(
        "SELECT r.line, r.external_id, r.refers_to, r.amount, r.at_us, r.member_id, "  # noqa: S608
        "p.line, p.kind, p.amount, p.at_us, p.member_id, p.skip, "
        "d.id, d.amount, d.refunded_amount, d.purchased_at, d.member_id, "
        "x.id, x.purchase_id, x.payload_hash "
        f"FROM {STAGE} r "
        f"LEFT JOIN {STAGE} p ON p.external_id = r.refers_to AND p.kind IN ('p', 'x') "
        f"LEFT JOIN {purchase} d ON d.external_id = r.refers_to "
        f"LEFT JOIN {refund} x ON x.external_id = r.external_id "
        "WHERE r.kind = 'r' ORDER BY r.refers_to, r.line, p.line"
    ):
        for row in rows:
            (line, external_id, refers_to, amount, at_us, member_id,
             p_line, p_kind, p_amount, p_at_us, p_member_id, p_skip,
             d_id, d_amount, d_refunded, d_at, d_member_id,
             x_id, x_purchase_id, x_hash) = row
            if line == last_line:
                continue  # the purchase id is in the file twice: reported above
            last_line = line
            if p_kind == "x":
                continue  # the refunded purchase's own line is reported
            amount = Decimal(amount)
            at = csvfile.from_micros(at_us)
            new_purchase = p_line is not None and not p_skip
            if refers_to != group:
                group = refers_to
                if new_purchase:
                    refundable = Decimal(p_amount)
                elif d_id is not None:
                    refundable = _decimal(d_amount) - _decimal(d_refunded)
            if new_purchase:
                if p_line > line:
                    report.add(line, "refers_to", RefersToLater(value=refers_to, line=p_line))
                    continue
                target_id, target_at, target_member = None, csvfile.from_micros(p_at_us), p_member_id
            elif d_id is not None:
                target_id, target_at, target_member = d_id, _aware(d_at), d_member_id
            else:
                report.add(line, "refers_to", RefersToMissing(value=refers_to))
                continue
            if x_id is not None:
                same = target_id is not None and x_purchase_id == target_id and x_hash == refund_payload_hash(
                    purchase_id=target_id, amount=amount, refunded_at=at
                )
                if same:
                    marks.add((line, None, None, 1))
                else:
                    report.add(line, "external_id", ExternalIdConflict(external_id=external_id, what="refund"))
                continue
            if member_id is not None and member_id != target_member:
                report.add(line, "member", RefundMemberMismatch(value=refers_to))
            elif at < target_at:
                report.add(line, "purchased_at", RefundBeforePurchase())
            elif amount > refundable:
                report.add(line, "amount", RefundTooLarge(refundable=refundable))
            else:
                refundable -= amount
                marks.add((line, target_member, target_id, 0))
    marks.index("line", unique=True)


def _decimal(value) -> Decimal:
    """A money value read with raw SQL (SQLite gives a float for a decimal column)."""
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(Decimal("0.01"))


def _aware(value) -> dt.datetime:
    """A date-time read with raw SQL (naive UTC on SQLite)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt.UTC)


# -- pass 2: write, member by member, in time order ---------------------------------

ORDERED = (
    "SELECT s.line, s.kind, s.external_id, COALESCE(m.member_id, s.member_id), s.store_id, s.at_us, "  # noqa: S608
    "s.amount, s.refers_to, s.payload_hash, m.target_id "
    f"FROM {STAGE} s LEFT JOIN {MARKS} m ON m.line = s.line "
    "WHERE s.skip = 0 AND COALESCE(m.skip, 0) = 0 "
    "ORDER BY CASE WHEN COALESCE(m.member_id, s.member_id) IS NULL THEN 1 ELSE 0 END, "
    "COALESCE(m.member_id, s.member_id), "
    "CASE WHEN COALESCE(m.member_id, s.member_id) IS NULL THEN COALESCE(s.refers_to, s.external_id) "
    "ELSE '' END, s.at_us, s.line"
)


def _write(*, program: Program, now, result: PurchaseImportResult, report: ErrorReport) -> None:
    result.skipped = (
        _count(f"SELECT COUNT(*) FROM {STAGE} WHERE skip = 1")  # noqa: S608
        + _count(f"SELECT COUNT(*) FROM {MARKS} WHERE skip = 1")  # noqa: S608
    )
    key: tuple | None = None
    in_file: dict[str, BulkPurchase] = {}  # this member's (or group's) purchases from the file
    in_database: dict[int, Purchase] = {}  # already-imported purchases it refunds, locked
    # Short COPY statements: this loop reads and locks on the connection the writer shares.
    with BulkLedger(program=program, source=Source.IMPORT, now=now, statement_rows=2000) as bulk:
        for rows in stream(ORDERED, size=2 * CHUNK):
            member_rows = [row for row in rows if row[3] is not None]
            if member_rows:  # the tier windows need only what comes before the chunk's first event
                bulk.accounts_prepare(
                    (row[3] for row in member_rows), since=csvfile.from_micros(min(row[5] for row in member_rows))
                )
            targets = {row[9] for row in rows if row[9] is not None} - in_database.keys()
            locked = {
                purchase.pk: purchase
                for purchase in Purchase.objects.select_for_update().filter(pk__in=targets).order_by("pk")
            } if targets else {}
            for line, kind, external_id, member_id, store_id, at_us, amount, refers_to, payload_hash, target_id in rows:
                row_key = (member_id, "") if member_id is not None else (None, refers_to or external_id)
                if row_key != key:
                    if key is not None and key[0] is not None:
                        bulk.account_close(key[0])
                    key = row_key
                    in_file = {}
                    in_database = {}
                at = csvfile.from_micros(at_us)
                try:
                    if kind == "p":
                        in_file[external_id] = bulk.purchase_add(
                            external_id=external_id, store_id=store_id, member_id=member_id,
                            purchased_at=at, amount=Decimal(amount), payload_hash=payload_hash,
                        )
                    else:
                        if target_id is not None:
                            if target_id not in in_database:
                                in_database[target_id] = locked[target_id]
                            purchase = in_database[target_id]
                        else:
                            purchase = in_file[refers_to]
                        bulk.refund_add(external_id=external_id, purchase=purchase, amount=Decimal(amount),
                                        refunded_at=at)
                except LoyaltyError as error:  # changed since validation by a concurrent refund
                    report.add(line, error.field or None, error)
        if report:
            raise Rollback
        stats = bulk.finish()
    result.purchases = stats.purchases
    result.refunds = stats.refunds
    result.points_earned = stats.points_earned
    result.points_reversed = stats.points_reversed
    result.accounts = stats.accounts


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]
