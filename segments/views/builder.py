"""The visual condition builder's endpoints: its catalog (JSON), "Save as group", the contact list's advanced filter."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from contacts.pagination import CappedPaginator
from contacts.selectors import CONTACT_SORTS
from segments import services
from segments.builder import catalog
from segments.forms import GroupForm, RuleFilterForm
from segments.rules import matching_contacts

PERMISSION = "segments.change_contactgroup"
ADD_PERMISSION = "segments.add_contactgroup"
FILTER_PERMISSIONS = (PERMISSION, "contacts.view_contact")
FILTER_PAGE_SIZE = 50


@permission_required(PERMISSION, raise_exception=True)
@require_GET
def catalog_view(request: HttpRequest) -> JsonResponse:
    """GET: the builder's catalog as JSON."""
    return JsonResponse(catalog())


catalog_view.required_permissions = (PERMISSION,)  # type: ignore[attr-defined]


@permission_required(ADD_PERMISSION, raise_exception=True)
@require_POST
def save_as_group_view(request: HttpRequest) -> HttpResponse:
    """POST name, code, condition (a tree as JSON): create a condition-based group and show its members.

    An invalid submission re-opens the new-group page with the errors and the submitted tree.
    """
    data = request.POST.copy()
    data["is_condition_based"] = "on"
    form = GroupForm(data)
    if not form.is_valid():
        return render(request, "segments/group_form.html", {"form": form, "from_filter": True}, status=400)
    cleaned = form.cleaned_data
    group = services.group_create(
        code=cleaned["code"],
        name=cleaned["name"],
        description=cleaned["description"],
        is_condition_based=True,
        condition=cleaned["condition"],
        scheduled_rebuild=cleaned["scheduled_rebuild"],
    )
    messages.success(request, f"Group “{group.name}” created; its members are being computed.")
    return redirect("segments:group_detail", pk=group.pk)


save_as_group_view.required_permissions = (ADD_PERMISSION,)  # type: ignore[attr-defined]


def filter_context(request: HttpRequest) -> dict[str, Any]:
    """The advanced filter panel's context: its form, bound to the request's `condition` when there is one."""
    return {"filter_form": RuleFilterForm(request.GET if "condition" in request.GET else None)}


@permission_required(FILTER_PERMISSIONS, raise_exception=True)
@require_GET
def contact_filter_view(request: HttpRequest) -> HttpResponse:
    """GET ?condition=<tree JSON>: the contacts matching an advanced filter, with "Save as group"."""
    context = filter_context(request)
    form: RuleFilterForm = context["filter_form"]
    page = None
    if form.is_bound and form.is_valid() and form.cleaned_data["condition"]:
        contacts = matching_contacts(form.cleaned_data["condition"]).select_related("account")
        paginator = CappedPaginator(
            contacts.order_by(*CONTACT_SORTS["name"][1]), FILTER_PAGE_SIZE
        )  # the list's name sort
        page = paginator.get_page(request.GET.get("page"))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "segments/contact_filter.html", {**context, "page_obj": page}, status=status)


contact_filter_view.required_permissions = FILTER_PERMISSIONS  # type: ignore[attr-defined]
