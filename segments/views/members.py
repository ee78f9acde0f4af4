"""The Members tab: members with their sources (sorted, filtered, searched), add and remove by hand, why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import ListView, TemplateView

from contacts.filters import ContactFilterSet
from contacts.models import Contact
from contacts.pagination import CappedPaginator, NearestPageMixin
from contacts.selectors import CONTACT_SORTS, contact_sort_key, parse_sort, sort_ordering
from segments import services
from segments.bulk import added_by_hand_message
from segments.filters import MembershipFilterSet
from segments.forms import ContactsPickForm, SelectedMembersForm
from segments.models import GroupAccount, Membership
from segments.selectors import member_contact_ids, members_page, walk_is_cheap
from segments.views.base import GroupMixin

MEMBER_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {"name": CONTACT_SORTS["name"]}


@dataclass(frozen=True)
class Cursor:
    """A keyset position from a Next/Previous link: page `page` starts after (or ends before) `contact_id`."""

    page: int
    contact_id: int
    after: bool

    @classmethod
    def from_query(cls, query: QueryDict) -> Cursor | None:
        """?page=N&after=ID (or &before=ID) as sent by the pagination links; None when absent or malformed."""
        page = query.get("page", "")
        for name in ("after", "before"):
            value = query.get(name, "")
            if value.isdigit() and page.isdigit() and int(page) > 1:
                return cls(page=int(page), contact_id=int(value), after=name == "after")
        return None


class _MembersPaginator(CappedPaginator):
    """Pages of members. `object_list` yields the matching members' contact ids, read up to the cap
    (their number is the count); `rows(matches, offset, limit)` gives a page, `matches` being None
    when there are more than the cap.

    `total`: the group's stored member count when nothing is filtered. Above the cap it is shown instead
    of "more than 10,000", and the members are only counted (capped), not read.

    Keyset: `cursor` is a page number and a contact that page starts after (or ends before), as the
    Next/Previous links of the neighbouring page give them; `rows(…, cursor=…)` then reads the page from
    that position, not over an OFFSET. Each page offers its own positions as `next_cursor` and
    `previous_cursor` (None where a plain page number is as cheap: the first page).
    """

    def __init__(
        self,
        object_list: QuerySet[Any],
        per_page: int,
        *,
        rows: Any,
        total: int | None = None,
        cursor: Cursor | None = None,
    ) -> None:
        super().__init__(object_list, per_page)
        self.ids = object_list
        self.rows = rows
        self.total = total
        self.cursor = cursor

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
        cursor = self.cursor if self.cursor is not None and self.cursor.page == number else None
        page = Page(self.rows(self.matches, offset, limit, cursor) if limit > 0 else [], number, self)
        rows: list[Membership] = list(page.object_list)
        page.next_cursor = rows[-1].contact_id if rows and page.has_next() else None  # type: ignore[attr-defined]
        page.previous_cursor = rows[0].contact_id if rows and number > 2 else None  # type: ignore[attr-defined]
        return page

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

    def get_queryset(self) -> QuerySet[Any]:
        members = Membership.objects.filter(group=self.group)
        self.filterset = MembershipFilterSet(self.request.GET or None, queryset=members)
        self.sort = parse_sort(self.request.GET.get("sort"), sorts=self.sorts, default=self.default_sort)
        source, search = self.filterset.cleaned()
        # Searching a group of most contacts without a trigram index, the database's join wins.
        join = bool(search) and 2 * self.group.member_count > self.contacts_bound
        return member_contact_ids(group=self.group, source=source, search=search, join=join)

    def get_paginator(
        self, queryset: Any, per_page: int, orphans: int = 0, allow_empty_first_page: bool = True, **kwargs: Any
    ) -> Paginator:
        source, search = self.filterset.cleaned()
        ordering = sort_ordering(self.sort, sorts=self.sorts)
        member_count = self.group.member_count

        def rows(matches: list[int] | None, offset: int, limit: int, cursor: Cursor | None) -> list[Membership]:
            position = contact_sort_key(pk=cursor.contact_id, ordering=ordering) if cursor else None
            if position is not None:
                offset = 0  # the page starts at the position (a contact since deleted: by its number)
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
                after=position if cursor and cursor.after else None,
                before=position if cursor and not cursor.after else None,
            )

        return _MembersPaginator(
            queryset,
            per_page,
            rows=rows,
            total=None if source or search else member_count,
            cursor=Cursor.from_query(self.request.GET),
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
        change = services.group_add_contacts(group=self.group, contacts=contacts, actor_id=request.user.pk)
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
        change = services.group_remove_contacts(group=self.group, contacts=contacts, actor_id=request.user.pk)
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
