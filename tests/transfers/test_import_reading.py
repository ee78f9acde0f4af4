"""Reading uploaded files: encodings, delimiters, quoted newlines, spreadsheets, and files that are no table."""

from __future__ import annotations

import codecs

import pytest

from tests.transfers.files import csv_bytes, xlsx_bytes
from transfers.imports.reading import FileRefused, table_read

CZECH = "Email;Jméno;Příjmení;Město\r\njana@example.cz;Jana;Dvořáková;Plzeň\r\n"


def test_utf8_with_bom_drops_the_bom_from_the_first_header():
    table = table_read(data=csv_bytes("Email,Name\r\na@example.com,Ann\r\n", bom=True))
    assert table.header == ["Email", "Name"]
    assert table.encoding == "UTF-8 with BOM"


def test_windows_1250_czech_text_is_read_right():
    table = table_read(data=CZECH.encode("cp1250"))
    assert table.encoding == "Windows-1250"
    assert table.header == ["Email", "Jméno", "Příjmení", "Město"]
    assert table.rows == [["jana@example.cz", "Jana", "Dvořáková", "Plzeň"]]


def test_windows_1252_german_text_is_read_right():
    table = table_read(data="Email;Vorname;Straße\nhans@example.de;Jürgen;Hauptstraße\n".encode("cp1252"))
    assert table.rows == [["hans@example.de", "Jürgen", "Hauptstraße"]]


@pytest.mark.parametrize("bom", [True, False], ids=["bom", "no-bom"])
def test_utf16_with_and_without_bom(bom):
    text = "Email\tName\r\nžofie@example.cz\tŽofie\r\n"
    data = (codecs.BOM_UTF16_LE if bom else b"") + text.encode("utf-16-le")
    table = table_read(data=data)
    assert table.encoding == "UTF-16"
    assert table.delimiter == "\t"
    assert table.rows == [["žofie@example.cz", "Žofie"]]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("Email;Name;City\na@x.cz;Ann, Jr.;Brno\nb@x.cz;Bob;Praha\n", ";"),
        ("Email\tName\tCity\na@x.cz\tAnn, Jr.\tBrno\n", "\t"),
        ('Email,Name,City\na@x.cz,"Ann; Jr.",Brno\n', ","),
        ("Email|Name\na@x.cz|Ann\n", "|"),
    ],
    ids=["semicolon", "tab", "comma", "pipe"],
)
def test_delimiter_is_detected(text, delimiter):
    table = table_read(data=text.encode())
    assert table.delimiter == delimiter
    assert len(table.header) == len(table.rows[0])


def test_quoted_newlines_stay_in_their_cell_and_lines_count_physical_lines():
    text = 'Email,Note\r\na@x.cz,"first line\r\nsecond line"\r\nb@x.cz,plain\r\n'
    table = table_read(data=text.encode())
    assert table.rows == [["a@x.cz", "first line\r\nsecond line"], ["b@x.cz", "plain"]]
    assert table.lines == [2, 4]


def test_short_rows_are_padded_and_long_rows_cut_to_the_header():
    table = table_read(data=b"Email,Name\na@x.cz\nb@x.cz,Bob,extra\n")
    assert table.rows == [["a@x.cz", ""], ["b@x.cz", "Bob"]]


def test_blank_and_repeated_headers_get_names():
    table = table_read(data=b"Email,,Email\na,b,c\n")
    assert table.header == ["Email", "Column 2", "Email (2)"]


def test_xlsx_is_read_with_numbers_as_typed():
    data = xlsx_bytes([["Email", "Score", "Rating"], ["a@x.cz", 12, 3.5], [], ["b@x.cz", 7, None]])
    table = table_read(data=data, file_name="contacts.xlsx")
    assert table.kind == "xlsx" and table.sheet == "Contacts"
    assert table.rows[0] == ["a@x.cz", "12", "3.5"]
    assert table.lines[0] == 2 and table.lines[-1] == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\r\n\r\n", "The file is empty"),
        (bytes(range(256)) * 20, "binary data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary data"),
        (b"PK\x03\x04this is no workbook", "cannot be read as an Excel workbook"),
        (b"a@x.cz,Ann\nb@x.cz,Bob\n", "looks like data, not column names"),
        (b"1;2;3\n4;5;6\n", "looks like data, not column names"),
    ],
    ids=["0-byte", "blank-lines", "binary", "png", "broken-xlsx", "no-header-emails", "no-header-numbers"],
)
def test_files_that_are_no_table_are_refused_with_a_reason(data, message):
    with pytest.raises(FileRefused, match=message):
        table_read(data=data)


def test_a_file_with_only_a_header_is_a_table_without_rows():
    table = table_read(data=b"Email,Name\r\n")
    assert table.header == ["Email", "Name"] and table.rows == []
