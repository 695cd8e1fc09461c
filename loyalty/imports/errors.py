"""Errors of the CSV imports: per row (a line and a field) or about the whole file.

Rows that break a business rule get the domain error of that rule
(``InvalidAmount``, ``CurrencyMismatch``, ``RefundTooLarge``, ...); the errors
here cover what only a file can get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from members.exceptions import LoyaltyError


@dataclass(frozen=True)
class RowError:
    """One problem: ``line`` as a spreadsheet counts it (the header is line 1)."""

    line: int
    field: str | None
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        where = _("line %(line)d") % {"line": self.line}
        if self.field:
            where = f"{where}, {self.field}"
        return f"{where}: {self.message}"


class FileNotUtf8(LoyaltyError):
    code = "file_not_utf8"
    template = _(
        "The file is not UTF-8 text (line %(line)d cannot be decoded). Save it as "
        "\"CSV UTF-8\" and import it again."
    )


class FileEmpty(LoyaltyError):
    code = "file_empty"
    template = _("The file is empty: its first line must be the header, e.g. %(columns)s.")


class WrongDelimiter(LoyaltyError):
    code = "wrong_delimiter"
    template = _(
        "The header has one column; the file looks separated by %(delimiter)s. "
        "Use commas between the columns: %(columns)s."
    )


class UnknownColumns(LoyaltyError):
    code = "unknown_columns"
    template = _("Unknown column %(names)s. The columns are: %(columns)s.")


class MissingColumns(LoyaltyError):
    code = "missing_columns"
    template = _("Required column %(names)s is missing.")


class DuplicateColumns(LoyaltyError):
    code = "duplicate_columns"
    template = _("Column %(names)s appears more than once.")


class MalformedLine(LoyaltyError):
    code = "malformed_line"
    template = _("This line cannot be read as CSV: %(problem)s.")


class WrongCellCount(LoyaltyError):
    code = "wrong_cell_count"
    template = _("This line has %(found)d values; the header has %(expected)d.")


class ValueRequired(LoyaltyError):
    code = "required"
    template = _("A value is required.")


class ValueTooLong(LoyaltyError):
    code = "too_long"
    template = _("At most %(limit)d characters.")


class InvalidChoice(LoyaltyError):
    code = "invalid_choice"
    template = _("%(value)s is not one of: %(choices)s.")


class InvalidDateTime(LoyaltyError):
    code = "invalid_datetime"
    template = _(
        "%(value)s is not an ISO 8601 date and time (e.g. 2025-03-14T09:30:00 or "
        "2025-03-14 09:30:00+01:00)."
    )


class InvalidDateOrDateTime(LoyaltyError):
    code = "invalid_datetime"
    template = _("%(value)s is not an ISO 8601 date or date and time (e.g. 2025-03-14 or 2025-03-14T09:30:00).")


class InvalidDate(LoyaltyError):
    code = "invalid_date"
    template = _("%(value)s is not a date as YYYY-MM-DD in the past.")


class FutureTime(LoyaltyError):
    code = "future_time"
    template = _("%(value)s is in the future.")


class UnknownStore(LoyaltyError):
    code = "unknown_store"
    template = _("No store has the code %(value)s.")


class UnknownMember(LoyaltyError):
    code = "unknown_member"
    template = _("No member has the external id or card number %(value)s.")


class UnknownReferrer(LoyaltyError):
    code = "unknown_referrer"
    template = _("No member has the external id %(value)s, in this file or already imported.")


class SelfReferral(LoyaltyError):
    code = "self_referral"
    template = _("A member cannot refer themselves.")


class InvalidPhone(LoyaltyError):
    code = "invalid_phone"
    template = _("%(value)s is not a phone number in E.164 (+48601234567) or a national number of %(country)s.")


class InvalidEmailAddress(LoyaltyError):
    code = "invalid_email"
    template = _("%(value)s is not a valid email address.")


class DuplicateInFile(LoyaltyError):
    code = "duplicate_in_file"
    template = _("%(value)s is already used on line %(line)d of this file.")


class RefersToMissing(LoyaltyError):
    code = "unknown_purchase"
    template = _("No purchase has the external id %(value)s, earlier in this file or already imported.")


class RefersToLater(LoyaltyError):
    code = "purchase_later_in_file"
    template = _("The purchase %(value)s is on line %(line)d, after this refund; list a refund after its purchase.")


class RefersToNotForPurchases(LoyaltyError):
    code = "refers_to_not_allowed"
    template = _("Only a refund (kind=refund) refers to a purchase; leave this blank for a purchase.")


class RefundMemberMismatch(LoyaltyError):
    code = "refund_member_mismatch"
    template = _("The refunded purchase %(value)s belongs to another member (or to none).")
