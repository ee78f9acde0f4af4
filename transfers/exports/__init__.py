"""Exports of contacts: what is exported (sources), which columns, and how it is written (CSV, XLSX).

Invariant: an export never holds more than one chunk of rows in memory: rows come from one query
iterated with a server-side cursor (`.iterator(chunk_size=…)` on `values_list`) or streamed by COPY (CSV
on PostgreSQL), ordered by id, and each batch of rows becomes bytes yielded at once, so a download starts
with its first rows. Both ways write the same bytes (tests/transfers/test_export_service.py compares them).

    columns.py   the column catalogue (built-in, custom fields in field-settings order, account, membership)
    sources.py   the contact list (its filters or an Advanced filter) or a group's members → a queryset
    writers.py   CSV (Excel-safe) and XLSX (streamed, stdlib zip) bytes from rows
    copy.py      CSV on PostgreSQL: COPY of the same query, every cell rendered in SQL as writers.py would
    service.py   export_stream(…): the three together; used by the pages, the command and bench.export;
                 export_start(…) checks a request and notes it in the audit log (the pages, the command)
"""

from transfers.exports.columns import Column, UnknownColumns, column_catalogue, columns_by_keys, default_column_keys
from transfers.exports.service import (
    ExportError,
    ExportFormat,
    ExportRequest,
    export_check,
    export_filename,
    export_start,
    export_stream,
)
from transfers.exports.sources import (
    ExportSource,
    SourceError,
    advanced_filter_source,
    contact_list_source,
    group_source,
)

__all__ = [
    "Column",
    "ExportError",
    "ExportFormat",
    "ExportRequest",
    "ExportSource",
    "SourceError",
    "UnknownColumns",
    "advanced_filter_source",
    "column_catalogue",
    "columns_by_keys",
    "contact_list_source",
    "default_column_keys",
    "export_check",
    "export_filename",
    "export_start",
    "export_stream",
    "group_source",
]
