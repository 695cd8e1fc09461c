"""analytics.csv_export: streamed CSV with a BOM, formula-safe cells, lazy rows."""

import csv
import io
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse

from analytics.csv_export import csv_cell, csv_lines, csv_response


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_a_spreadsheet_would_run_gets_a_leading_apostrophe(start):
    assert csv_cell(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"


@pytest.mark.parametrize("text", ["+48601234567", "+48 601 234 567", "-12.50", "-3", "+1,5"])
def test_phone_numbers_and_signed_numbers_as_text_are_left_alone(text):
    assert csv_cell(text) == text


@pytest.mark.parametrize("text", ["-2+3", "+48601234567+cmd", "-1 =SUM(A1)", "+A1", "-", "+"])
def test_a_sign_followed_by_anything_but_a_number_is_still_neutralised(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Kowalska", "Kowalska"),
        ("a=b", "a=b"),  # only the first character matters
        ("", ""),
        (None, ""),
        (-5, -5),  # numbers are written as they are, negative ones too
        (Decimal("-1.50"), Decimal("-1.50")),
        (0, 0),
        (True, True),
    ],
)
def test_other_cells_are_left_as_they_are(value, expected):
    assert csv_cell(value) == expected


def test_lines_start_with_a_bom_once_and_quote_what_needs_quoting():
    lines = list(csv_lines(["name", "note"], [["Łucja, Ćma", 'said "hi"\nthen left'], ["=1+1", -3]]))
    assert lines[0] == "\ufeffname,note\r\n"
    assert not any(line.startswith("\ufeff") for line in lines[1:])
    assert list(csv.reader(io.StringIO("".join(lines)[1:]))) == [
        ["name", "note"], ["Łucja, Ćma", 'said "hi"\nthen left'], ["'=1+1", "-3"],
    ]


def test_the_header_is_written_as_text_and_not_neutralised():
    from django.utils.translation import gettext_lazy

    assert next(csv_lines([gettext_lazy("email"), "-x"], [])) == "\ufeffemail,-x\r\n"


def test_the_response_streams_utf8_bytes_as_an_attachment_that_is_not_cached():
    response = csv_response(filename="members.csv", header=["name"], rows=[["Zoë"]])
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="members.csv"'
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == "\ufeffname\r\nZoë\r\n".encode()


def test_rows_are_read_only_as_the_response_is_consumed():
    read = []

    def rows():
        for n in range(3):
            read.append(n)
            yield [n]

    response = csv_response(filename="n.csv", header=["n"], rows=rows())
    assert read == []
    chunks = iter(response.streaming_content)
    assert next(chunks) == "\ufeffn\r\n".encode()
    assert read == []  # the header goes out before any row is read
    assert next(chunks) == b"0\r\n"
    assert read == [0]
    assert list(chunks) == [b"1\r\n", b"2\r\n"]
    assert read == [0, 1, 2]


def test_an_empty_export_is_the_header_alone():
    response = csv_response(filename="empty.csv", header=["a", "b"], rows=iter(()))
    assert b"".join(response.streaming_content) == "\ufeffa,b\r\n".encode()
