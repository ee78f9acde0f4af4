"""Pagination that stays fast on a million rows: the total is counted only up to a cap.

Counting every row of a large filtered table on each page view is the slow part of offset pagination.
`CappedPaginator` counts at most `cap + 1` rows (one LIMITed subquery); beyond it the page says
"more than 10,000" and offers Next/Previous rather than a last page.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db.models import BooleanField, Expression, F, OrderBy, Value
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


class RowCompare(Expression):
    """`(a, b, …) > (x, y, …)` (or `<`): the rows after (or before) a position in a sort, for keyset pages.

    One row comparison, not the expanded `a > x OR (a = x AND b > y) …`: PostgreSQL matches a row
    comparison against the columns of an index on (a, b, …) and starts its scan at the position; the
    expanded form can only scan from the first column's value. SQLite (3.15+) has row values too.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, keys: list[Any], values: list[Any], *, greater: bool) -> None:
        super().__init__()
        if len(keys) != len(values):
            raise ValueError("a row comparison needs as many values as keys")
        self.keys = [k if hasattr(k, "resolve_expression") else F(k) for k in keys]
        self.values = [v if hasattr(v, "resolve_expression") else Value(v) for v in values]
        self.greater = greater

    def get_source_expressions(self) -> list[Any]:
        return [*self.keys, *self.values]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.keys, self.values = list(exprs[: len(self.keys)]), list(exprs[len(self.keys) :])

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        sides: list[str] = []
        params: list[Any] = []
        for side in (self.keys, self.values):
            parts = []
            for expression in side:
                sql, part_params = compiler.compile(expression)
                parts.append(sql)
                params.extend(part_params)
            sides.append(f"({', '.join(parts)})")
        return f"{sides[0]} {'>' if self.greater else '<'} {sides[1]}", tuple(params)


def keyset_q(*, ordering: list[OrderBy], values: list[Any], after: bool = True) -> RowCompare:
    """The rows strictly after (or before) the row whose sort keys are `values`, in `ordering`.

    Every key must be non-null and the keys all ascending or all descending (the whitelisted sorts are).
    """
    descending = {o.descending for o in ordering}
    if len(descending) != 1:
        raise ValueError("a keyset needs every key in the same direction")
    return RowCompare([o.expression for o in ordering], values, greater=after != descending.pop())
