"""Contact group pages: thin views that validate with forms and call segments.services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from contacts.filters import ContactFilterSet
from contacts.models import Account, Contact
from contacts.pagination import CappedPaginator
from segments import services
from segments.filters import GroupFilterSet, MembershipFilterSet
from segments.forms import AccountsPickForm, ContactsPickForm, GroupCopyForm, GroupForm, SelectedMembersForm
from segments.models import ContactGroup, GroupAccount, Membership, RebuildStatus


def condition_summary(group: ContactGroup) -> str:
    """The human sentence for a group's condition ("" when it has none or it no longer validates)."""
    from segments.rules import RuleError, describe

    if not group.is_condition_based or not group.condition:
        return ""
    try:
        return describe(group.condition)
    except RuleError as exc:
        return f"Invalid condition: {exc}"


def rebuild_status_context(group_id: int) -> dict[str, Any]:
    group = ContactGroup.objects.get(pk=group_id)
    return {
        "group": group,
        "busy": group.rebuild_status in (RebuildStatus.QUEUED, RebuildStatus.RUNNING),
        "show_error": True,
    }


class GroupListView(PermissionRequiredMixin, ListView):
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


class GroupMixin(PermissionRequiredMixin):
    """Loads the group named by the URL's pk and puts it, and the tab, in the context."""

    model: Any = ContactGroup  # tells tests/test_permissions.py which object the URL's pk names
    tab = ""
    request: HttpRequest
    kwargs: dict[str, Any]

    @cached_property
    def group(self) -> ContactGroup:
        return get_object_or_404(ContactGroup, pk=self.kwargs["pk"])

    def group_context(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "tab": self.tab,
            "summary": condition_summary(self.group),
            "drifts": services.group_drifts(group=self.group),
        }


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
        return redirect("segments:group_detail", pk=self.group.pk)


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


class GroupMembersView(GroupMixin, ListView):
    """The members tab: every member with its sources, filterable by source and searchable."""

    permission_required = "segments.view_membership"
    template_name = "segments/group_members.html"
    paginate_by = 50
    paginator_class = CappedPaginator
    tab = "members"

    def get_queryset(self) -> QuerySet[Membership]:
        base = (
            Membership.objects.filter(group=self.group)
            .select_related("contact", "contact__account")
            .order_by("contact__last_name", "contact__first_name", "contact_id")
        )
        self.filterset = MembershipFilterSet(self.request.GET or None, queryset=base)
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "filter": self.filterset,
            "add_form": ContactsPickForm(),
        }


class GroupMembersAddView(GroupMixin, View):
    """Adds contacts by hand: picked ones, or every contact matching a contact-list filter."""

    permission_required = "segments.add_membership"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("from_filter"):
            data = request.POST.copy()
            filterset = ContactFilterSet(data, queryset=Contact.objects.filter(merged_into__isnull=True))
            if not filterset.is_valid():
                messages.error(request, "The contact filter is not valid; nothing was added.")
                return redirect("segments:group_detail", pk=self.group.pk)
            contacts = filterset.qs
        else:
            form = ContactsPickForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Pick at least one contact to add.")
                return redirect("segments:group_detail", pk=self.group.pk)
            contacts = Contact.objects.filter(pk__in=[c.pk for c in form.cleaned_data["contacts"]])
        change = services.group_add_contacts(group=self.group, contacts=contacts)
        messages.success(
            request, f"{change.added} contact{'s' if change.added != 1 else ''} added to “{self.group.name}”."
        )
        return redirect("segments:group_detail", pk=self.group.pk)


