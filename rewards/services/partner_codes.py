"""Partner codes: a partner reward's pool, imported from a CSV file all or nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import IO

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from rewards.exceptions import NotAPartnerReward, PartnerCodesFileInvalid
from rewards.models import PartnerCode, Reward

PARTNER_CODE_MAX = PartnerCode._meta.get_field("code").max_length
PARTNER_FILE_COLUMNS = ("code",)
LOOKUP_CHUNK = 1000


@dataclass(frozen=True)
class PartnerCodesImportResult:
    added: int  # new codes in the pool
    skipped: int  # codes of the file already in the pool
    free: int  # codes not yet handed out, after the import
    used: int  # codes handed out with a voucher
    dry_run: bool = False


def partner_code_counts(*, reward: Reward) -> tuple[int, int]:
    """``(free, used)`` codes of a partner reward's pool: one query."""
    counts = PartnerCode.objects.filter(reward=reward).aggregate(
        free=Count("pk", filter=Q(voucher__isnull=True)), used=Count("pk", filter=Q(voucher__isnull=False)),
    )
    return counts["free"], counts["used"]


def _read_text(file: IO) -> str | None:
    raw = file.read()
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def partner_codes_parse(file: IO) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The codes of a partner codes file as ``(line, code)``, and its errors as
    ``(line, message)``. UTF-8 (a BOM is accepted), comma-separated, a header
    row (line 1) with the one column ``code``; blank lines are skipped; codes
    are trimmed and kept as written (partners' codes may be case-sensitive)."""
    errors: list[tuple[int, str]] = []
    text = _read_text(file)
    if text is None:
        return [], [(0, gettext("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and upload it again."))]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        return [], [(1, gettext("The header row cannot be read: %(error)s") % {"error": error})]
    if header is None or not any(cell.strip() for cell in header):
        return [], [(1, gettext("The file is empty: the first line must be the header, code."))]
    columns = [cell.strip().lower() for cell in header]
    unknown = [cell for cell in columns if cell not in PARTNER_FILE_COLUMNS]
    if unknown:
        errors.append((1, gettext("Unknown column(s) %(columns)s: the file has one column, code.") % {
            "columns": ", ".join(unknown),
        }))
    if "code" not in columns:
        errors.append((1, gettext("The header has no column code.")))
        return [], errors
    if columns.count("code") > 1:
        errors.append((1, gettext("The column code appears twice.")))
        return [], errors
    position = columns.index("code")
    codes: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append((reader.line_num, gettext("This line cannot be read: %(error)s") % {"error": error}))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(columns):
            errors.append((line, ngettext(
                "%(count)d cell where the header has %(columns)d.",
                "%(count)d cells where the header has %(columns)d.", len(row),
            ) % {"count": len(row), "columns": len(columns)}))
            continue
        code = row[position].strip()
        if len(code) > PARTNER_CODE_MAX:
            errors.append((line, gettext("The code is longer than %(max)d characters.") % {"max": PARTNER_CODE_MAX}))
        elif code in seen:
            errors.append((line, gettext("The code %(code)s is already on line %(line)d.") % {
                "code": code, "line": seen[code],
            }))
        else:
            seen[code] = line
            codes.append((line, code))
    if not codes and not errors:
        errors.append((0, gettext("The file has no codes: after the header, one code per line.")))
    return codes, errors


@transaction.atomic
def partner_codes_import(*, reward: Reward, file: IO, dry_run: bool = False) -> PartnerCodesImportResult:
    """Add the codes of a CSV file (``partner_codes_parse``) to a partner
    reward's pool, all or nothing.

    Every error is reported with its line number (the header is line 1) in
    ``PartnerCodesFileInvalid`` and nothing is imported then. Codes already in
    the pool are skipped, so re-running the same file adds nothing. Locks the
    reward's row, so two imports for one reward run one after the other
    (redemptions do not take that lock for a partner reward: they lock a code).
    Raises ``NotAPartnerReward`` for other kinds.
    """
    if reward.kind != Reward.Kind.PARTNER:
        raise NotAPartnerReward(reward=reward.name)
    codes, errors = partner_codes_parse(file)
    if errors:
        raise PartnerCodesFileInvalid(errors=errors)
    Reward.objects.select_for_update().filter(pk=reward.pk).values_list("pk", flat=True).first()
    values = [code for _line, code in codes]
    existing: set[str] = set()
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start:start + LOOKUP_CHUNK]
        existing.update(PartnerCode.objects.filter(reward=reward, code__in=chunk).values_list("code", flat=True))
    new = [code for code in values if code not in existing]
    if new and not dry_run:
        now = timezone.now()
        PartnerCode.objects.bulk_create(
            (PartnerCode(reward=reward, code=code, imported_at=now) for code in new), batch_size=LOOKUP_CHUNK,
        )
    free, used = partner_code_counts(reward=reward)
    if dry_run:
        free += len(new)
    return PartnerCodesImportResult(added=len(new), skipped=len(existing), free=free, used=used, dry_run=dry_run)


def partner_file_error_text(line: int, message: str) -> str:
    """One error of a partner codes file as shown to people."""
    if line == 0:
        return message
    return gettext("Line %(line)d: %(message)s") % {"line": line, "message": message}
