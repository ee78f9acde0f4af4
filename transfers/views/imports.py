"""Import pages: list, upload → mapping → preview → run (a background task with a progress bar) → report.

The same pages import contacts or accounts (`ImportJob.kind`; `transfers.imports.kinds` says what differs).
An account import needs, besides the import permission, the permissions to add and change accounts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from transfers import selectors
from transfers.imports import jobs, undo
from transfers.imports.forms import NEW_FIELD_TYPES, MappingForm, UploadForm
from transfers.imports.kinds import ACCOUNTS, CONTACTS, Kind, kind_of
from transfers.imports.mapping import mapping_from_saved
from transfers.imports.pipeline import ImportOptions, rows_preview
from transfers.imports.reading import FileRefused, Table, table_read
from transfers.imports.values import DATE_FORMATS
from transfers.models import ImportJob, ImportStatus

SAMPLE_ROWS = 20
REPORT_ROWS_SHOWN = 500
STEPS = [(1, "Upload"), (2, "Map columns"), (3, "Preview"), (4, "Import")]


class ImportListView(PermissionRequiredMixin, ListView):
    permission_required = "transfers.view_importjob"
    template_name = "transfers/imports/import_list.html"
    context_object_name = "jobs"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[ImportJob]:
        return selectors.import_list()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        for job in context["jobs"]:
            _undo_context(job, self.request)
        return context


def _undo_context(job: ImportJob, request: HttpRequest) -> None:
    """Whether the visitor may undo `job` now, and the confirmation saying what would happen."""
    job.can_undo = not undo.import_undo_refusal(job=job, user=request.user)  # type: ignore[attr-defined]
    job.undo_sentence = undo.job_undo_sentence(job=job) if job.can_undo else ""  # type: ignore[attr-defined]


def _permissions(kind: Kind) -> Sequence[str]:
    return ("transfers.add_importjob", *kind.permissions)


class ImportUploadView(PermissionRequiredMixin, FormView):
    permission_required: Sequence[str] = _permissions(CONTACTS)
    template_name = "transfers/imports/import_upload.html"
    form_class = UploadForm
    kind: Kind = CONTACTS

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(steps=STEPS, kind=self.kind, **kwargs)

    def form_valid(self, form: UploadForm) -> HttpResponse:
        table = form.table
        assert table is not None
        saved = form.cleaned_data.get("saved_mapping")
        if saved is not None:
            valid = {t.value for t in self.kind.targets()}
            mapping = mapping_from_saved(header=table.header, columns=saved.columns, valid=valid)
            options = ImportOptions(date_format=saved.date_format)
        else:
            mapping, options = self.kind.guess(table.header), ImportOptions()
        upload = form.cleaned_data["file"]
        job = jobs.job_create(
            data=form.file_bytes,
            file_name=upload.name or "upload",
            user=self.request.user,
            table=table,
            mapping=mapping,
            options=options,
            kind=self.kind.code,
        )
        return redirect("transfers:import_mapping", job.pk)


class AccountImportUploadView(ImportUploadView):
    permission_required = _permissions(ACCOUNTS)
    kind = ACCOUNTS


class DraftJobMixin(PermissionRequiredMixin):
    """A page of a job not yet started; a started job sends the visitor to its progress or report."""

    permission_required = "transfers.add_importjob"
    model = ImportJob
    job: ImportJob
    kind: Kind
    table: Table

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not self.has_permission():
            return self.handle_no_permission()
        self.job = get_object_or_404(ImportJob, pk=kwargs["pk"])
        self.kind = kind_of(self.job.kind)
        if not request.user.has_perms(_permissions(self.kind)):
            return self.handle_no_permission()
        if self.job.status != ImportStatus.DRAFT:
            return redirect("transfers:import_detail", self.job.pk)
        try:
            self.table = table_read(data=bytes(self.job.data), file_name=self.job.file_name)
        except FileRefused as exc:  # pragma: no cover - a draft's file was read once already
            messages.error(request, str(exc))
            return redirect("transfers:import_upload")
        return super().dispatch(request, *args, **kwargs)


class ImportMappingView(DraftJobMixin, FormView):
    template_name = "transfers/imports/import_mapping.html"
    form_class = MappingForm

    def get_form_kwargs(self) -> dict[str, Any]:
        user = self.request.user
        kwargs = super().get_form_kwargs()
        kwargs.update(
            header=self.table.header,
            samples=self.table.rows[:SAMPLE_ROWS],
            can_create_fields=user.has_perm("contacts.add_contactfield"),
            can_create_groups=user.has_perm("segments.add_contactgroup"),
            can_save=user.has_perm("transfers.add_savedmapping") and user.has_perm("transfers.change_savedmapping"),
            can_create_accounts=user.has_perm("contacts.add_account"),
            kind=self.kind,
        )
        return kwargs

    def get_initial(self) -> dict[str, Any]:
        options = ImportOptions.from_json(self.job.options)
        initial: dict[str, Any] = {f"column_{i}": target for i, target in enumerate(self.job.mapping)}
        initial.update(
            date_format=options.date_format,
            allow_anonymous=options.allow_anonymous,
            group=options.group_id,
            new_group=options.new_group,
            create_accounts=options.create_accounts,
        )
        return initial

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(job=self.job, table=self.table, steps=STEPS, kind=self.kind, **kwargs)

    def form_valid(self, form: MappingForm) -> HttpResponse:
        mapping = form.mapping()
        new_fields = {i: NEW_FIELD_TYPES[t] for i, t in enumerate(mapping) if t in NEW_FIELD_TYPES}
        if new_fields and not self.request.user.has_perm("contacts.add_contactfield"):  # pragma: no cover
            form.add_error(None, "Only admins can create custom fields.")
            return self.form_invalid(form)
        group = form.cleaned_data.get("group")
        options = ImportOptions(
            date_format=form.cleaned_data.get("date_format") or "auto",
            allow_anonymous=form.cleaned_data.get("allow_anonymous", False),
            group_id=group.pk if group else None,
            new_group=form.cleaned_data.get("new_group", ""),
            create_accounts=form.cleaned_data.get("create_accounts", False),
        )
        try:
            problems = jobs.job_mapping_set(
                job=self.job,
                mapping=[t if t not in NEW_FIELD_TYPES else "" for t in mapping],
                options=options,
                new_fields=new_fields,
                save_as=form.cleaned_data.get("save_as", ""),
                user=self.request.user,
            )
        except ValidationError as exc:
            problems = [f"A new custom field could not be created: {' '.join(exc.messages)}"]
        if problems:
            for problem in problems:
                form.add_error(None, problem)
            return self.form_invalid(form)
        return redirect("transfers:import_preview", self.job.pk)


class ImportPreviewView(DraftJobMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        by_value = self.kind.target_labels()
        columns = [(name, by_value.get(t, t)) for name, t in zip(self.table.header, self.job.mapping, strict=True) if t]
        options = ImportOptions.from_json(self.job.options)
        try:
            preview = rows_preview(table=self.table, mapping=self.job.mapping, options=options, kind=self.job.kind)
        except KeyError:  # a mapped custom field was retired since: map again
            messages.error(request, "A field of this mapping no longer exists; check the mapping.")
            return redirect("transfers:import_mapping", self.job.pk)
        context = {
            "job": self.job,
            "columns": columns,
            "preview": preview,
            "rows_total": sum(1 for row in self.table.rows if any(c.strip() for c in row)),
            "options": options,
            "group": selectors.import_group(options=options),
            "steps": STEPS,
            "kind": self.kind,
            "links_accounts": "account" in self.job.mapping,
            "date_format_label": DATE_FORMATS.get(options.date_format, options.date_format),
        }
        return render(request, "transfers/imports/import_preview.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        jobs.job_queue(job=self.job)
        return redirect("transfers:import_detail", self.job.pk)


class ImportDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "transfers.view_importjob"
    template_name = "transfers/imports/import_detail.html"
    context_object_name = "job"
    model = ImportJob

    def get_queryset(self) -> QuerySet[ImportJob]:
        return selectors.import_list()

    def get_template_names(self) -> list[str]:
        if self.request.headers.get("HX-Request") and self.request.GET.get("progress"):
            return ["transfers/imports/_progress.html"]
        return [self.template_name]

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **kwargs)
        if self.request.headers.get("HX-Request") and self.request.GET.get("progress") and not self.object.is_busy:
            response["HX-Refresh"] = "true"  # finished: show the whole report
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        issues = selectors.import_issues(job=self.object)
        context.update(
            issues=issues[:REPORT_ROWS_SHOWN],
            issue_count=issues.count(),
            report_rows_shown=REPORT_ROWS_SHOWN,
            summary=selectors.import_summary(job=self.object),
            kind=kind_of(self.object.kind),
        )
        _undo_context(self.object, self.request)
        return context


class ImportUndoView(PermissionRequiredMixin, View):
    """POST: undo an import (a big one in the worker), or show which contacts changed since (then nothing
    is changed). GET: what an undo would do now, and what blocks it. Who ran the import or an Admin."""

    permission_required = ("transfers.view_importjob", "contacts.delete_contact")  # Staff deletes no contacts
    model = ImportJob

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(selectors.import_list(), pk=pk)
        refusal = undo.import_undo_refusal(job=job, user=request.user)
        plan = undo.import_undo_plan(job=job) if not refusal else None
        context = {"job": job, "plan": plan, "message": refusal, "shown": undo.BLOCKERS_SHOWN}
        return render(request, "transfers/imports/import_undo_blocked.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(selectors.import_list(), pk=pk)
        try:
            plan = undo.import_undo_request(job=job, user=request.user)
        except undo.UndoRefused as exc:
            if exc.plan is None:
                messages.error(request, str(exc))
                return redirect("transfers:import_detail", job.pk)
            context = {"job": job, "plan": exc.plan, "message": str(exc), "shown": undo.BLOCKERS_SHOWN}
            return render(request, "transfers/imports/import_undo_blocked.html", context, status=409)
        if plan is None:
            messages.info(request, "The undo runs in the background; reload this page to see when it is done.")
        else:
            messages.success(
                request,
                f"Import undone: {plan.created:,} created contact{'' if plan.created == 1 else 's'} deleted, "
                f"{plan.updated:,} updated contact{'' if plan.updated == 1 else 's'} restored.",
            )
        return redirect("transfers:import_detail", job.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


class ImportReportCsvView(PermissionRequiredMixin, View):
    """The report of an import as CSV (line, column, value, reason, level), streamed."""

    permission_required = "transfers.view_importjob"
    model = ImportJob

    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        job = get_object_or_404(selectors.import_list(), pk=pk)
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield "\ufeff"  # a BOM, so Excel opens the file as UTF-8
            yield writer.writerow(["line", "column", "value", "reason", "level"])
            for issue in selectors.import_issues(job=job).iterator(chunk_size=2000):
                yield writer.writerow([issue.line, issue.column, issue.value, issue.reason, issue.get_level_display()])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        name = job.file_name.rsplit(".", 1)[0] or "import"
        response["Content-Disposition"] = f'attachment; filename="{name}-report.csv"'
        return response
