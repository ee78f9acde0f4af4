"""Cursor pagination: stable pages however many rows are added or removed meanwhile.

Lists are ordered by id (ascending: the oldest first, new rows at the end), so a client can walk a whole
table and later continue from its last cursor. `next` is the URL of the next page (null on the last).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Any:
        """A malformed cursor is a bad request (400, path "cursor"), not a missing page."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor: use the `next` URL as given."]}) from None
