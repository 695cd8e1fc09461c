"""Reading an import file: UTF-8 (a BOM is accepted), commas, a header row.

Rows come one at a time with their line number as a spreadsheet shows it
(the header is line 1), as a dict from column name to the stripped cell;
columns the file does not have read as blank. Nothing is held beyond the
current line, so a file of any length streams.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from members.exceptions import LoyaltyError

from .errors import (
    DuplicateColumns,
    FileEmpty,
    FileNotUtf8,
    InvalidChoice,
    InvalidDateOrDateTime,
    InvalidDateTime,
    MalformedLine,
    MissingColumns,
    RowError,
    UnknownColumns,
    ValueRequired,
    ValueTooLong,
    WrongCellCount,
    WrongDelimiter,
)

BOM = b"\xef\xbb\xbf"
MAX_ERRORS = 1000  # kept to show; all are counted
UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False


@dataclass
class ImportResult:
    """What an import did: rows read, rows skipped as imported before, and the errors."""

    rows: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


@contextmanager
def binary_input(file: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    """``file`` as an open binary stream: a path is opened (and closed), a stream passed on."""
    if isinstance(file, str | Path):
        with open(file, "rb") as handle:
            yield handle
    else:
        yield file


class Rollback(Exception):
    """Raised inside an import's transaction when a row is bad: nothing is kept."""


class ErrorReport:
    """The errors of one import, in line order; keeps the first ``MAX_ERRORS``."""

    def __init__(self) -> None:
        self._errors: list[RowError] = []
        self.count = 0
        self.fatal = False  # the file as a whole is wrong: no row was read

    def add(self, line: int, field: str | None, error: LoyaltyError) -> None:
        self.count += 1
        if len(self._errors) < MAX_ERRORS:
            self._errors.append(RowError(line=line, field=field, message=error.message, code=error.code))

    @property
    def errors(self) -> list[RowError]:
        return sorted(self._errors, key=lambda error: (error.line, error.field or ""))

    def __bool__(self) -> bool:
        return self.count > 0


@dataclass
class RowReader:
    """Reads ``file`` (binary) and yields ``(line, cells)`` for each non-blank data row."""

    file: BinaryIO
    columns: tuple[Column, ...]
    report: ErrorReport
    present: list[str] = field(default_factory=list)
    rows_read: int = 0

    def _decoded_lines(self) -> Iterator[str]:
        for number, raw in enumerate(self.file, start=1):
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise FileNotUtf8(line=number) from None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        names = ", ".join(column.name for column in self.columns)
        reader = csv.reader(self._decoded_lines(), strict=True)
        line = 0
        try:
            header = next(reader, None)
            line = 1
            if header is None or not any(cell.strip() for cell in header):
                self._fatal(1, None, FileEmpty(columns=names))
                return
            if not self._header_ok([cell.strip().lower() for cell in header], names):
                return
            width = len(self.present)
            blank = {column.name: "" for column in self.columns}
            for cells in reader:
                line += 1
                if len(cells) != width:
                    if not any(cell.strip() for cell in cells):
                        continue  # a blank line
                    self.report.add(line, None, WrongCellCount(found=len(cells), expected=width))
                    continue
                values = blank.copy()
                values.update(zip(self.present, (cell.strip() for cell in cells), strict=True))
                if not any(values.values()):
                    continue
                self.rows_read += 1
                yield line, values
        except FileNotUtf8 as error:
            self._fatal(error.params["line"], None, error)
        except csv.Error as error:
            self._fatal(line + 1, None, MalformedLine(problem=str(error)))

    def _fatal(self, line: int, field: str | None, error: LoyaltyError) -> None:
        self.report.fatal = True
        self.report.add(line, field, error)

    def _header_ok(self, header: list[str], names: str) -> bool:
        known = {column.name for column in self.columns}
        if len(header) == 1 and header[0] not in known:
            for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
                if delimiter in header[0]:
                    self._fatal(1, None, WrongDelimiter(delimiter=label, columns=names))
                    return False
        ok = True
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            self._fatal(1, duplicates[0], DuplicateColumns(names=", ".join(duplicates)))
            ok = False
        for name in header:
            if name not in known:
                self._fatal(1, name or "(blank)", UnknownColumns(names=repr(name), columns=names))
                ok = False
        for column in self.columns:
            if column.required and column.name not in header:
                self._fatal(1, column.name, MissingColumns(names=column.name))
                ok = False
        self.present = header
        return ok


# -- cell parsers: each raises a LoyaltyError -----------------------------------


def required(value: str, *, limit: int | None = None) -> str:
    if not value:
        raise ValueRequired()
    return optional(value, limit=limit)


def optional(value: str, *, limit: int | None = None) -> str:
    if limit is not None and len(value) > limit:
        raise ValueTooLong(limit=limit)
    return value


def choice(value: str, choices: dict[str, object], *, default: object) -> object:
    if not value:
        return default
    try:
        return choices[value.lower()]
    except KeyError:
        raise InvalidChoice(value=value, choices=", ".join(choices)) from None


def instant(value: str, *, tz: ZoneInfo, date_allowed: bool) -> dt.datetime:
    """An ISO 8601 date-time (or a date, if allowed: its midnight); naive = ``tz``."""
    error = InvalidDateOrDateTime if date_allowed else InvalidDateTime
    if not value:
        raise ValueRequired()
    if not date_allowed and len(value) <= 10:
        raise error(value=value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise error(value=value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def to_micros(value: dt.datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)
