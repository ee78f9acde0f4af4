"""Contact pages: list (filters, sort, bulk actions), detail, create/edit/delete, consents, merge, search."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, FormView

from contacts import selectors, services
from contacts.bulk_actions import bulk_actions_for, get_bulk_action
from contacts.filters import ContactFilterSet
from contacts.forms import ContactForm, MergeForm, parse_pks
from contacts.models import Activity, Consent, Contact
from contacts.views.base import FilteredListView, safe_next

ACTIVITY_PAGE_SIZE = 20
BULK_ALL_LIMIT = 10_000


_parse_ids = parse_pks
MAX_ACTIVITY_OFFSET = 1_000_000


def _month(activity: Activity) -> str:
    return timezone.localtime(activity.occurred_at).strftime("%B %Y")


def _activity_rows(activities: list[Activity], *, previous: Activity | None = None) -> list[tuple[Activity, str]]:
    """(activity, month heading or "") pairs: a heading starts each new month of the timeline."""
    rows = []
    last = _month(previous) if previous is not None else ""
    for activity in activities:
        month = _month(activity)
        rows.append((activity, month if month != last else ""))
        last = month
    return rows


class ContactListView(PermissionRequiredMixin, FilteredListView):
    permission_required = "contacts.view_contact"
    template_name = "contacts/contact_list.html"
    filterset_class = ContactFilterSet
    sorts = selectors.CONTACT_SORTS
    default_sort = selectors.CONTACT_DEFAULT_SORT
    paginate_by = 50

    def base_queryset(self) -> QuerySet[Contact]:
        return selectors.contact_queryset(include_merged=True)

    def get_filterset_kwargs(self) -> dict[str, Any]:
        self.custom_field_defs = selectors.active_custom_fields()
        return {"custom_fields": self.custom_field_defs}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            bulk_actions=bulk_actions_for(self.request.user),
            sort_columns=[(key, label) for key, (label, _) in self.sorts.items()],
            bulk_all_limit=BULK_ALL_LIMIT,
        )
        return context


class ContactDetailView(PermissionRequiredMixin, DetailView):
    model = Contact
    permission_required = "contacts.view_contact"
    template_name = "contacts/contact_detail.html"
    queryset = Contact.objects.select_related("account", "merged_into")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        contact: Contact = self.object
        activities, has_more = selectors.contact_activities(contact=contact, limit=ACTIVITY_PAGE_SIZE)
        group_history, group_history_more = selectors.contact_group_history(contact=contact)
        context.update(
            custom_values=selectors.contact_custom_values(contact=contact),
            consents=selectors.contact_consents(contact=contact),
            activities=activities,
            activity_rows=_activity_rows(activities),
            activities_more=has_more,
            next_offset=ACTIVITY_PAGE_SIZE,
            memberships=selectors.contact_memberships(contact=contact),
            group_history=group_history,
            groups_pending=selectors.contact_has_pending_work(contact=contact),
            group_history_more=group_history_more,
            merged_contacts=selectors.contact_merged_children(contact=contact),
            last_activity_at=contact.newest_activity_at,
        )
        return context


class ContactActivitiesView(PermissionRequiredMixin, View):
    """The next page of a contact's activity timeline (an htmx fragment with its own "Load more")."""

    model = Contact
    permission_required = "contacts.view_contact"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        try:
            offset = int(request.GET.get("offset", "0"))
        except ValueError:
            offset = -1
        if not 0 <= offset <= MAX_ACTIVITY_OFFSET:
            return HttpResponseBadRequest(f"offset must be a whole number from 0 to {MAX_ACTIVITY_OFFSET:,}")
        activities, has_more = selectors.contact_activities(contact=contact, offset=offset, limit=ACTIVITY_PAGE_SIZE)
        previous = selectors.contact_activities(contact=contact, offset=offset - 1, limit=1)[0] if offset else []
        return render(
            request,
            "contacts/_activity_items.html",
            {
                "contact": contact,
                "activities": activities,
                "activity_rows": _activity_rows(activities, previous=previous[0] if previous else None),
                "activities_more": has_more,
                "next_offset": offset + ACTIVITY_PAGE_SIZE,
            },
        )


class ContactFormView(FormView):
    """Shared by create and edit: builds ContactForm and turns service ValidationErrors into form errors."""

    form_class = ContactForm
    template_name = "contacts/contact_form.html"

    def save(self, form: ContactForm) -> Contact:
        raise NotImplementedError

    def form_valid(self, form: ContactForm) -> HttpResponse:
        try:
            contact = self.save(form)
        except ValidationError as exc:
            form.add_service_error(exc)
            return self.form_invalid(form)
        if "_addanother" in self.request.POST:
            messages.success(self.request, f"Contact “{contact}” saved. Add another one below.")
            return redirect("contacts:contact_create")
        messages.success(self.request, f"Contact “{contact}” saved.")
        return redirect(contact)


