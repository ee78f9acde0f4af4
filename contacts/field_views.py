"""Field settings pages (Admin only): list and reorder, add, edit, retire and restore custom contact fields.

Thin views: forms validate, `contacts.field_settings` reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from contacts import field_settings
from contacts.field_forms import FieldCreateForm, FieldEditForm
from contacts.models import ContactField, FieldType

TYPE_ICONS = {
    FieldType.TEXT: "fonts",
    FieldType.NUMBER: "123",
    FieldType.DATE: "calendar-event",
    FieldType.BOOLEAN: "toggle-on",
    FieldType.CHOICE: "ui-radios",
    FieldType.MULTI_CHOICE: "ui-checks",
    FieldType.EMAIL: "envelope-at",
    FieldType.URL: "link-45deg",
    FieldType.PHONE: "telephone",
}
TYPE_HELP = {
    FieldType.TEXT: "Any short text, such as a favourite product.",
    FieldType.NUMBER: "Whole or decimal numbers, such as the number of seats.",
    FieldType.DATE: "A calendar date, such as a contract renewal.",
    FieldType.BOOLEAN: "Yes or no, such as “Attended the webinar”.",
    FieldType.CHOICE: "One value from a list you define, such as a customer tier.",
    FieldType.MULTI_CHOICE: "Any number of values from a list, such as interests.",
    FieldType.EMAIL: "A second email address, such as an assistant's.",
    FieldType.URL: "A web address, such as a LinkedIn profile.",
    FieldType.PHONE: "A phone number, such as a direct line.",
}
CHOICES_SHOWN = 3


def _contacts(n: int) -> str:
    return f"{intcomma(n)} contact{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class FieldRow:
    """One field as the list shows it."""

    field: ContactField
    value_count: int

    @property
    def icon(self) -> str:
        return TYPE_ICONS.get(FieldType(self.field.type), "input-cursor-text")

    @property
    def choices_shown(self) -> list[str]:
        return [c.get("label") or c["code"] for c in (self.field.choices or [])[:CHOICES_SHOWN]]

    @property
    def choices_more(self) -> int:
        return max(0, len(self.field.choices or []) - CHOICES_SHOWN)


class FieldAdminMixin(PermissionRequiredMixin):
    """Field settings are for admins: `contacts.change_contactfield` (Admin role, superusers)."""

    permission_required = "contacts.change_contactfield"


def type_options() -> list[dict[str, str]]:
    return [
        {"value": value, "label": label, "icon": TYPE_ICONS[FieldType(value)], "help": TYPE_HELP[FieldType(value)]}
        for value, label in FieldType.choices
    ]


class FieldListView(FieldAdminMixin, TemplateView):
    template_name = "contacts/field_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        active = list(field_settings.field_list(active=True))
        retired = list(field_settings.field_list(active=False))
        counts = field_settings.field_value_counts(fields=[*active, *retired])
        return super().get_context_data(
            rows=[FieldRow(field=f, value_count=counts[f.code]) for f in active],
            retired_rows=[FieldRow(field=f, value_count=counts[f.code]) for f in retired],
            **kwargs,
        )


class FieldCreateView(FieldAdminMixin, FormView):
    template_name = "contacts/field_form.html"
    form_class = FieldCreateForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(type_options=type_options(), **kwargs)

    def form_valid(self, form: FieldCreateForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            field = field_settings.field_create(
                label=data["label"],
                code=data["code"],
                type=data["type"],
                choices=data["choices"],
                required=data["required"],
                help_text=data["help_text"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Added the field “{field.label}”: it now appears on contact forms and filters.")
        if "add_another" in self.request.POST:
            return redirect("fields:field_create")
        return HttpResponseRedirect(reverse("fields:field_list") + f"#field-{field.code}")


class FieldObjectMixin(FieldAdminMixin):
    """Looks the field up by its code (immutable, so it makes a stable address)."""

    kwargs: dict[str, Any]
    request: HttpRequest

    def get_field(self) -> ContactField:
        if not hasattr(self, "_field"):
            self._field = get_object_or_404(ContactField, code=self.kwargs["code"])
        return self._field


class FieldUpdateView(FieldObjectMixin, FormView):
    template_name = "contacts/field_form.html"
    form_class = FieldEditForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and self.has_permission():
            field = self.get_field()
            if not field.is_active:
                messages.warning(request, f"“{field.label}” is retired: restore it before editing it.")
                return redirect("fields:field_list")
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "field": self.get_field()}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        field = self.get_field()
        holding = field_settings.field_value_counts(fields=[field])[field.code]
        total = field_settings.contact_total()
        choice_counts = []
        if field.has_choices:
            counts = field_settings.field_choice_counts(field=field)
            choice_counts = [
                {"code": c["code"], "label": c.get("label") or c["code"], "count": counts.get(c["code"], 0)}
                for c in field.choices
            ]
        return super().get_context_data(
            field=field,
            holding=holding,
            without_value=max(0, total - holding),
            choice_counts=choice_counts,
            type_options=type_options(),
            **kwargs,
        )

    def form_valid(self, form: FieldEditForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            change = field_settings.field_update(
                field=self.get_field(),
                label=data["label"],
                type=data["type"],
                choices=data["choices"],
                required=data["required"],
                help_text=data["help_text"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
            return self.form_invalid(form)
        field = change.field
        if not change.changed:
            messages.info(self.request, f"Nothing changed in “{field.label}”.")
            return redirect("fields:field_list")
        parts = [f"Saved “{field.label}”."]
        if change.converted:
            parts.append(f"Converted the stored values of {_contacts(change.converted)} to the new definition.")
        if change.without_value:
            if change.without_value == 1:
                parts.append("1 contact has no value yet; it will need one the next time it is edited.")
            else:
                parts.append(
                    f"{_contacts(change.without_value)} have no value yet; "
                    "they will need one the next time they are edited."
                )
        messages.success(self.request, " ".join(parts))
        return HttpResponseRedirect(reverse("fields:field_list") + f"#field-{field.code}")


class FieldReorderView(FieldAdminMixin, View):
    """POST `order` (field ids, in the new order) from the page script, or `move` ("<id>:up|down") without it."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if "move" in request.POST:
            return self.move(request)
        try:
            fields = field_settings.field_reorder(field_ids=request.POST.getlist("order"))
        except ValidationError as exc:
            return JsonResponse({"error": " ".join(exc.messages)}, status=400)
        return JsonResponse({"order": [f.pk for f in fields]})

    def move(self, request: HttpRequest) -> HttpResponse:
        raw_id, _, direction = request.POST["move"].partition(":")
        if direction not in {"up", "down"} or not raw_id.isdigit():
            messages.error(request, "That move was not understood; please try again.")
            return redirect("fields:field_list")
        field = get_object_or_404(ContactField, pk=int(raw_id))
        try:
            field_settings.field_move(field=field, offset=-1 if direction == "up" else 1)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("fields:field_list")
        return HttpResponseRedirect(reverse("fields:field_list") + f"#field-{field.code}")


