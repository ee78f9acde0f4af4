"""Pagination that stays fast on a million rows: the total is counted only up to a cap.

Counting every row of a large filtered table on each page view is the slow part of offset pagination.
`CappedPaginator` counts at most `cap + 1` rows (one LIMITed subquery); beyond it the page says
"more than 10,000" and offers Next/Previous rather than a last page.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.utils.formats import number_format


class CappedPaginator(Paginator):
    cap = 10_000

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        limited = self.object_list.order_by()[: self.cap + 1]  # type: ignore[attr-defined]
        return limited.count()

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap

    @property
    def count_display(self) -> str:
        if self.is_capped:
            return f"more than {number_format(self.cap, force_grouping=True)}"
        return number_format(self.count, force_grouping=True)


class NearestPageMixin:
    """ListView mixin: a page number out of range or malformed shows the nearest page rather than a 404.

    `?page=last` is the last page.
    """

    request: Any

    def paginate_queryset(self, queryset: Any, page_size: int) -> tuple[Paginator, Any, Any, bool]:
        paginator = self.get_paginator(queryset, page_size)  # type: ignore[attr-defined]
        number = self.request.GET.get("page") or 1
        if number == "last":
            number = paginator.num_pages
        page = paginator.get_page(number)
        return paginator, page, page.object_list, page.has_other_pages()
