"""Export pages: the column chooser and the streamed download (contact list, Advanced filter, a group's
members), and group definitions (JSON out, JSON in with a plan before anything is written)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View

from segments.models import ContactGroup
from segments.rules import RuleError
from transfers import group_definitions as definitions
from transfers.exports import (
    ExportError,
    ExportFormat,
    ExportRequest,
    ExportSource,
    SourceError,
    advanced_filter_source,
    contact_list_source,
    export_filename,
    export_start,
    export_stream,
    group_source,
)
from transfers.exports.forms import DefinitionsConfirmForm, DefinitionsUploadForm, ExportForm

ADVANCED_FILTER_PERMISSION = "segments.change_contactgroup"  # as the Advanced filter page itself
LIST_PARAMETERS_DROPPED = ("page", "sort", "after", "before")


class _ExportView(PermissionRequiredMixin, View):
    """GET without `columns`: the chooser. GET with them (the chooser's submit): the file, streamed."""

    template_name = "transfers/exports/export.html"
    membership = False

    def source(self) -> ExportSource:
        raise NotImplementedError

    def hidden(self) -> dict[str, str]:
        """The filters to carry from the chooser to the download."""
        raise NotImplementedError

    def extra_context(self) -> dict[str, Any]:
        return {}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        form = ExportForm(request.GET if "columns" in request.GET else None, membership=self.membership)
        try:
            source = self.source()
        except (SourceError, RuleError) as exc:
            return self.page(form, source=None, error=str(exc), status=400)
        if not form.is_bound:
            return self.page(form, source=source)
        if not form.is_valid():
            return self.page(form, source=source, status=400)
        export = ExportRequest(
            source=source,
            columns=form.columns_in_order(),
            format=ExportFormat(form.cleaned_data["format"]),
            bom=form.cleaned_data["bom"],
            guard=form.cleaned_data["guard"],
        )
        try:
            export = export_start(request=export)
        except ExportError as exc:
            return self.page(form, source=source, error=str(exc), status=400)
        response = StreamingHttpResponse(export_stream(request=export), content_type=export.format.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export_filename(request=export)}"'
        response["X-Accel-Buffering"] = "no"  # a proxy passes each chunk on as it comes
        response["Cache-Control"] = "no-store"
        return response

    def page(
        self, form: ExportForm, *, source: ExportSource | None, error: str = "", status: int = 200
    ) -> HttpResponse:
        context = {"form": form, "source": source, "error": error, "hidden": self.hidden(), **self.extra_context()}
        return render(self.request, self.template_name, context, status=status)


class ContactExportView(_ExportView):
    """The contact list as filtered (`?<its query string>`), or an Advanced filter's matches (`?condition=`)."""

    permission_required = "contacts.view_contact"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        user = request.user
        if "condition" in request.GET and user.is_authenticated and not user.has_perm(ADVANCED_FILTER_PERMISSION):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def filters(self) -> QueryDict:
        if "filters" in self.request.GET:  # the chooser's submit carries them in one field
            return QueryDict(self.request.GET["filters"])
        query = self.request.GET.copy()
        for name in (*LIST_PARAMETERS_DROPPED, "columns", "format", "bom", "guard"):
            query.pop(name, None)
        return query

    def source(self) -> ExportSource:
        if "condition" in self.request.GET:
            try:
                tree = json.loads(self.request.GET["condition"])
            except ValueError:
                raise SourceError("The Advanced filter's condition is not valid JSON.") from None
            return advanced_filter_source(tree=tree)
        return contact_list_source(filters=self.filters)

    def hidden(self) -> dict[str, str]:
        if "condition" in self.request.GET:
            return {"condition": self.request.GET["condition"]}
        return {"filters": self.filters.urlencode()}

    def extra_context(self) -> dict[str, Any]:
        return {"advanced": "condition" in self.request.GET, "list_query": self.filters.urlencode()}


class GroupExportView(_ExportView):
    """A group's members, with the Members tab's source filter and search (`?source=&q=`)."""

    model = ContactGroup  # tells tests/test_permissions.py which object the URL's pk names
    permission_required = ("segments.view_membership", "contacts.view_contact")
    membership = True

    @cached_property
    def group(self) -> ContactGroup:
        return get_object_or_404(ContactGroup, pk=self.kwargs["pk"])

    def source(self) -> ExportSource:
        return group_source(
            group=self.group, source=self.request.GET.get("source", ""), search=self.request.GET.get("q", "")
        )

    def hidden(self) -> dict[str, str]:
        return {name: self.request.GET[name] for name in ("source", "q") if self.request.GET.get(name)}

    def extra_context(self) -> dict[str, Any]:
        return {"group": self.group}


# --- group definitions ------------------------------------------------------------------------------


def _json_download(data: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False) + "\n", content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class GroupDefinitionsExportView(PermissionRequiredMixin, View):
    """Every group's definition as one JSON file."""

    permission_required = "segments.view_contactgroup"

    def get(self, request: HttpRequest) -> HttpResponse:
        data = definitions.group_definitions_export(groups=ContactGroup.objects.all())
        return _json_download(data, f"group-definitions-{timezone.localdate():%Y-%m-%d}.json")


class GroupDefinitionExportView(PermissionRequiredMixin, View):
    """One group's definition as a JSON file."""

    model = ContactGroup
    permission_required = "segments.view_contactgroup"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = get_object_or_404(ContactGroup, pk=pk)
        data = definitions.group_definitions_export(groups=ContactGroup.objects.filter(pk=group.pk))
        return _json_download(data, f"group-{group.code}.json")


class GroupDefinitionsImportView(PermissionRequiredMixin, View):
    """GET: the upload form. POST a file: the plan (what would be created, what is missing), nothing written.
    POST `text` (+ `only_resolving`): the import; all or nothing unless only the resolving groups were asked for."""

    permission_required = "segments.add_contactgroup"
    template_name = "transfers/exports/definitions_import.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": DefinitionsUploadForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        if "text" in request.POST:
            return self.run(request)
        form = DefinitionsUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        text = form.cleaned_data["file"]
        try:
            parsed = definitions.definitions_parse(text)
        except definitions.DefinitionsError as exc:
            form.add_error("file", str(exc))
            return render(request, self.template_name, {"form": form}, status=400)
        plan = definitions.group_definitions_plan(definitions=parsed)
        return render(request, self.template_name, {"form": form, "plan": plan, "text": text})

    def run(self, request: HttpRequest) -> HttpResponse:
        confirm = DefinitionsConfirmForm(request.POST)
        if not confirm.is_valid():
            messages.error(request, "The import was not understood; upload the file again.")
            return redirect("transfers:group_definitions_import")
        text = confirm.cleaned_data["text"]
        try:
            parsed = definitions.definitions_parse(text)
            created = definitions.group_definitions_import(
                definitions=parsed, only_resolving=confirm.cleaned_data["only_resolving"]
            )
        except definitions.DefinitionsError as exc:
            messages.error(request, str(exc))
            return redirect("transfers:group_definitions_import")
        except definitions.ImportRefused as exc:
            context = {"form": DefinitionsUploadForm(), "plan": exc.plan, "text": text, "refused": str(exc)}
            return render(request, self.template_name, context, status=400)
        names = ", ".join(f"“{g.name}”" for g in created) or "none"
        messages.success(request, f"Imported {len(created)} group{'s' if len(created) != 1 else ''}: {names}.")
        return redirect("segments:group_list")
