"""``import_members``: members from an old system.

Two passes in one transaction, like ``import_purchases``: rows are checked
one by one and staged in a temporary table; the database then answers the
checks across rows (an external id, card, email or phone used twice in the
file; the same person already enrolled; a member imported before: same
data skipped, other data refused; ``referred_by`` naming nobody). Any error
and nothing is written. Then the members are written in batches (COPY on
PostgreSQL) with new card numbers where the file has none, and referrals
are linked.

Memory: one chunk of rows at a time and the program's stores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from loyalty.exceptions import ExternalIdConflict
from loyalty.ledger.bulk import insert_rows
from loyalty.models import Program, Store
from loyalty.services.program import program_get
from loyalty.services.purchases import CLOCK_SKEW
from members.cards import card_number_generate, card_number_is_valid
from members.exceptions import ContactRequired, DuplicateMember, InvalidCardNumber, LoyaltyError
from members.models import ConsentChange, Member

from . import csvfile
from .csvfile import Column, ErrorReport, ImportResult, Rollback, RowReader, binary_input
from .errors import (
    DuplicateInFile,
    FutureTime,
    InvalidDate,
    InvalidEmailAddress,
    InvalidPhone,
    SelfReferral,
    UnknownReferrer,
    UnknownStore,
    ValueRequired,
)
from .staging import StageTable, execute, stream

COLUMNS = (
    Column("external_id", required=True),
    Column("card_number"),
    Column("email"),
    Column("phone"),
    Column("first_name"),
    Column("last_name"),
    Column("birth_date"),
    Column("enrolled_at", required=True),
    Column("store"),
    Column("language"),
    Column("marketing_consent"),
    Column("referred_by"),
)
LANGUAGES = {code: code for code in Member.Language.values}
CONSENT = {"yes": 1, "no": 0, "true": 1, "false": 0, "1": 1, "0": 0}
CHUNK = 5000
STAGE = "import_member_rows"
MARKS = "import_member_marks"
STAGE_COLUMNS = [
    ("line", "int"), ("external_id", "text"), ("card_number", "text"), ("email", "text"),
    ("email_lower", "text"), ("phone", "text"), ("first_name", "text"), ("last_name", "text"),
    ("birth_date", "text"), ("enrolled_us", "bigint"), ("store_id", "bigint"), ("language", "text"),
    ("consent", "int"), ("referred_by", "text"), ("bad", "int"),
]
MEMBER_FIELDS = (
    "card_number", "external_id", "first_name", "last_name", "email", "phone", "birth_date",
    "language", "enrollment_store_id", "enrolled_at", "status", "marketing_consent",
)


@dataclass
class MemberImportResult(ImportResult):
    created: int = 0


def import_members(*, file: str | Path | BinaryIO, now: dt.datetime | None = None) -> MemberImportResult:
    """Import members from a CSV file (see BRIEF.md "Data in and out").

    All or nothing in one transaction; errors come back with line and field.
    Re-running the same file changes nothing (members whose external id is
    already imported with the same data are skipped). A card number is issued
    where the file has none. Takes no row locks: it only inserts, and the
    unique constraints on external id, card number and (checked) email and
    phone keep concurrent enrollments apart.
    """
    now = now or timezone.now()
    program = program_get()
    with binary_input(file) as handle:
        return _import(handle, program=program, now=now)


def _import(handle: BinaryIO, *, program: Program, now: dt.datetime) -> MemberImportResult:
    report = ErrorReport()
    result = MemberImportResult()
    try:
        with transaction.atomic():
            stage = StageTable(STAGE, STAGE_COLUMNS).create()
            marks = StageTable(MARKS, [("line", "int"), ("skip", "int")]).create()
            reader = RowReader(handle, COLUMNS, report)
            _validate_rows(reader, stage, program=program, now=now, report=report)
            result.rows = reader.rows_read
            if report.fatal:
                raise Rollback
            _check_across_rows(stage, marks, report=report)
            if report:
                raise Rollback
            result.skipped = marks.count
            result.created = _write(now=now)
            stage.drop()
            marks.drop()
    except Rollback:
        result = MemberImportResult(rows=result.rows)
    result.error_count = report.count
    result.errors = report.errors
    return result


# -- pass 1: every row on its own --------------------------------------------------


def _phone(value: str, *, country: str) -> str:
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(value=value, country=country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    if len(value) > 254:
        raise InvalidEmailAddress(value=value[:40] + "...")
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidEmailAddress(value=value) from None
    return value


def _birth_date(value: str, *, today: dt.date) -> dt.date:
    try:
        parsed = dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed > today or parsed.year < 1900:
        raise InvalidDate(value=value)
    return parsed


def _validate_rows(reader: RowReader, stage: StageTable, *, program: Program, now, report: ErrorReport) -> None:
    stores = dict(Store.objects.values_list("code", "pk"))
    tz = program.tz
    country = program.country.code
    today = now.astimezone(tz).date()
    for line, values in reader:
        errors_before = report.count

        def check(name, parse, *args, required=False, values=values, line=line, **kwargs):
            if not values[name]:
                if required:
                    report.add(line, name, ValueRequired())
                return None
            try:
                return parse(values[name], *args, **kwargs)
            except LoyaltyError as error:
                report.add(line, name, error)
                return None

        external_id = check("external_id", csvfile.required, required=True, limit=64)
        card_number = values["card_number"]
        if card_number and not card_number_is_valid(card_number):
            report.add(line, "card_number", InvalidCardNumber(value=card_number))
        email = check("email", _email)
        phone = check("phone", _phone, country=country)
        if not values["email"] and not values["phone"]:
            report.add(line, "email", ContactRequired())
        first_name = check("first_name", csvfile.optional, limit=150) or ""
        last_name = check("last_name", csvfile.optional, limit=150) or ""
        birth_date = check("birth_date", _birth_date, today=today)
        enrolled_at = check("enrolled_at", csvfile.instant, required=True, tz=tz, date_allowed=True)
        if enrolled_at is not None and enrolled_at > now + CLOCK_SKEW:
            report.add(line, "enrolled_at", FutureTime(value=values["enrolled_at"]))
        store_id = None
        if values["store"]:
            store_id = stores.get(values["store"])
            if store_id is None:
                report.add(line, "store", UnknownStore(value=values["store"]))
        language = check("language", csvfile.choice, LANGUAGES, default=Member.Language.EN)
        consent = check("marketing_consent", csvfile.choice, CONSENT, default=0)
        referred_by = check("referred_by", csvfile.optional, limit=64)
        if referred_by and referred_by == external_id:
            report.add(line, "referred_by", SelfReferral())
        if report.count != errors_before:
            # Staged with its external id only: a duplicate of it, or a referral
            # to it, is then judged against it rather than reported again.
            if external_id:
                stage.add((line, external_id, *[None] * (len(STAGE_COLUMNS) - 3), 1))
            continue
        stage.add((
            line, external_id, card_number or None, email or "", (email or "").lower() or None, phone,
            first_name, last_name, birth_date.isoformat() if birth_date else None,
            csvfile.to_micros(enrolled_at), store_id, language or Member.Language.EN, consent or 0,
            referred_by or None, 0,
        ))
    stage.flush()


# -- pass 1, continued: checks across rows -------------------------------------------


def _members_table() -> str:
    return connection.ops.quote_name(Member._meta.db_table)


def _check_across_rows(stage: StageTable, marks: StageTable, *, report: ErrorReport) -> None:
    stage.index("external_id")
    stage.index("line", unique=True)
    members = _members_table()

    for column in ("external_id", "card_number", "email_lower", "phone"):
        name = "email" if column == "email_lower" else column
        for rows in stream(
            f"SELECT s.line, s.{column}, f.first_line FROM {STAGE} s "  # noqa: S608
            f"JOIN (SELECT {column} AS value, MIN(line) AS first_line FROM {STAGE} "
            f"WHERE {column} IS NOT NULL GROUP BY {column} HAVING COUNT(*) > 1) f "
            f"ON f.value = s.{column} WHERE s.line > f.first_line"
        ):
            for line, value, first_line in rows:
                report.add(line, name, DuplicateInFile(value=value, line=first_line))

    # Members imported before: the same data is skipped, other data refused.
    for rows in stream(
        "SELECT s.line, s.external_id, s.card_number, s.email_lower, s.phone, s.first_name, "  # noqa: S608
        "s.last_name, s.birth_date, s.enrolled_us, s.store_id, s.language, s.consent, s.referred_by, "
        "m.card_number, m.email, m.phone, m.first_name, m.last_name, m.birth_date, m.enrolled_at, "
        "m.enrollment_store_id, m.language, m.marketing_consent, r.external_id "
        f"FROM {STAGE} s JOIN {members} m ON m.external_id = s.external_id AND s.bad = 0 "
        f"LEFT JOIN {members} r ON r.id = m.referred_by_id"
    ):
        for row in rows:
            line, external_id = row[0], row[1]
            if _same_member(row[2:13], row[13:]):
                marks.add((line, 1))
            else:
                report.add(line, "external_id", ExternalIdConflict(external_id=external_id, what="member"))
    marks.flush()

    # The same person enrolled already (email, phone) or the card taken.
    for column, member_column, field_name in (
        ("email_lower", "LOWER(m.email)", "email"),
        ("phone", "m.phone", "phone"),
        ("card_number", "m.card_number", "card_number"),
    ):
        status = "" if column == "card_number" else f"AND m.status <> '{Member.Status.DELETED}' "
        for rows in stream(
            f"SELECT s.line, m.card_number FROM {STAGE} s JOIN {members} m "  # noqa: S608
            f"ON {member_column} = s.{column} WHERE s.{column} IS NOT NULL AND s.bad = 0 {status}"
            "AND (m.external_id IS NULL OR m.external_id <> s.external_id)"
        ):
            for line, card in rows:
                label = "card number" if field_name == "card_number" else field_name
                report.add(line, field_name, DuplicateMember(field=field_name, field_name=label, card=card))

    for rows in stream(
        f"SELECT s.line, s.referred_by FROM {STAGE} s WHERE s.referred_by IS NOT NULL "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {STAGE} r WHERE r.external_id = s.referred_by) "
        f"AND NOT EXISTS (SELECT 1 FROM {members} m WHERE m.external_id = s.referred_by)"
    ):
        for line, referred_by in rows:
            report.add(line, "referred_by", UnknownReferrer(value=referred_by))
    marks.index("line", unique=True)


def _same_member(staged: tuple, stored: tuple) -> bool:
    (card, email_lower, phone, first_name, last_name, birth_date, enrolled_us, store_id, language,
     consent, referred_by) = staged
    (m_card, m_email, m_phone, m_first, m_last, m_birth, m_enrolled, m_store, m_language, m_consent,
     m_referrer) = stored
    if isinstance(m_enrolled, str):
        m_enrolled = parse_datetime(m_enrolled)
    if timezone.is_naive(m_enrolled):
        m_enrolled = m_enrolled.replace(tzinfo=dt.UTC)
    return (
        (card is None or card == m_card)
        and (email_lower or "") == (m_email or "").lower()
        and (phone or "") == (str(m_phone) if m_phone else "")
        and (first_name, last_name) == (m_first, m_last)
        and (birth_date or None) == (str(m_birth) if m_birth else None)
        and csvfile.to_micros(m_enrolled) == enrolled_us
        and store_id == m_store
        and language == m_language
        and bool(consent) == bool(m_consent)
        and (referred_by or None) == m_referrer
    )


# -- pass 2: write -----------------------------------------------------------------


def _write(*, now: dt.datetime) -> int:
    created = 0
    for rows in stream(
        "SELECT s.card_number, s.external_id, s.first_name, s.last_name, s.email, s.phone, "  # noqa: S608
        "s.birth_date, s.language, s.store_id, s.enrolled_us, s.consent "
        f"FROM {STAGE} s LEFT JOIN {MARKS} k ON k.line = s.line "
        "WHERE k.line IS NULL ORDER BY s.line",
        size=CHUNK,
    ):
        cards = _cards_for(rows)
        insert_rows(Member, MEMBER_FIELDS, [
            (
                card or cards.pop(), external_id, first_name, last_name, email, phone or "",
                dt.date.fromisoformat(birth_date) if birth_date else None, language, store_id,
                csvfile.from_micros(enrolled_us), Member.Status.ACTIVE, bool(consent),
            )
            for card, external_id, first_name, last_name, email, phone, birth_date, language, store_id,
            enrolled_us, consent in rows
        ])
        created += len(rows)
    members = _members_table()
    execute(
        f"UPDATE {members} AS m SET referred_by_id = r.id "  # noqa: S608
        f"FROM {STAGE} s, {members} r "
        "WHERE m.external_id = s.external_id AND r.external_id = s.referred_by "
        f"AND s.referred_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {MARKS} k WHERE k.line = s.line)"
    )
    # The consent history starts with the consent the old system had, given at enrollment.
    consents = connection.ops.quote_name(ConsentChange._meta.db_table)
    execute(
        f"INSERT INTO {consents} (member_id, channel, given, at, source) "  # noqa: S608
        f"SELECT m.id, %s, %s, m.enrolled_at, %s FROM {STAGE} s JOIN {members} m ON m.external_id = s.external_id "
        f"WHERE s.consent <> 0 AND NOT EXISTS (SELECT 1 FROM {MARKS} k WHERE k.line = s.line)",
        [ConsentChange.Channel.EMAIL, True, ConsentChange.Source.IMPORT],
    )
    return created


def _cards_for(rows: list[tuple]) -> list[str]:
    """New card numbers for the rows without one: unused in the database and in the file."""
    needed = sum(1 for row in rows if not row[0])
    cards: set[str] = set()
    while len(cards) < needed:
        drawn = {card_number_generate() for _ in range(needed - len(cards))} - cards
        if not drawn:
            continue
        taken = set(Member.objects.filter(card_number__in=drawn).values_list("card_number", flat=True))
        marks = ", ".join(["%s"] * len(drawn))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT card_number FROM {STAGE} WHERE card_number IN ({marks})", list(drawn))  # noqa: S608
            taken.update(row[0] for row in cursor.fetchall())
        cards |= drawn - taken
    return sorted(cards)
