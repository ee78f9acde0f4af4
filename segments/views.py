"""Contact group pages: thin views that validate with forms and call segments.services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.paginator import Page, Paginator
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from contacts.filters import ContactFilterSet
from contacts.models import Account, Contact
from contacts.pagination import CappedPaginator, NearestPageMixin
from contacts.selectors import CONTACT_SORTS, parse_sort, sort_ordering
from segments import rebuilds, services
from segments.bulk import added_by_hand_message
from segments.filters import GroupFilterSet, MembershipFilterSet
from segments.forms import AccountsPickForm, ContactsPickForm, GroupCopyForm, GroupForm, SelectedMembersForm
from segments.models import ContactGroup, GroupAccount, Membership
from segments.selectors import members_page, walk_is_cheap


def condition_summary(group: ContactGroup) -> str:
    """The human sentence for a group's condition ("" when it has none or it no longer validates)."""
    from segments.rules import RuleError, describe

    if not group.is_condition_based or not group.condition:
        return ""
    try:
        return describe(group.condition)
    except RuleError as exc:
        return f"Invalid condition: {exc}"


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
            "drifts": rebuilds.group_drifts(group=self.group),
            # the header's status badge polls while a rebuild is queued or running
            "busy": self.group.is_rebuilding,
            # and the tabs showing members or counts reload when it ends (not the forms: edits would be lost)
            "reload": self.tab in ("members", "accounts", "history"),
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


MEMBER_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {"name": CONTACT_SORTS["name"]}


class _MembersPaginator(CappedPaginator):
    """Pages of members. `object_list` yields the matching members' contact ids, read up to the cap
    (their number is the count); `rows(matches, offset, limit)` gives a page, `matches` being None
    when there are more than the cap.

    `total`: the group's stored member count when nothing is filtered. Above the cap it is shown instead
    of "more than 10,000", and the members are only counted (capped), not read.
    """

    def __init__(self, object_list: QuerySet[Any], per_page: int, *, rows: Any, total: int | None = None) -> None:
        super().__init__(object_list, per_page)
        self.ids = object_list
        self.rows = rows
        self.total = total

    def _check_object_list_is_ordered(self) -> None:
        """The matches need no order: `rows` orders the page."""

    @cached_property
    def matches(self) -> list[int] | None:
        """The matching contact ids, or None when there are more than the cap."""
        if self.total is not None and self.total > self.cap and self.ids[: self.cap + 1].count() > self.cap:
            return None  # a large group: counted (capped), not read
        ids = list(self.ids[: self.cap + 1])
        return ids if len(ids) <= self.cap else None

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return self.cap + 1 if self.matches is None else len(self.matches)

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        offset = (number - 1) * self.per_page
        limit = min(self.per_page, self.count - offset)
        return Page(self.rows(self.matches, offset, limit) if limit > 0 else [], number, self)

    @property
    def count_display(self) -> str:
        if self.is_capped and self.total and self.total > self.cap:
            return number_format(self.total, force_grouping=True)
        return super().count_display


class GroupMembersView(GroupMixin, NearestPageMixin, ListView):
    """The members tab: every member with its sources, sortable by name, filterable by source and searchable.

    Reads the matching members' contact ids up to 10,001 (the capped count). Up to 10,000 the page is
    those contacts sorted; beyond, contacts are walked in name order when that is cheap (about 170
    index probes for the first page of a 300k group), see `segments.selectors.members_page`.
    """

    permission_required = "segments.view_membership"
    template_name = "segments/group_members.html"
    paginate_by = 50
    tab = "members"
    sorts = MEMBER_SORTS
    default_sort = "name"

    @cached_property
    def contacts_bound(self) -> int:
        """At least the number of contacts (the highest id), in one index probe."""
        return Contact.objects.aggregate(top=Max("pk"))["top"] or 0

    def get_queryset(self) -> QuerySet[Membership]:
        members = Membership.objects.filter(group=self.group)
        # Searching a group of most contacts, PostgreSQL's join (a merge join along contact ids) wins.
        scan_members = not self.request.GET.get("q") or 2 * self.group.member_count <= self.contacts_bound
        self.filterset = MembershipFilterSet(self.request.GET or None, queryset=members, scan_members=scan_members)
        self.sort = parse_sort(self.request.GET.get("sort"), sorts=self.sorts, default=self.default_sort)
        return self.filterset.qs

    def get_paginator(
        self, queryset: Any, per_page: int, orphans: int = 0, allow_empty_first_page: bool = True, **kwargs: Any
    ) -> Paginator:
        source, search = self.filterset.cleaned()
        ordering = sort_ordering(self.sort, sorts=self.sorts)
        member_count = self.group.member_count

        def rows(matches: list[int] | None, offset: int, limit: int) -> list[Membership]:
            walk = False
            if matches is None:  # more than the cap match
                found = max(_MembersPaginator.cap + 1, 0 if source or search else member_count)
                walk = walk_is_cheap(
                    contacts=self.contacts_bound, member_count=member_count, found=found, end=offset + limit
                )
            return members_page(
                group=self.group,
                ordering=ordering,
                offset=offset,
                limit=limit,
                matches=matches,
                source=source,
                search=search,
                walk=walk,
            )

        return _MembersPaginator(
            queryset.order_by().values_list("contact_id", flat=True),
            per_page,
            rows=rows,
            total=None if source or search else member_count,
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "filter": self.filterset,
            "sort": self.sort,
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
        picked = contacts.count()
        change = services.group_add_contacts(group=self.group, contacts=contacts)
        messages.success(request, added_by_hand_message(group=self.group, picked=picked, change=change))
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
        if not change.removed and not stays:
            messages.info(
                request,
                "Nobody was added by hand, so nothing was removed."
                if contacts is None
                else "None of the selected contacts was added by hand, so nothing was removed.",
            )
            return redirect("segments:group_detail", pk=self.group.pk)
        text = f"{change.removed:,} member{'s' if change.removed != 1 else ''} removed."
        if stays:
            text += (
                f" {stays:,} contact{'s' if stays != 1 else ''} stay{'' if stays != 1 else 's'} in the group "
                "through their account or the condition."
            )
        messages.success(request, text)
        return redirect("segments:group_detail", pk=self.group.pk)


class GroupAccountsView(GroupMixin, NearestPageMixin, ListView):
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
                f"{(n := accounts.count()):,} account{'' if n == 1 else 's'} added; "
                f"{change.added:,} of their contacts joined the group.",
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
        rebuilds.group_rebuild_queue(group=self.group)
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
        return response


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