class FieldConfirmView(FieldObjectMixin, TemplateView):
    """GET shows what will happen; POST does it."""

    template_name = "contacts/field_confirm.html"
    action = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        field = self.get_field()
        holding = field_settings.field_value_counts(fields=[field])[field.code]
        return super().get_context_data(field=field, holding=holding, action=self.action, **kwargs)


class FieldRetireView(FieldConfirmView):
    action = "retire"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.get_field().is_active:
            messages.info(request, f"“{self.get_field().label}” is already retired.")
            return redirect("fields:field_list")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(users=field_settings.field_users(code=self.get_field().code), **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            field = field_settings.field_retire(field=self.get_field())
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(request.path)
        messages.success(
            request,
            f"Retired “{field.label}”. Its stored values are kept; you can restore it from Retired fields below.",
        )
        return HttpResponseRedirect(reverse("fields:field_list") + "#retired-fields")


class FieldRestoreView(FieldConfirmView):
    action = "restore"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.get_field().is_active:
            messages.info(request, f"“{self.get_field().label}” is already active.")
            return redirect("fields:field_list")
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        field = field_settings.field_restore(field=self.get_field())
        messages.success(
            request,
            f"Restored “{field.label}”: it is back on contact forms, filters and lists, at the end of the order.",
        )
        return HttpResponseRedirect(reverse("fields:field_list") + f"#field-{field.code}")
