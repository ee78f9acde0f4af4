"""The audit log's pages (Admins): the list with its filters, one entry, and the filtered log as CSV.

Read only: no view here writes an entry, and no URL changes or deletes one.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, ListView

from audit import selectors
from audit.diff import change_rows
from audit.filters import AuditEntryFilterSet
from audit.models import AuditEntry
from contacts.pagination import NearestPageMixin

VIEW = "audit.view_auditentry"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AuditLogView(PermissionRequiredMixin, NearestPageMixin, ListView):
    permission_required = VIEW
    template_name = "audit/entry_list.html"
    context_object_name = "entries"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[AuditEntry]:
        self.filterset = AuditEntryFilterSet(self.request.GET or None, queryset=selectors.audit_entries())
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        entries = list(context["entries"])
        links = selectors.object_links(entries)
        context.update(
            filter=self.filterset,
            rows=[(entry, links.get(entry.pk), change_rows(entry.changes)) for entry in entries],
            query=self.request.GET.urlencode(),
        )
        return context


class AuditEntryDetailView(PermissionRequiredMixin, DetailView):
    permission_required = VIEW
    model = AuditEntry
    template_name = "audit/entry_detail.html"
    context_object_name = "entry"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            link=selectors.object_links([self.object]).get(self.object.pk),
            changes=change_rows(self.object.changes),
        )
        return context


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(text: str) -> str:
    """A spreadsheet would run text starting like a formula: an apostrophe keeps it text."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


class AuditExportView(PermissionRequiredMixin, View):
    """The log as filtered on the page, as CSV (UTF-8 with a byte order mark, for Excel)."""

    permission_required = VIEW

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        filterset = AuditEntryFilterSet(request.GET or None, queryset=selectors.audit_entries())
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield "\ufeff"
            for row in selectors.csv_rows(filterset.qs):
                yield writer.writerow([_cell(cell) for cell in row])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        filename = f"audit-log-{timezone.localdate():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
