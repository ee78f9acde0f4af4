"""Reading an uploaded file into a table: header + rows of text cells, or a clear refusal.

Invariant: `table_read` either returns a Table whose header has at least one named column and whose
rows are lists of strings (padded or cut to the header's width), or raises FileRefused with a message
for the person who uploaded it. Nothing here touches the database.

CSV: the encoding is taken from a BOM (UTF-8, UTF-16), else strict UTF-8, else UTF-16 without BOM
(NUL bytes in every other place), else the most plausible of Windows-1250 / Windows-1252 / ISO-8859-2
(charset-normalizer). The delimiter is the one of comma, semicolon, tab and pipe that splits the first
lines into the most columns, consistently; quoted newlines are read by the csv module.
XLSX / XLS / ODS: python-calamine (fast, Rust), the first sheet with data.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import charset_normalizer

MAX_COLUMNS = 200
SNIFF_LINES = 50
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
# Bytes that never occur in text (control characters other than tab, newline, carriage return, form feed).
BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
# Cells that are values, never column names: an email address; a number or a date.
EMAIL_LIKE = re.compile(r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$")
NUMBER_LIKE = re.compile(r"^\s*[-+]?\d[\d\s.,/:-]*\s*$")


class FileRefused(ValueError):
    """The file is not a table we can read; the message says why, for the person who uploaded it."""


@dataclass
class Table:
    """A file read as text: column names, rows of cells (strings), and how the file was read."""

    header: list[str]
    rows: list[list[str]]
    kind: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    # The line (CSV: physical line of the row's start; XLSX: sheet row) of each row, for the report.
    lines: list[int] = field(default_factory=list)

    @property
    def description(self) -> str:
        """How the file was read, in words ("CSV, UTF-8, semicolon-separated")."""
        if self.kind == "csv":
            return f"CSV, {self.encoding}, {DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated"
        return f"Excel, sheet “{self.sheet}”"


def table_read(*, data: bytes, file_name: str = "") -> Table:
    """Read `data` (CSV or XLSX) into a Table; FileRefused with the reason when it is not a readable table."""
    if not data or not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise FileRefused("The file is empty.")
    if data.startswith(ZIP_MAGIC) or data.startswith(OLE_MAGIC):
        header, rows, lines, sheet = _spreadsheet_rows(data)
        table = Table(header=header, rows=rows, lines=lines, kind="xlsx", sheet=sheet)
    else:
        text, encoding = text_decode(data)
        delimiter = delimiter_detect(text)
        header, rows, lines = _csv_rows(text, delimiter)
        table = Table(header=header, rows=rows, lines=lines, kind="csv", encoding=encoding, delimiter=delimiter)
    _check_table(table, file_name=file_name)
    return table


# --- CSV ---------------------------------------------------------------------------------------


def text_decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the name of its encoding; FileRefused for binary data."""
    for bom, encoding, name in (
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"),
        (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding), name
            except UnicodeDecodeError:
                raise FileRefused(f"The file starts as {name} but is not valid {name} text.") from None
    sample = data[:4096]
    if sample.count(b"\x00") > len(sample) // 4:  # UTF-16 without a BOM: every other byte is NUL (for ASCII)
        zeros_at_odd = sample[1::2].count(b"\x00")
        encoding = "utf-16-le" if zeros_at_odd > sample[0::2].count(b"\x00") else "utf-16-be"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            text = ""
        if text and not BINARY_BYTES.search(text[:4096].encode("utf-8", "replace")):
            return text, "UTF-16"
    if BINARY_BYTES.search(sample):
        raise FileRefused(
            "This is not a CSV or Excel file (it contains binary data). Upload a .csv, .xlsx or .xls file."
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    # TRICKY: charset-normalizer alone sometimes prefers an exotic code page for short Czech text; the
    # files people bring that are not UTF-8 come from Excel on Windows, so only those code pages compete.
    best = charset_normalizer.from_bytes(data, cp_isolation=["cp1250", "cp1252", "iso8859_2"]).best()
    encoding = best.encoding if best is not None else "cp1252"
    try:
        return data.decode(encoding), _encoding_name(encoding)
    except UnicodeDecodeError:  # pragma: no cover - cp1252 decodes nearly anything; the rest is replaced
        return data.decode("cp1252", errors="replace"), "Windows-1252"


def _encoding_name(encoding: str) -> str:
    return {"cp1250": "Windows-1250", "cp1252": "Windows-1252", "iso8859_2": "ISO-8859-2"}.get(encoding, encoding)


def delimiter_detect(text: str) -> str:
    """The delimiter splitting the first lines into the most columns, the same number on most lines."""
    sample = "\n".join(text.splitlines()[:SNIFF_LINES])
    best, best_score = ",", (False, 0, 0)
    for delimiter in DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(row)]
        except csv.Error:
            continue
        if not widths:
            continue
        header_width = widths[0]
        agreeing = sum(1 for w in widths if w == header_width)
        # A header split into columns first; then the most lines agreeing with it (a comma inside names
        # must not beat ";"), then the most columns.
        score = (header_width > 1, agreeing, header_width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_rows(text: str, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if header is None:
                if any(cell.strip() for cell in row):
                    header = row
                continue
            rows.append(row)
            lines.append(line)
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from None
    return header or [], rows, lines


# --- Spreadsheets -----------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a person would type (whole numbers without ".0", dates as ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _spreadsheet_rows(data: bytes) -> tuple[list[str], list[list[str]], list[int], str]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))  # type: ignore[arg-type]
    except Exception:  # calamine raises several of its own errors (zip, xml, password) for files it cannot read
        raise FileRefused(
            "This file cannot be read as an Excel workbook (damaged, password-protected, or not a spreadsheet)."
        ) from None
    for name in workbook.sheet_names:
        sheet_rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        for number, raw in enumerate(sheet_rows, start=1):
            cells = [_cell_text(v) for v in raw]
            if header is None:
                if any(c.strip() for c in cells):
                    header = cells
                continue
            rows.append(cells)
            lines.append(number)
        if header:
            return header, rows, lines, name
    return [], [], [], ""


# --- Is it a table? ---------------------------------------------------------------------------


def _check_table(table: Table, *, file_name: str) -> None:
    while table.header and not table.header[-1].strip():  # trailing empty header cells (Excel's used range)
        table.header.pop()
    if not table.header:
        raise FileRefused("The file has no column names: the first row must name the columns (e.g. Email, Name).")
    if len(table.header) > MAX_COLUMNS:
        raise FileRefused(f"The file has {len(table.header)} columns; at most {MAX_COLUMNS} can be imported.")
    named = [h for h in table.header if h.strip()]
    if any(EMAIL_LIKE.match(h) for h in named) or (named and all(NUMBER_LIKE.match(h) for h in named)):
        raise FileRefused(
            "The first row looks like data, not column names. Add a first row naming the columns (e.g. Email, Name)."
        )
    width = len(table.header)
    table.header = unique_headers(table.header)
    table.rows = [row if len(row) == width else (row + [""] * (width - len(row)))[:width] for row in table.rows]


def unique_headers(header: list[str]) -> list[str]:
    """Column names trimmed, blanks named "Column N", repeats numbered ("Email", "Email (2)")."""
    seen: dict[str, int] = {}
    result = []
    for index, name in enumerate(header, start=1):
        name = " ".join(name.split()) or f"Column {index}"
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        result.append(name if count == 1 else f"{name} ({count})")
    return result


def rows_nonempty(table: Table) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of every row with at least one non-blank cell."""
    for line, row in zip(table.lines, table.rows, strict=True):
        if any(cell.strip() for cell in row):
            yield line, row
