"""Streamed CSV downloads: every staff export (members, the ledger, segments,
KPI and chart tables) goes through ``csv_response``.

Rows are written one at a time to the response as the iterable yields them,
so an export of 100,000 members never holds them in memory: feed it a
queryset's ``.values_list(...).iterator(chunk_size=...)`` (server-side
cursors on PostgreSQL). The file is UTF-8 with a BOM, so spreadsheets open
accented names correctly, and text cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are
prefixed with ``'`` (OWASP's CSV injection advice), unless they are only a
signed number or a phone number; numbers are written as they are.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed number or a phone in E.164 or with spaces ("+48 601 234 567", "-12.50"): nothing
# a spreadsheet could run, and prefixing it would spoil the column.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 .,]*")


class _Echo:
    """A file-like object whose ``write`` returns what it is given (for ``csv.writer``)."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: object) -> object:
    """``value`` made safe to open in a spreadsheet: text that would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return "" if value is None else value


def csv_lines(header: Sequence[object], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows``, a line at a time, the first prefixed with a BOM."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([str(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_response(*, filename: str, header: Sequence[object], rows: Iterable[Sequence[object]]) -> StreamingHttpResponse:
    """A streamed ``text/csv`` attachment named ``filename``; never cached by the browser."""
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in csv_lines(header, rows)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