class ContactCreateView(PermissionRequiredMixin, ContactFormView):
    permission_required = "contacts.add_contact"

    def save(self, form: ContactForm) -> Contact:
        return services.contact_create(**form.standard_data(), custom=form.custom_values)


class ContactUpdateView(PermissionRequiredMixin, ContactFormView):
    model = Contact
    permission_required = "contacts.change_contact"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.contact = get_object_or_404(Contact.objects.select_related("account"), pk=kwargs["pk"])
        self.title = str(self.contact)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        # The form works on its own copy: an invalid submission must not leak into the page's contact.
        return {**super().get_form_kwargs(), "instance": Contact.objects.get(pk=self.contact.pk)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(contact=self.contact, **kwargs)

    def save(self, form: ContactForm) -> Contact:
        return services.contact_update(contact=self.contact, **form.standard_data(), custom=form.custom_values)


class ContactDeleteView(PermissionRequiredMixin, DetailView):
    permission_required = "contacts.delete_contact"
    template_name = "contacts/contact_confirm_delete.html"
    model = Contact

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        footprint = selectors.contact_footprint(contact=self.object)
        context.update(activity_count=footprint.activities, merged_count=footprint.merged)
        return context

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        name = str(contact)
        deleted = services.contact_delete(contact=contact)
        extra = f" (with {deleted - 1} merged contact{'s' if deleted != 2 else ''})" if deleted > 1 else ""
        messages.success(request, f"Contact “{name}” deleted{extra}.")
        return redirect("contacts:contact_list")


class ContactConsentView(PermissionRequiredMixin, View):
    """Agree to or revoke one consent for a contact (POST action=agree|revoke)."""

    model = Contact
    permission_required = "contacts.change_contactconsent"

    def post(self, request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        consent = get_object_or_404(Consent, pk=consent_pk)
        action = request.POST.get("action")
        error = ""
        if action == "agree":
            services.consent_agree(contact=contact, consent=consent)
            text = f"{contact} now agrees to “{consent}”."
        elif action == "revoke":
            text = f"“{consent}” revoked for {contact}."
            if services.consent_revoke(contact=contact, consent=consent) is None:
                error = f"{contact} never agreed to “{consent}”, so there is nothing to revoke."
        else:
            error = "Choose Agree or Revoke."
        # Errors come back the way the form asked: the consents card (htmx) or the contact page with a
        # message, both rendered by templates, so names are escaped like everywhere else.
        if request.htmx:  # type: ignore[attr-defined]
            context = {"contact": contact, "consents": selectors.contact_consents(contact=contact)}
            context["consent_error" if error else "consent_message"] = error or text
            return render(request, "contacts/_consents.html", context)
        if error:
            messages.error(request, error)
        else:
            messages.success(request, text)
        return redirect(reverse("contacts:contact_detail", args=[contact.pk]) + "#consents")


class ContactMergeView(PermissionRequiredMixin, View):
    """Step 1 (GET): pick the contact to merge in. Step 2 (GET ?other=): compare. Step 3 (POST): merge."""

    model = Contact
    permission_required = ("contacts.change_contact", "contacts.delete_contact")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.parent = get_object_or_404(Contact.objects.select_related("account", "merged_into"), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        if self.parent.merged_into_id is not None:
            parent = self.parent
            messages.error(request, f"{parent} was merged into {parent.merged_into}: merge into that one instead.")
            return redirect(self.parent)
        form = MergeForm(request.GET if "other" in request.GET else None, parent=self.parent)
        if form.is_bound and form.is_valid():
            child: Contact = form.cleaned_data["other"]
            try:
                services.contact_merge_check(parent=self.parent, child=child)
            except services.MergeError as exc:
                form.add_error("other", str(exc))
            else:
                return render(request, "contacts/contact_merge_confirm.html", self._preview(child))
        return render(request, "contacts/contact_merge.html", {"contact": self.parent, "form": form})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        other_ids = _parse_ids([request.POST.get("other", "")])
        child = Contact.objects.filter(pk__in=other_ids).first()
        if child is None:
            messages.error(request, "Choose the contact to merge into this one.")
            return redirect("contacts:contact_merge", pk=self.parent.pk)
        try:
            services.contact_merge(parent=self.parent, child=child)
        except services.MergeError as exc:
            messages.error(request, str(exc))
            return redirect("contacts:contact_merge", pk=self.parent.pk)
        messages.success(request, f"{child} was merged into {self.parent}.")
        return redirect(self.parent)

    def _preview(self, child: Contact) -> dict[str, Any]:
        parent = self.parent
        changes = services.contact_merge_plan(parent=parent, child=child)
        rows = []
        for name, label in (
            ("email", "Email"),
            ("first_name", "First name"),
            ("last_name", "Last name"),
            ("phone", "Phone"),
            ("job_title", "Job title"),
            ("account", "Account"),
            ("country", "Country"),
            ("city", "City"),
            ("lead_score", "Lead score"),
        ):
            mine, theirs = getattr(parent, name), getattr(child, name)
            if name == "country":
                mine, theirs = mine.name if mine else "", theirs.name if theirs else ""
            result = changes.get(name, getattr(parent, name))
            if name == "country":
                result = result.name if result else ""
            rows.append({"label": label, "parent": mine, "child": theirs, "result": result, "filled": name in changes})
        custom_after = changes.get("custom", parent.custom or {})
        parent_values = selectors.contact_custom_values(contact=parent)
        child_values = {v.field.code: v for v in selectors.contact_custom_values(contact=child)}
        after = Contact(custom=custom_after)
        after_values = {v.field.code: v for v in selectors.contact_custom_values(contact=after)}
        for value in parent_values:
            code = value.field.code
            rows.append(
                {
                    "label": value.field.label,
                    "parent": value.pretty,
                    "child": child_values[code].pretty,
                    "result": after_values[code].pretty,
                    "filled": not value.display and bool(after_values[code].display),
                }
            )
        footprint = selectors.contact_footprint(contact=child)
        return {
            "contact": parent,
            "other": child,
            "rows": rows,
            "activity_count": footprint.activities,
            "consent_count": footprint.consents,
            "merged_count": footprint.merged,
        }


class ContactBulkView(PermissionRequiredMixin, View):
    """Run a registered bulk action on the selected contacts, after a confirm page (with the action's form)."""

    permission_required = "contacts.view_contact"

    def post(self, request: HttpRequest) -> HttpResponse:
        back = safe_next(request, reverse("contacts:contact_list"))
        action = get_bulk_action(request.POST.get("action", ""))
        if action is None:
            return HttpResponseBadRequest("Unknown bulk action.")
        if not action.allowed(request.user):
            messages.error(request, f"You do not have permission to “{action.label}”.")
            return redirect(back)
        ids, error = self._selected_ids(request)
        if error:
            messages.error(request, error)
            return redirect(back)
        form = action.form_class(request.POST if "confirm" in request.POST else None) if action.form_class else None
        if "confirm" in request.POST and (form is None or form.is_valid()):
            text = action.run(contact_ids=ids, data=form.cleaned_data if form else {}, user=request.user)
            messages.success(request, text)
            return redirect(back)
        sample = selectors.contacts_by_name(ids=ids, limit=10)
        return render(
            request,
            "contacts/contact_bulk_confirm.html",
            {
                "action": action,
                "form": form,
                "ids": ids if "all_matching" not in request.POST else [],
                "all_matching": "all_matching" in request.POST,
                "filters": request.POST.get("filters", ""),
                "count": len(ids),
                "confirm_text": action.confirm_text(len(ids)),
                "sample": sample,
                "more": len(ids) - len(sample),
                "next": back,
            },
        )

    def _selected_ids(self, request: HttpRequest) -> tuple[list[int], str]:
        if "all_matching" in request.POST:
            # Every contact matching the list's filters (sent along as its query string).
            filters = QueryDict(request.POST.get("filters", ""))
            filterset = ContactFilterSet(filters or None, queryset=selectors.contact_queryset(include_merged=True))
            ids = list(filterset.qs.order_by("pk").values_list("pk", flat=True)[: BULK_ALL_LIMIT + 1])
            if len(ids) > BULK_ALL_LIMIT:
                return [], f"More than {BULK_ALL_LIMIT:,} contacts match: narrow the filters first."
        else:
            ids = selectors.contacts_existing_ids(ids=_parse_ids(request.POST.getlist("ids")))
        if not ids:
            return [], "Select at least one contact first."
        return sorted(ids), ""


class ContactSearchView(PermissionRequiredMixin, View):
    """JSON for pickers: {"results": [{"id": .., "text": ..}]}, at most 20, unmerged contacts only."""

    permission_required = "contacts.view_contact"

    def get(self, request: HttpRequest) -> JsonResponse:
        not_account = _parse_ids([request.GET.get("not_account", "")])
        contacts = selectors.contact_search(
            query=request.GET.get("q", "")[:200],
            exclude_ids=_parse_ids(request.GET.getlist("exclude")),
            exclude_account_id=not_account[0] if not_account else None,
        )
        return JsonResponse({"results": [{"id": c.pk, "text": selectors.contact_picker_label(c)} for c in contacts]})