class GroupMembersRemoveView(GroupMixin, View):
    """Takes the manual source away from the selected members (or all); other sources stay."""

    permission_required = "segments.delete_membership"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = SelectedMembersForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Select at least one member to remove.")
            return redirect("segments:group_detail", pk=self.group.pk)
        contacts = (
            None
            if form.cleaned_data["all"]
            else Contact.objects.filter(pk__in=[c.pk for c in form.cleaned_data["selected"]])
        )
        scope = Membership.objects.filter(group=self.group, via_manual=True)
        if contacts is not None:
            scope = scope.filter(contact__in=contacts)
        stays = scope.exclude(via_account=False, via_condition=False).count()
        change = services.group_remove_contacts(group=self.group, contacts=contacts)
        text = f"{change.removed} member{'s' if change.removed != 1 else ''} removed."
        if stays:
            text += (
                f" {stays} contact{'s' if stays != 1 else ''} stay{'' if stays != 1 else 's'} in the group "
                "through their account or the condition."
            )
        messages.success(request, text)
        return redirect("segments:group_detail", pk=self.group.pk)


class GroupAccountsView(GroupMixin, ListView):
    permission_required = "segments.view_groupaccount"
    template_name = "segments/group_accounts.html"
    paginate_by = 50
    tab = "accounts"

    def get_queryset(self) -> QuerySet[GroupAccount]:
        return GroupAccount.objects.filter(group=self.group).select_related("account").order_by("account__name")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **self.group_context(), "add_form": AccountsPickForm()}


class GroupAccountsAddView(GroupMixin, View):
    permission_required = "segments.add_groupaccount"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = AccountsPickForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Pick at least one account to add.")
        else:
            accounts = Account.objects.filter(pk__in=[a.pk for a in form.cleaned_data["accounts"]])
            change = services.group_add_accounts(group=self.group, accounts=accounts)
            messages.success(
                request,
                f"{accounts.count()} account(s) added; {change.added} of their contacts joined the group.",
            )
        return redirect("segments:group_accounts", pk=self.group.pk)


class GroupAccountsRemoveView(GroupMixin, View):
    permission_required = "segments.delete_groupaccount"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = get_object_or_404(Account, pk=kwargs["account_pk"])
        change = services.group_remove_accounts(group=self.group, accounts=Account.objects.filter(pk=account.pk))
        messages.success(request, f"“{account.name}” removed; {change.removed} of its contacts left the group.")
        return redirect("segments:group_accounts", pk=self.group.pk)


class GroupRebuildView(GroupMixin, View):
    """Queues a rebuild in the worker; htmx gets the status badge, others are redirected back."""

    permission_required = "segments.change_contactgroup"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.group.is_condition_based:
            messages.error(request, "Only condition-based groups can be rebuilt.")
            return redirect("segments:group_detail", pk=self.group.pk)
        services.group_rebuild_queue(group=self.group)
        if request.headers.get("HX-Request"):
            return render(request, GroupStatusView.template_name, rebuild_status_context(self.group.pk))
        messages.info(request, "Rebuild queued; the members update when it finishes.")
        return HttpResponseRedirect(reverse("segments:group_detail", args=[self.group.pk]))


class GroupStatusView(GroupMixin, TemplateView):
    """The rebuild status badge; polls itself while a rebuild is queued or running."""

    permission_required = "segments.view_contactgroup"
    template_name = "segments/_rebuild_status.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return rebuild_status_context(self.group.pk)


class GroupMemberWhyView(GroupMixin, TemplateView):
    """Why is this contact in (or not in) this group: its sources and the condition's verdict per node."""

    permission_required = "segments.view_membership"
    template_name = "segments/group_member_why.html"
    tab = "members"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        contact = get_object_or_404(Contact.objects.select_related("account", "merged_into"), pk=kwargs["contact_pk"])
        membership = Membership.objects.filter(group=self.group, contact=contact).first()
        linked_account = (
            contact.account
            if contact.account_id
            and GroupAccount.objects.filter(group=self.group, account_id=contact.account_id).exists()
            else None
        )
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "contact": contact,
            "membership": membership,
            "linked_account": linked_account,
            "explanation": services.group_explain(group=self.group, contact=contact),
        }


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
        copy = services.group_copy(group=self.group, code=data["code"], name=data["name"], freeze=data["freeze"])
        verb = "Frozen" if data["freeze"] else "Copied"
        messages.success(self.request, f"{verb} “{self.group.name}” as “{copy.name}” with {copy.member_count} members.")
        return redirect("segments:group_detail", pk=copy.pk)
