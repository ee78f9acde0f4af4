"""Bytes of an export file from batches of rows: CSV (Excel-safe) and XLSX (streamed).

Rows arrive as lists of plain values (str, int, float, Decimal, bool, date, naive local datetime, None)
in batches; each writer yields the bytes of a batch before it reads the next, so memory stays flat and the
download starts with the first batch.

XLSX: written here, with the standard library's zip writer on an unseekable sink (each entry followed by a
data descriptor), because the well-kept writers (XlsxWriter, openpyxl) only produce the zip container when
the whole workbook is done — XlsxWriter's constant-memory mode keeps memory flat but the first byte would
leave after the last row was read. One worksheet, inline strings (no shared-string table to hold in memory),
dates as Excel serial numbers with a date format; read back by openpyxl in the tests.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

BOM = "\ufeff"
# A text beginning with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
# ...unless it is only a number or a phone number ("-5", "+420 777 123 456"): no function can hide there.
PLAIN_NUMBER = re.compile(r"[+\-]?[0-9 ().,/\-]*")
EXCEL_MAX_ROWS = 1_048_576  # including the header row
EXCEL_MAX_CELL = 32_767  # characters in one cell
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = dt.datetime(1899, 12, 30)


def formula_safe(text: str) -> str:
    """`text`, with a leading apostrophe when a spreadsheet would take it for a formula."""
    if text and text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Parts:
    """A pseudo-buffer for csv.writer: keeps what is written until the batch is taken."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_text(value: Any) -> str:
    """How one value reads in a CSV cell."""
    if value is None:
        return ""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def csv_cells(row: list[Any], guard: bool) -> list[Any]:
    """The cells csv.writer writes for one row: text guarded (when asked), the rest as csv_text says.

    Ints, floats, Decimals, dates and None go to csv.writer as they are (it writes str(value), "" for None).
    """
    cells = list(row)
    for i, value in enumerate(cells):
        kind = type(value)
        if kind is str:
            if guard and value and value[0] in _FORMULA_FIRST:
                cells[i] = formula_safe(value)
        elif kind is bool or kind is dt.datetime or isinstance(value, str | dt.datetime):
            cells[i] = formula_safe(value) if guard and isinstance(value, str) else csv_text(value)
    return cells


def csv_header(*, header: list[str], bom: bool = False) -> bytes:
    parts = _Parts()
    csv.writer(parts, lineterminator="\r\n").writerow(header)
    return ((BOM if bom else "") + parts.take()).encode()


def csv_lines(*, rows: Iterable[list[Any]], guard: bool = True) -> Iterator[bytes]:
    """Each row's CSV line, without its "\r\n"."""
    parts = _Parts()
    writer = csv.writer(parts, lineterminator="\r\n")
    for row in rows:
        writer.writerow(csv_cells(row, guard))
        yield parts.take()[:-2].encode()


def csv_chunks(
    *, header: list[str], batches: Iterable[list[list[Any]]], bom: bool = False, guard: bool = True
) -> Iterator[bytes]:
    """The CSV file, one chunk per batch (UTF-8, optional BOM for Excel, formula guard on text)."""
    yield csv_header(header=header, bom=bom)
    parts = _Parts()
    writer = csv.writer(parts, lineterminator="\r\n")
    for batch in batches:
        writer.writerows([csv_cells(row, guard) for row in batch])
        yield parts.take().encode()


# --- XLSX -----------------------------------------------------------------------------------------

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STATIC_PARTS = {
    "[Content_Types].xml": _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>",
    "_rels/.rels": _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/_rels/workbook.xml.rels": _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
    # Cell styles: 0 general, 1 date (built-in format 14), 2 date and time (22), 3 bold (the header).
    "xl/styles.xml": _HEAD + f'<styleSheet xmlns="{_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>',
}


def _workbook(sheet_name: str) -> str:
    return (
        _HEAD + f'<workbook xmlns="{_NS}" xmlns:r="{_REL}"><bookViews><workbookView/></bookViews>'
        f'<sheets><sheet name="{_xml(sheet_name[:31])}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


def _xml(text: str) -> str:
    text = _ILLEGAL_XML.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_XML_SPECIAL = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
_EMPTY_CELL = "<c/>"


def _cell(value: Any) -> str:
    """One cell of a row. No `r` attributes: cells and rows follow each other (an empty value is an empty
    `<c/>`, which keeps the next cell in its column), as ECMA-376 allows; the file is a fifth smaller and
    each cell a few string operations."""
    kind = type(value)
    if kind is str:
        if not value:
            return _EMPTY_CELL
        text = value if len(value) <= EXCEL_MAX_CELL else value[:EXCEL_MAX_CELL]
        if _XML_SPECIAL.search(text):
            text = _xml(text)
        return f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    if value is None:
        return _EMPTY_CELL
    if kind is bool:
        return f'<c t="b"><v>{int(value)}</v></c>'
    if kind is int or kind is float or isinstance(value, int | float | Decimal):
        return f"<c><v>{value}</v></c>"
    if isinstance(value, dt.datetime):
        serial = (value - _EPOCH).total_seconds() / 86400
        return f'<c s="2"><v>{serial:.6f}</v></c>'
    if isinstance(value, dt.date):
        return f'<c s="1"><v>{(value - _EPOCH.date()).days}</v></c>'
    return _cell(str(value)) if str(value) else _EMPTY_CELL


class _Sink:
    """An unseekable file for zipfile: collects what is written until it is taken."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def xlsx_chunks(
    *, header: list[str], batches: Iterable[list[list[Any]]], sheet_name: str = "Contacts", large: bool = False
) -> Iterator[bytes]:
    """The XLSX file, streamed: the small parts, then the sheet one batch of rows at a time.

    `large`: the sheet may exceed 2 GiB uncompressed (Zip64 then; some Excel versions offer to repair
    such files, so it is only used when needed).
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:  # type: ignore[call-overload]
        for name, text in {**_STATIC_PARTS, "xl/workbook.xml": _workbook(sheet_name)}.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=large) as sheet:
            letters = [column_letters(i) for i in range(len(header))]
            head = "".join(
                f'<c r="{letter}1" t="inlineStr" s="3"><is><t>{_xml(label)}</t></is></c>'
                for letter, label in zip(letters, header, strict=True)
            )
            sheet.write(
                (
                    _HEAD + f'<worksheet xmlns="{_NS}"><sheetViews><sheetView workbookViewId="0">'
                    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView>'
                    f'</sheetViews><sheetData><row r="1">{head}</row>'
                ).encode()
            )
            yield sink.take()
            for batch in batches:
                sheet.write("".join(f"<row>{''.join(map(_cell, row))}</row>" for row in batch).encode())
                yield sink.take()
            sheet.write(b"</sheetData></worksheet>")
    yield sink.take()
