"""An export from request to bytes: one query over the chosen columns, read in chunks, written as it comes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import islice
from typing import Any

from django.db import transaction
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from config.replica import read_connection
from transfers.exports.columns import SOURCE_LABELS, SOURCE_PATHS, Column, Kind
from transfers.exports.copy import copy_csv_chunks, copy_supported
from transfers.exports.sources import ExportSource
from transfers.exports.writers import EXCEL_MAX_ROWS, csv_cells, csv_chunks, csv_header, csv_lines, xlsx_chunks

CHUNK_SIZE = 10_000  # rows fetched from the server-side cursor, converted and written at a time
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


@transaction.atomic
def export_start(*, request: ExportRequest) -> ExportRequest:
    """`export_check`, then note in the audit log who exports what (the download and the command call this)."""
    request = export_check(request=request)
    audit_record(
        action=AuditAction.EXPORT_RUN,
        label=request.source.description,
        changes={
            "format": request.format.value.upper(),
            "columns": [column.label for column in request.columns],
            **({"rows": request.rows} if request.rows is not None else {}),
        },
        summary=f"downloaded {export_filename(request=request)}",
    )
    return request


def _prefix(request: ExportRequest) -> str:
    return "contact__" if request.source.membership else ""


def _selects(request: ExportRequest) -> list[Any]:
    """One select item per column: its field path, the custom field's key (its JSON value only, so no row
    parses the whole `custom` object), or the membership's three source flags (Kind.SOURCES)."""
    prefix = _prefix(request)
    selects: list[Any] = []
    for column in request.columns:
        if column.kind is Kind.SOURCES:
            selects += list(SOURCE_PATHS)
        elif column.custom_code:
            selects.append(KeyTransform(column.custom_code, prefix + "custom"))
        else:
            selects.append(column.value(prefix))
    return selects


def _local(value: dt.datetime | None, *, zone: dt.tzinfo) -> dt.datetime | None:
    return None if value is None else value.astimezone(zone).replace(tzinfo=None)


def _custom_value(value: Any, *, kind: Kind) -> Any:
    """How one custom field's stored JSON value is exported (typed; empty values None)."""
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


def _sources(row: tuple[Any, ...], start: int) -> str:
    return ", ".join(label for flag, label in zip(row[start : start + 3], SOURCE_LABELS, strict=True) if flag)


def _converters(request: ExportRequest) -> tuple[list[tuple[int, Callable[[Any], Any]]], int | None]:
    """(select index, converter) for the columns whose fetched value is not exported as is, and the
    select index of the membership's source flags (None when not exported)."""
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    index, sources = 0, None
    for column in request.columns:
        if column.kind is Kind.SOURCES:
            sources = index
            index += 3
            continue
        if column.custom_code:
            converters.append((index, partial(_custom_value, kind=column.kind)))
        elif column.kind is Kind.DATETIME:
            converters.append((index, partial(_local, zone=timezone.get_current_timezone())))
        index += 1
    return converters, sources


def export_rows(*, request: ExportRequest, chunk_size: int = CHUNK_SIZE) -> Iterator[list[list[Any]]]:
    """The rows of the export in batches of `chunk_size`, ordered by contact id, read with a server-side
    cursor (PostgreSQL) or chunked fetches (SQLite): at most one batch is held at a time."""
    converters, sources = _converters(request)
    order = "contact_id" if request.source.membership else "pk"
    queryset = request.source.queryset.order_by(order).values_list(*_selects(request))
    rows = queryset.iterator(chunk_size=chunk_size)
    # TRICKY: outside a transaction Django declares the PostgreSQL cursor WITH HOLD, and PostgreSQL then
    # computes the whole result when the (autocommit) transaction ends, before the first row is fetched.
    # Inside one, the cursor streams. Not on SQLite: a transaction there (BEGIN IMMEDIATE) would hold the
    # database's one write lock for the whole download.
    reads = read_connection()  # the replica when the export is a lagging read (config.replica)
    streaming = reads.vendor == "postgresql" and not reads.in_atomic_block
    with transaction.atomic(using=reads.alias) if streaming else nullcontext():
        while chunk := list(islice(rows, chunk_size)):
            if not converters and sources is None:
                yield [list(row) for row in chunk]
                continue
            batch = []
            for row in chunk:
                values = list(row)
                for i, convert in converters:
                    values[i] = convert(values[i])
                if sources is not None:
                    values[sources : sources + 3] = [_sources(row, sources)]
                batch.append(values)
            yield batch


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
    elif copy_supported(request):
        yield csv_header(header=header, bom=request.bom)
        yield from copy_csv_chunks(
            request=request, chunk_size=chunk_size, render=lambda cells, custom: _render(request, cells, custom)
        )
    else:
        yield from csv_chunks(header=header, batches=batches, bom=request.bom, guard=request.guard)


def _render(request: ExportRequest, cells: list[str], custom: list[tuple[int, Column]]) -> bytes:
    """A row COPY marked: its custom cells (JSON) rendered as the Python path does, the rest as written."""
    row: list[Any] = list(cells)
    guarded = [False] * len(row)
    for index, column in custom:
        row[index] = _custom_value(json.loads(cells[index]) if cells[index] else None, kind=column.kind)
        guarded[index] = True
    row = [csv_cells([value], request.guard)[0] if guard else value for value, guard in zip(row, guarded, strict=True)]
    return next(csv_lines(rows=[row], guard=False))
