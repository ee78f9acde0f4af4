"""Shared view plumbing: the filtered, sorted, capped-paginated list (Wagtail IndexView-style)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import ListView

from contacts import selectors
from contacts.pagination import CappedPaginator, NearestPageMixin


class FilteredListView(NearestPageMixin, ListView):
    """base queryset → filter (FilterSet) → order (whitelisted ?sort=) → paginate (capped count)."""

    filterset_class: Any = None
    sorts: dict[str, tuple[str, tuple[Any, ...]]] = {}
    default_sort = ""
    paginator_class = CappedPaginator
    paginate_by = 50

    def base_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_filterset_kwargs(self) -> dict[str, Any]:
        return {}

    def get_queryset(self) -> QuerySet[Any]:
        self.filterset = self.filterset_class(
            self.request.GET, queryset=self.base_queryset(), request=self.request, **self.get_filterset_kwargs()
        )
        self.sort = selectors.parse_sort(self.request.GET.get("sort"), sorts=self.sorts, default=self.default_sort)
        return self.filterset.qs.order_by(*selectors.sort_ordering(self.sort, sorts=self.sorts))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filter_keys = [k for k in self.request.GET if k not in ("page", "sort")]
        context.update(
            filterset=self.filterset,
            sort=self.sort,
            is_filtered=any(self.request.GET.get(k) for k in filter_keys),
        )
        return context


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter when it points into this site, else `fallback`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback
