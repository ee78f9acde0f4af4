"""CSV exports on PostgreSQL, written by PostgreSQL: `COPY (the export's query) TO STDOUT (FORMAT csv)`.

The query wraps the compiled SQL of the export's own queryset (same source, filters and order as the
Python path, `service.export_rows`) and renders every column in SQL as the CSV cell the Python path
writes: text with the formula guard (writers.formula_safe as a CASE), datetimes by to_char() in the
current time zone, custom values by their JSON type (strings read as contacts.custom_sql.JsonText does),
empty cells as NULL (COPY writes NULL unquoted and '' as ""). Python only regroups the rows COPY sends
(one message per row) into chunks and ends them with "\\r\\n" as csv.writer does.

Exactness: a custom value SQL cannot render exactly as Python would (an object, a list in a non-list
field, a number PostgreSQL would print otherwise than Python's float, a date in another ISO form…) marks
its row: the row starts with "m" instead of an empty cell and its custom cells hold their JSON values,
which Python renders as the Python path does (no second query: the connection is busy with the COPY).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config.replica import read_connection
from transfers.exports.columns import SOURCE_LABELS, SOURCE_PATHS, Column, Kind

if TYPE_CHECKING:
    from transfers.exports.service import ExportRequest

# writers.formula_safe in SQL: a text starting with = + - @ TAB CR that is not only a number or a phone
# number (writers.PLAIN_NUMBER) gets a leading apostrophe; "" becomes NULL. {x} is never NULL here.
GUARD_SQL = (
    "(CASE WHEN ascii({x}) IN (61, 43, 45, 64, 9, 13)"
    " AND {x} !~ '^[-+]?[0123456789 ().,/-]*$' THEN '''' || {x} ELSE NULLIF({x}, '') END)"
)
# A JSON number's text (jsonb keeps the digits it was given) that Python prints the same after json.loads:
# an int below 1e16, or a float of at most 15 significant digits without a needless trailing zero
# (then the text is exactly the float's shortest repr, which is positional from 1e-4 to 1e16).
_INT = "^-?[0-9]{1,16}$"
_FLOAT = "^-?(0|[1-9][0-9]{0,14})\\.([0-9]*[1-9]|0)$"
_TINY = "^-?0\\.000"  # below 1e-4 Python prints an exponent


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text(x: str, guard: bool) -> str:
    return GUARD_SQL.replace("{x}", x) if guard else f"NULLIF({x}, '')"


def _custom(column: Column, j: str, t: str, r: str, guard: bool) -> tuple[str, str]:
    """(the cell, TRUE when SQL cannot render it as Python would) for a custom field whose JSON value is
    `j`, its jsonb_typeof `t` and its text `r` (j #>> '{}': a string's own text, a number's digits)."""
    if column.kind is Kind.LIST:
        items = (
            f"(SELECT string_agg(item, ', ' ORDER BY n) FROM jsonb_array_elements_text({j})"
            " WITH ORDINALITY AS items(item, n))"
        )
        array_cell = _text(f"COALESCE({items}, '')", guard)
        array_exact = (
            f"NOT EXISTS (SELECT 1 FROM jsonb_array_elements({j}) AS items(item) WHERE jsonb_typeof(item) <> 'string')"  # noqa: E501
        )
    else:
        array_cell, array_exact = "NULL", f"jsonb_array_length({j}) = 0"
    # Python turns ISO dates into dates: only the canonical form (or no date at all) reads the same.
    string_exact = (
        f"({r} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' OR {r} !~ '^[0-9+-]')" if column.kind is Kind.DATE else "TRUE"
    )
    cell = (
        f"(CASE {t} WHEN 'string' THEN {_text(r, guard)}"
        f" WHEN 'boolean' THEN (CASE WHEN {r} = 'true' THEN 'yes' ELSE 'no' END)"
        f" WHEN 'number' THEN {r} WHEN 'array' THEN {array_cell} END)"
    )
    inexact = (
        f"(CASE {t} WHEN 'string' THEN NOT {string_exact}"
        f" WHEN 'number' THEN NOT ({r} ~ '{_INT}' OR ({r} ~ '{_FLOAT}' AND {r} !~ '{_TINY}'))"
        f" WHEN 'array' THEN NOT {array_exact} WHEN 'object' THEN TRUE ELSE FALSE END)"
    )
    return cell, inexact


def copy_supported(request: ExportRequest) -> bool:
    """COPY writes this export: PostgreSQL, CSV, more than one column (csv.writer quotes a lone empty
    cell, and COPY a lone \\. — one-column exports stay with Python)."""
    return connection.vendor == "postgresql" and len(request.columns) > 1


def copy_sql(request: ExportRequest) -> tuple[str, tuple[Any, ...], list[tuple[int, Column]]]:
    """The COPY statement, its parameters, and (when rows may carry the "render in Python" mark) the
    custom columns' cell positions."""
    membership = request.source.membership
    prefix = "contact__" if membership else ""
    order = "contact_id" if membership else "pk"
    inner: dict[str, Any] = {"o": F(order)}
    cells: list[str] = []
    inexact: list[str] = []
    custom: list[tuple[int, Column, str]] = []
    values: list[str] = []  # each custom value read once (the subqueries are fenced by OFFSET 0)
    zone = _literal(timezone.get_current_timezone_name())
    for i, column in enumerate(request.columns):
        name = f"c{i}"
        if column.kind is Kind.SOURCES:
            for path in SOURCE_PATHS:
                inner[f"{name}_{path}"] = F(path)
            parts = [
                f"CASE WHEN q.{name}_{p} THEN {_literal(label)} END"
                for p, label in zip(SOURCE_PATHS, SOURCE_LABELS, strict=True)
            ]  # noqa: E501
            cells.append(f"NULLIF(concat_ws(', ', {', '.join(parts)}), '')")
            continue
        value = column.value(prefix)
        inner[name] = F(value) if isinstance(value, str) else value
        x = f"q.{name}"
        if column.custom_code:
            values.append(f"q.{name} -> {_literal(column.custom_code)} AS {name}j")
            values.append(f"jsonb_typeof(q.{name} -> {_literal(column.custom_code)}) AS {name}t")
            values.append(f"(q.{name} -> {_literal(column.custom_code)}) #>> '{{}}' AS {name}r")
            cell, bad = _custom(column, f"q.{name}j", f"q.{name}t", f"q.{name}r", request.guard)
            cells.append(cell)
            custom.append((len(cells) - 1, column, f"q.{name}j::text"))
            inexact.append(bad)
        elif column.kind is Kind.DATETIME:
            cells.append(f"date_trunc('second', {x} AT TIME ZONE {zone})::text")  # DateStyle ISO (set below)
        elif column.kind is Kind.TEXT:
            cells.append(_text(x, request.guard))
        else:  # integers
            cells.append(f"{x}::text")
    sql, params = request.source.queryset.order_by(order).values(**inner).query.sql_with_params()
    if inexact:  # the mark, and in a marked row each custom cell holds its JSON value
        for index, _column, json in custom:
            cells[index] = f"(CASE WHEN q.m THEN {json} ELSE {cells[index]} END)"
        cells.insert(0, "(CASE WHEN q.m THEN 'm' END)")
        # TRICKY: each level orders by q.o too, or PostgreSQL forgets the (index) order and sorts at the end.
        sql = f"SELECT q.*, {', '.join(values)} FROM ({sql}) AS q ORDER BY q.o OFFSET 0"
        sql = f"SELECT *, ({' OR '.join(inexact)}) AS m FROM ({sql}) AS q ORDER BY q.o OFFSET 0"
    statement = f"COPY (SELECT {', '.join(cells)} FROM ({sql}) AS q ORDER BY q.o) TO STDOUT (FORMAT csv)"
    return statement, params, [(index, column) for index, column, _json in custom] if inexact else []


@contextmanager
def _session(cursor: Any) -> Iterator[None]:
    """For this transaction: timestamps print as "YYYY-MM-DD HH:MM:SS" (whatever the server's DateStyle),
    and no JIT (compiling the cells' expressions costs seconds before the first row, for little gain)."""
    cursor.execute("SET LOCAL DateStyle = 'ISO'")
    cursor.execute("SET LOCAL jit = off")
    yield


def copy_csv_chunks(
    *,
    request: ExportRequest,
    chunk_size: int,
    render: Callable[[list[str], list[tuple[int, Column]]], bytes],
) -> Iterator[bytes]:
    """The rows' CSV bytes (no header), one chunk per `chunk_size` rows as COPY sends them.

    `render(cells, custom)` writes a marked row's line (without "\\r\\n") from its cells as COPY wrote
    them, the custom ones holding their JSON value (positions and columns in `custom`).
    """
    statement, params, custom = copy_sql(request)
    reads = read_connection()  # the replica when the export is a lagging read (config.replica)
    with (
        transaction.atomic(using=reads.alias),
        reads.cursor() as cursor,
        _session(cursor),
        cursor.connection.cursor().copy(reads.ops.compose_sql(statement, params)) as copy,  # type: ignore[attr-defined]
    ):
        lines: list[Any] = []
        while row := copy.read():  # one row per message, "\n"-terminated
            if not custom:
                lines.append(row[:-1])
            elif row[0] == 44:  # ",": no mark
                lines.append(row[1:-1])
            else:
                cells = next(csv.reader([bytes(row[2:-1]).decode()]))
                lines.append(render(cells, custom))
            if len(lines) >= chunk_size:
                yield b"\r\n".join(lines) + b"\r\n"
                lines = []
        if lines:
            yield b"\r\n".join(lines) + b"\r\n"
