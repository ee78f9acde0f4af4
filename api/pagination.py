"""Cursor pagination: stable pages however many rows are added or removed meanwhile.

Lists are ordered by id (ascending: the oldest first, new rows at the end), so a client can walk a whole
table and later continue from its last cursor. `next` is the URL of the next page (null on the last).
"""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
