"""Group pages: list, create, edit, delete, copy, rebuild and its status badge."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from config.replica import pin_to_primary
from contacts.pagination import NearestPageMixin
from segments import rebuilds, services
from segments.filters import GroupFilterSet
from segments.forms import GroupCopyForm, GroupForm
from segments.models import ContactGroup
from segments.views.base import GroupMixin, condition_summary


def rebuild_status_context(group_id: int, *, reload: bool = False) -> dict[str, Any]:
    """The status badge's context. `reload`: the page shows members, so it reloads when the rebuild ends."""
    group = ContactGroup.objects.get(pk=group_id)
    return {
        "group": group,
        "busy": group.is_rebuilding,
        "reload": reload,
    }


class GroupListView(PermissionRequiredMixin, NearestPageMixin, ListView):
    permission_required = "segments.view_contactgroup"
    template_name = "segments/group_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[ContactGroup]:
        self.filterset = GroupFilterSet(self.request.GET or None, queryset=ContactGroup.objects.all())
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["filter"] = self.filterset
        context["rows"] = [(g, condition_summary(g)) for g in context["object_list"]]
        return context


class GroupCreateView(PermissionRequiredMixin, FormView):
    permission_required = "segments.add_contactgroup"
    template_name = "segments/group_form.html"
    form_class = GroupForm

    def form_valid(self, form: GroupForm) -> HttpResponse:
        data = form.cleaned_data
        group = services.group_create(
            code=data["code"],
            name=data["name"],
            description=data["description"],
            is_condition_based=data["is_condition_based"],
            condition=data["condition"],
            scheduled_rebuild=data["scheduled_rebuild"],
        )
        messages.success(self.request, f"Group “{group.name}” created.")
        return redirect("segments:group_detail", pk=group.pk)


class GroupUpdateView(GroupMixin, FormView):
    permission_required = "segments.change_contactgroup"
    template_name = "segments/group_form.html"
    form_class = GroupForm
    tab = "settings"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "group": self.group}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **self.group_context()}

    def form_valid(self, form: GroupForm) -> HttpResponse:
        data = form.cleaned_data
        services.group_update(
            group=self.group,
            name=data["name"],
            description=data["description"],
            is_condition_based=data["is_condition_based"],
            condition=data["condition"],
            scheduled_rebuild=data["scheduled_rebuild"],
        )
        messages.success(self.request, f"Group “{self.group.name}” saved.")
        # "Save" stays on the settings; "Save and view contacts" goes to the members.
        target = "segments:group_update" if "_stay" in self.request.POST else "segments:group_detail"
        return redirect(target, pk=self.group.pk)


class GroupDeleteView(GroupMixin, TemplateView):
    permission_required = "segments.delete_contactgroup"
    template_name = "segments/group_confirm_delete.html"
    tab = "settings"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "users": services.group_users(group=self.group),
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            services.group_delete(group=self.group)
        except services.GroupInUse as exc:
            messages.error(request, str(exc))
            return redirect("segments:group_delete", pk=self.group.pk)
        messages.success(request, f"Group “{self.group.name}” deleted.")
        return redirect("segments:group_list")


class GroupRebuildView(GroupMixin, View):
    """Queues a rebuild in the worker; htmx gets the status badge, others are redirected back."""

    permission_required = "segments.change_contactgroup"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.group.is_condition_based:
            messages.error(request, "Only condition-based groups can be rebuilt.")
            return redirect("segments:group_detail", pk=self.group.pk)
        rebuilds.group_rebuild_request(group=self.group)
        if request.headers.get("HX-Request"):
            context = rebuild_status_context(self.group.pk, reload=request.POST.get("reload") == "1")
            return render(request, GroupStatusView.template_name, context)
        messages.info(request, "Rebuild queued; the members update when it finishes.")
        return HttpResponseRedirect(reverse("segments:group_detail", args=[self.group.pk]))


class GroupStatusView(GroupMixin, TemplateView):
    """The rebuild status badge; polls itself while a rebuild is queued or running.

    With ?reload=1 (a page showing members or counts), the answer that finds the rebuild ended tells
    htmx to reload the page (HX-Refresh), so the new members and count show.
    """

    permission_required = "segments.view_contactgroup"
    template_name = "segments/_rebuild_status.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return rebuild_status_context(self.group.pk, reload=self.request.GET.get("reload") == "1")

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        if context["reload"] and not context["busy"]:
            response["HX-Refresh"] = "true"
            pin_to_primary(response)  # the reloaded members tab (a lagging read) shows the rebuild's own writes
        return response


class GroupCopyView(GroupMixin, FormView):
    """Copy a group, or freeze it: a static copy of its current members."""

    permission_required = "segments.add_contactgroup"
    template_name = "segments/group_copy.html"
    form_class = GroupCopyForm
    tab = "members"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "group": self.group}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **self.group_context()}

    def form_valid(self, form: GroupCopyForm) -> HttpResponse:
        data = form.cleaned_data
        copy = services.group_copy(
            group=self.group,
            code=data["code"],
            name=data["name"],
            freeze=data["freeze"],
            actor_id=self.request.user.pk,
        )
        verb = "Frozen" if data["freeze"] else "Copied"
        messages.success(self.request, f"{verb} “{self.group.name}” as “{copy.name}” with {copy.member_count} members.")
        return redirect("segments:group_detail", pk=copy.pk)
