"""An export from request to bytes: one query over the chosen columns, read in chunks, written as it comes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from transfers.exports.columns import SOURCE_LABELS, SOURCE_PATHS, Column, Kind
from transfers.exports.sources import ExportSource
from transfers.exports.writers import EXCEL_MAX_ROWS, csv_chunks, xlsx_chunks

CHUNK_SIZE = 2_000  # rows fetched from the server-side cursor, converted and written at a time
ZIP64_CELLS = 20_000_000  # beyond this many cells an XLSX sheet may pass 2 GiB uncompressed


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def content_type(self) -> str:
        if self is ExportFormat.XLSX:
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return "text/csv; charset=utf-8"


class ExportError(ValueError):
    """An export that cannot be made as asked (the message says why); nothing was sent."""


@dataclass(frozen=True)
class ExportRequest:
    source: ExportSource
    columns: list[Column]
    format: ExportFormat = ExportFormat.CSV
    bom: bool = False  # CSV: a UTF-8 byte order mark, so Excel reads accents right
    guard: bool = True  # CSV: a leading apostrophe on text a spreadsheet would run as a formula
    rows: int | None = field(default=None, compare=False)  # known row count (export_check fills it for XLSX)


def export_filename(*, request: ExportRequest, today: dt.date | None = None) -> str:
    """contacts-2026-01-31.csv, group-vip-2026-01-31.xlsx."""
    return f"{request.source.name}-{(today or timezone.localdate()):%Y-%m-%d}.{request.format.value}"


def export_check(*, request: ExportRequest) -> ExportRequest:
    """Refuse what cannot be written (ExportError) before the first byte is sent; XLSX counts its rows."""
    if not request.columns:
        raise ExportError("Choose at least one column.")
    if request.format is ExportFormat.XLSX:
        rows = request.source.count()
        if rows > EXCEL_MAX_ROWS - 1:
            raise ExportError(
                f"{rows:,} rows do not fit in an Excel sheet (at most {EXCEL_MAX_ROWS - 1:,}): export CSV instead, "
                "or narrow the filters."
            )
        return ExportRequest(**{**request.__dict__, "rows": rows})
    return request


def _paths(request: ExportRequest) -> list[str]:
    """The `values_list` paths the columns read, each once."""
    prefix = "contact__" if request.source.membership else ""
    paths: list[str] = []
    for column in request.columns:
        if column.kind is Kind.SOURCES:
            wanted = list(SOURCE_PATHS)
        elif column.section == "Group membership":
            wanted = [column.path]
        else:
            wanted = [prefix + column.path]
        paths += [p for p in wanted if p not in paths]
    return paths


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else timezone.localtime(value).replace(tzinfo=None)


def _custom_reader(column: Column, index: int) -> Callable[[tuple[Any, ...]], Any]:
    code, kind = column.custom_code, column.kind

    def read(row: tuple[Any, ...]) -> Any:
        custom = row[index]
        value = custom.get(code) if isinstance(custom, dict) else None
        if value is None or value == "" or value == []:
            return None
        if kind is Kind.LIST:
            return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        if kind is Kind.DATE and isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, dict | list):
            return str(value)
        return value

    return read


def _reader(column: Column, paths: list[str], prefix: str) -> Callable[[tuple[Any, ...]], Any]:
    """A function of one fetched row giving this column's value (typed; datetimes local and naive)."""
    if column.kind is Kind.SOURCES:
        flags = [paths.index(p) for p in SOURCE_PATHS]
        return lambda row: ", ".join(label for i, label in zip(flags, SOURCE_LABELS, strict=True) if row[i])
    path = column.path if column.section == "Group membership" else prefix + column.path
    index = paths.index(path)
    if column.custom_code:
        return _custom_reader(column, index)
    if column.kind is Kind.DATETIME:
        return lambda row: _local(row[index])
    return lambda row: row[index]


def export_rows(*, request: ExportRequest, chunk_size: int = CHUNK_SIZE) -> Iterator[list[list[Any]]]:
    """The rows of the export in batches of `chunk_size`, ordered by contact id, read with a server-side
    cursor (PostgreSQL) or chunked fetches (SQLite): at most one batch is held at a time."""
    paths = _paths(request)
    prefix = "contact__" if request.source.membership else ""
    readers = [_reader(c, paths, prefix) for c in request.columns]
    order = "contact_id" if request.source.membership else "pk"
    rows = request.source.queryset.order_by(order).values_list(*paths).iterator(chunk_size=chunk_size)
    # TRICKY: outside a transaction Django declares the PostgreSQL cursor WITH HOLD, and PostgreSQL then
    # computes the whole result when the (autocommit) transaction ends, before the first row is fetched.
    # Inside one, the cursor streams. Not on SQLite: a transaction there (BEGIN IMMEDIATE) would hold the
    # database's one write lock for the whole download.
    streaming = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic() if streaming else nullcontext():
        while chunk := list(islice(rows, chunk_size)):
            yield [[read(row) for read in readers] for row in chunk]


def export_stream(*, request: ExportRequest, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The export file's bytes, chunk by chunk (call `export_check` first to refuse what cannot be written)."""
    header = [c.label for c in request.columns]
    batches = export_rows(request=request, chunk_size=chunk_size)
    if request.format is ExportFormat.XLSX:
        rows = request.rows if request.rows is not None else request.source.count()
        yield from xlsx_chunks(
            header=header,
            batches=batches,
            sheet_name="Members" if request.source.membership else "Contacts",
            large=rows * len(header) > ZIP64_CELLS,
        )
    else:
        yield from csv_chunks(header=header, batches=batches, bom=request.bom, guard=request.guard)
