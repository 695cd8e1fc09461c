"""Everything the program holds about one member, for their own download.

It lives in ``loyalty`` because it reads both apps (members never imports
loyalty). Two shapes of the same sections:

* JSON (``member_export_json_chunks``): one object, written piece by piece so
  that a long history is streamed, never built in memory;
* CSV (``member_export_zip_write``): a ZIP with one CSV file per section,
  written row by row into a file the caller gives (a spooled temporary file).

Each section is read with ``iterator(chunk_size=...)``, so the number of
queries grows with the history's length divided by the chunk, and memory
stays bounded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from django.utils import timezone

from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Purchase, Refund
from members.models import ConsentChange, Delivery, Feedback, Member

EXPORT_FORMAT = "loyalty-member-export"
EXPORT_VERSION = 1
CHUNK = 500

Row = dict[str, Any]

COLUMNS: dict[str, list[str]] = {
    "profile": [
        "card_number", "first_name", "last_name", "email", "phone", "birth_date", "language", "status",
        "enrolled_at", "enrollment_store", "marketing_email_consent", "sms_consent", "referral_code",
        "referred", "external_id", "login_email", "login_created_at", "last_login_at",
        "points_available", "points_pending", "points_debt",
    ],
    "consents": ["channel", "given", "at", "source"],
    "purchases": [
        "receipt", "store", "purchased_at", "amount", "currency", "refunded_amount", "points",
        "points_kept", "source",
    ],
    "purchase_lines": ["receipt", "sku", "category", "quantity", "amount"],
    "refunds": ["refund_id", "receipt", "refunded_at", "amount", "points_reversed", "source"],
    "ledger": [
        "effective_at", "recorded_at", "kind", "points", "available_change", "pending_change",
        "debt_change", "receipt", "refund_id", "lot", "reason",
    ],
    "lots": ["lot", "receipt", "points", "remaining", "status", "earned_at", "available_at", "expires_at"],
    "feedback": ["given_at", "score", "comment"],
    "messages": ["sent_at", "channel", "kind", "recipient", "subject", "status"],
}
"""Every section and its fields, in order: the CSV headers and the JSON keys."""


def _plain(value: Any) -> Any:
    """A JSON- and CSV-friendly value: decimals as strings (never floats), times in ISO 8601 UTC."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _row(section: str, **values: Any) -> Row:
    return {key: _plain(values[key]) for key in COLUMNS[section]}


# -- the sections ----------------------------------------------------------------


def _profile(member: Member) -> Row:
    account = PointsAccount.objects.filter(member_id=member.pk).first()
    user = member.user
    return _row(
        "profile",
        card_number=member.card_number, first_name=member.first_name, last_name=member.last_name,
        email=member.email, phone=str(member.phone or ""), birth_date=member.birth_date,
        language=member.language, status=member.status, enrolled_at=member.enrolled_at,
        enrollment_store=member.enrollment_store.name if member.enrollment_store else None,
        marketing_email_consent=member.marketing_consent, sms_consent=member.sms_consent,
        referral_code=member.referral_code, referred=member.referred_by_id is not None,
        external_id=member.external_id,
        login_email=user.email if user else None,
        login_created_at=user.date_joined if user else None,
        last_login_at=user.last_login if user else None,
        points_available=account.available if account else 0,
        points_pending=account.pending if account else 0,
        points_debt=account.debt if account else 0,
    )


def _consents(member: Member) -> Iterator[Row]:
    changes = ConsentChange.objects.filter(member=member).order_by("at", "pk")
    for change in changes.iterator(chunk_size=CHUNK):
        yield _row("consents", channel=change.channel, given=change.given, at=change.at, source=change.source)


def _purchase_row(purchase: Purchase) -> Row:
    return _row(
        "purchases",
        receipt=purchase.external_id, store=purchase.store.name, purchased_at=purchase.purchased_at,
        amount=purchase.amount, currency=purchase.currency, refunded_amount=purchase.refunded_amount,
        points=purchase.points, points_kept=purchase.points_kept, source=purchase.source,
    )


def _line_row(purchase: Purchase, line) -> Row:
    return _row(
        "purchase_lines", receipt=purchase.external_id, sku=line.sku, category=line.category,
        quantity=line.quantity, amount=line.amount,
    )


def _purchases_query(member: Member):
    return (
        Purchase.objects.filter(member=member).select_related("store").prefetch_related("lines")
        .order_by("purchased_at", "pk")
    )


def _purchases_with_lines(member: Member) -> Iterator[Row]:
    for purchase in _purchases_query(member).iterator(chunk_size=CHUNK):
        row = _purchase_row(purchase)
        row["lines"] = [
            {key: value for key, value in _line_row(purchase, line).items() if key != "receipt"}
            for line in purchase.lines.all()
        ]
        yield row


def _purchases(member: Member) -> Iterator[Row]:
    for purchase in Purchase.objects.filter(member=member).select_related("store").order_by(
        "purchased_at", "pk"
    ).iterator(chunk_size=CHUNK):
        yield _purchase_row(purchase)


def _purchase_lines(member: Member) -> Iterator[Row]:
    for purchase in _purchases_query(member).iterator(chunk_size=CHUNK):
        for line in purchase.lines.all():
            yield _line_row(purchase, line)


def _refunds(member: Member) -> Iterator[Row]:
    refunds = Refund.objects.filter(purchase__member=member).select_related("purchase").order_by("refunded_at", "pk")
    for refund in refunds.iterator(chunk_size=CHUNK):
        yield _row(
            "refunds", refund_id=refund.external_id, receipt=refund.purchase.external_id,
            refunded_at=refund.refunded_at, amount=refund.amount, points_reversed=refund.points_reversed,
            source=refund.source,
        )


def _ledger(member: Member) -> Iterator[Row]:
    entries = (
        LedgerEntry.objects.filter(account_id=member.pk).select_related("purchase", "refund")
        .order_by("effective_at", "pk")
    )
    for entry in entries.iterator(chunk_size=CHUNK):
        yield _row(
            "ledger", effective_at=entry.effective_at, recorded_at=entry.recorded_at, kind=entry.kind,
            points=entry.points, available_change=entry.available_delta, pending_change=entry.pending_delta,
            debt_change=entry.debt_delta, receipt=entry.purchase.external_id if entry.purchase_id else None,
            refund_id=entry.refund.external_id if entry.refund_id else None, lot=entry.lot_id,
            reason=entry.reason,
        )


def _lots(member: Member) -> Iterator[Row]:
    lots = PointsLot.objects.filter(account_id=member.pk).select_related("purchase").order_by("earned_at", "pk")
    for lot in lots.iterator(chunk_size=CHUNK):
        yield _row(
            "lots", lot=lot.pk, receipt=lot.purchase.external_id if lot.purchase_id else None,
            points=lot.points, remaining=lot.remaining, status=lot.status, earned_at=lot.earned_at,
            available_at=lot.available_at, expires_at=lot.expires_at,
        )


def _feedback(member: Member) -> Iterator[Row]:
    for feedback in Feedback.objects.filter(member=member).order_by("created_at", "pk").iterator(chunk_size=CHUNK):
        yield _row("feedback", given_at=feedback.created_at, score=feedback.score, comment=feedback.comment)


def _messages(member: Member) -> Iterator[Row]:
    # Bodies are left out: a logged message may hold a one-time link.
    deliveries = Delivery.objects.filter(member=member).order_by("created_at", "pk")
    for delivery in deliveries.iterator(chunk_size=CHUNK):
        yield _row(
            "messages", sent_at=delivery.created_at, channel=delivery.channel, kind=delivery.kind,
            recipient=delivery.recipient, subject=delivery.subject, status=delivery.status,
        )


LIST_SECTIONS: dict[str, Callable[[Member], Iterable[Row]]] = {
    "consents": _consents,
    "purchases": _purchases_with_lines,
    "refunds": _refunds,
    "ledger": _ledger,
    "lots": _lots,
    "feedback": _feedback,
    "messages": _messages,
}
"""The JSON export's lists (purchases carry their lines)."""

CSV_FILES: dict[str, Callable[[Member], Iterable[Row]]] = {
    "profile": lambda member: [_profile(member)],
    "consents": _consents,
    "purchases": _purchases,
    "purchase_lines": _purchase_lines,
    "refunds": _refunds,
    "ledger": _ledger,
    "lots": _lots,
    "feedback": _feedback,
    "messages": _messages,
}
"""The ZIP's files (``<name>.csv``)."""


def privacy_section_register(name: str, *, columns: list[str], rows: Callable[[Member], Iterable[Row]]) -> None:
    """Add a section that a higher app holds about a member (the rewards app's
    vouchers) to both exports: a JSON list and a CSV file named ``name``.
    ``rows`` yields dicts with exactly ``columns`` (see ``privacy_row``).
    Called from an ``AppConfig.ready()``; registering a name again replaces it."""
    COLUMNS[name] = list(columns)
    LIST_SECTIONS[name] = rows
    CSV_FILES[name] = rows


def privacy_row(section: str, **values: Any) -> Row:
    """A row of a registered section, with values made JSON- and CSV-friendly."""
    return _row(section, **values)


# -- JSON ------------------------------------------------------------------------


def member_export_filename(*, member: Member, extension: str, now: dt.datetime | None = None) -> str:
    day = (now or timezone.now()).date().isoformat()
    return f"my-loyalty-data-{member.card_number}-{day}.{extension}"


def member_export_json_chunks(*, member: Member, program_name: str = "", now: dt.datetime | None = None
                              ) -> Iterator[str]:
    """The member's data as one JSON object, in pieces to stream.

    ``{"format", "version", "exported_at", "program", "profile", "consents",
    "purchases" (each with its "lines"), "refunds", "ledger", "lots",
    "feedback", "messages"}``; the lists are in time order; decimals are
    strings and times ISO 8601 in UTC.
    """
    now = now or timezone.now()

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    head = {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "exported_at": _plain(now),
        "program": program_name, "profile": _profile(member),
    }
    yield dumps(head)[:-1]  # without the closing brace: the lists follow
    for name, rows in LIST_SECTIONS.items():
        yield f",{dumps(name)}:["
        for index, row in enumerate(rows(member)):
            yield ("," if index else "") + dumps(row)
        yield "]"
    yield "}\n"


# -- CSV in a ZIP ----------------------------------------------------------------

_FORMULA_START = ("=", "@", "\t", "\r")


def _csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (OWASP's CSV injection advice);
    a phone number such as ``+48601234567`` is left alone."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_FORMULA_START):
        return "'" + value
    if value[0] in "+-" and not value[1:].replace(".", "").isdigit():
        return "'" + value
    return value


def member_export_zip_write(*, member: Member, fileobj: IO[bytes]) -> None:
    """Write a ZIP of CSV files (``profile.csv``, ``consents.csv``,
    ``purchases.csv``, ``purchase_lines.csv``, ``refunds.csv``,
    ``ledger.csv``, ``lots.csv``, ``feedback.csv``, ``messages.csv``) into
    ``fileobj``, row by row. UTF-8 with a BOM so that spreadsheets read the
    accents; times in ISO 8601 UTC."""
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows in CSV_FILES.items():
            with archive.open(f"{name}.csv", "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                writer = csv.DictWriter(text, fieldnames=COLUMNS[name])
                writer.writeheader()
                for row in rows(member):
                    writer.writerow({key: _csv_safe(value) for key, value in row.items()})
                text.flush()
                text.detach()
