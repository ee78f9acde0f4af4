"""The Members tab: members with their sources (sorted, filtered, searched), add and remove by hand, why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.http import urlencode
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


class _MembersPage(Page):
    """A page that may not know the total: `more` says whether rows follow it (read with the page)."""

    def __init__(self, object_list: Any, number: int, paginator: Any, *, more: bool | None = None) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more if self.more is not None else super().has_next()

    def start_index(self) -> int:
        if self.more is None:
            return super().start_index()
        return self.paginator.per_page * (self.number - 1) + 1

    def end_index(self) -> int:
        if self.more is None:
            return super().end_index()
        return self.start_index() + len(self.object_list) - 1


class _MembersPaginator(CappedPaginator):
    """Pages of members. `object_list` yields the matching members' contact ids (unordered); `rows(…)`
    gives a page (`segments.selectors.members_page`).

    What it reads first decides how the page's rows are read:
    - up to `listed` matches: their ids, read at once; the count is their number and the page those
      contacts sorted (a short list of ids);
    - more: the count, capped (at most 10,001 index entries), then the page from the matches as a subquery
      (up to the cap) or, beyond, walking the contacts in name order or PostgreSQL's choice. Unfiltered,
      the group's stored member count is shown above the cap.
    - more, with `defer_count` (a search: its capped count checks tens of thousands of contacts for a
      common word, 0.3 s): no count at all. The page reads one row more than it shows (is there a next
      page?), says "more than 500" and the template loads the count separately (`count_url`, htmx,
      `GroupMembersCountView`). A page past the end, or `?page=last`, counts after all.

    `total`: the group's stored member count when nothing is filtered.

    Keyset: `cursor` is a page number and a contact that page starts after (or ends before), as the
    Next/Previous links of the neighbouring page give them; `rows(…, cursor=…)` then reads the page from
    that position, not over an OFFSET. Each page offers its own positions as `next_cursor` and
    `previous_cursor` (None where a plain page number is as cheap: the first page).
    """

    listed = 500

    def __init__(
        self,
        object_list: QuerySet[Any],
        per_page: int,
        *,
        rows: Any,
        total: int | None = None,
        cursor: Cursor | None = None,
        defer_count: bool = False,
        count_url: str = "",
    ) -> None:
        super().__init__(object_list, per_page)
        self.ids = object_list
        self.rows = rows
        self.total = total
        self.cursor = cursor
        self.defer_count = defer_count
        self._count_url = count_url

    def _check_object_list_is_ordered(self) -> None:
        """The matches need no order: `rows` orders the page."""

    @cached_property
    def head(self) -> list[int] | None:
        """The first `listed` + 1 matching contact ids (None: not read, the group's stored count is larger)."""
        if self.total is not None and self.total > self.listed:
            return None
        return list(self.ids[: self.listed + 1])

    @cached_property
    def matches(self) -> list[int] | None:
        """Every matching contact id when there are at most `listed`, else None."""
        return self.head if self.head is not None and len(self.head) <= self.listed else None

    @property
    def count_deferred(self) -> bool:
        """True while the page shows without a count (a search with more than `listed` matches, not counted)."""
        return self.defer_count and self.matches is None and "count" not in self.__dict__

    @property
    def count_url(self) -> str:
        """Where the template loads the count from, while it is deferred ("" otherwise)."""
        return self._count_url if self.count_deferred else ""

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        """The number of matches, capped at `cap` + 1 (read from the index only, never the ids)."""
        if self.matches is not None:
            return len(self.matches)
        return self.ids[: self.cap + 1].count()

    @property
    def found(self) -> int:
        """A lower bound of the matches, without counting what is deferred (the group's stored count unfiltered)."""
        known = self.listed + 1 if self.count_deferred else self.count
        return max(known, self.total or 0) if known > self.cap else known

    @property
    def is_capped(self) -> bool:
        return self.count_deferred or super().is_capped

    def validate_number(self, number: Any) -> int:
        if not self.count_deferred:
            return super().validate_number(number)
        try:
            value = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if value < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return value

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        offset = (number - 1) * self.per_page
        cursor = self.cursor if self.cursor is not None and self.cursor.page == number else None
        if self.count_deferred:
            # One row more than the page tells whether a next page exists. Before a position (Previous),
            # the next page is the one the position is on.
            backwards = cursor is not None and not cursor.after
            limit = self.per_page if backwards else self.per_page + 1
            rows: list[Membership] = self.rows(
                matches=None, found=self.found, offset=offset, limit=limit, cursor=cursor
            )
            if not rows and number > 1:  # past the end: count after all, and show the last page
                return self.page(min(number, self.num_pages))
            more = backwards or len(rows) > self.per_page
            page = _MembersPage(rows[: self.per_page], number, self, more=more)
        else:
            limit = min(self.per_page, self.count - offset)
            # Up to the cap, the matches as a subquery (PostgreSQL joins it), not thousands of ids sent back.
            matches = self.matches if self.matches is not None else (self.ids if self.count <= self.cap else None)
            page = _MembersPage(
                self.rows(matches=matches, found=self.found, offset=offset, limit=limit, cursor=cursor)
                if limit > 0
                else [],
                number,
                self,
            )
        shown: list[Membership] = list(page.object_list)
        page.next_cursor = shown[-1].contact_id if shown and page.has_next() else None  # type: ignore[attr-defined]
        page.previous_cursor = shown[0].contact_id if shown and number > 2 else None  # type: ignore[attr-defined]
        return page

    @property
    def count_display(self) -> str:
        if self.count_deferred:
            return f"more than {number_format(self.listed, force_grouping=True)}"
        if self.is_capped and self.total and self.total > self.cap:
            return number_format(self.total, force_grouping=True)
        return super().count_display


class _MembersMixin(GroupMixin):
    """The members tab's filters (validated by `MembershipFilterSet`) and the matching members' contact ids."""

    @cached_property
    def contacts_bound(self) -> int:
        """At least the number of contacts (the highest id), in one index probe."""
        return Contact.objects.aggregate(top=Max("pk"))["top"] or 0

    @cached_property
    def filterset(self) -> MembershipFilterSet:
        return MembershipFilterSet(self.request.GET or None, queryset=Membership.objects.filter(group=self.group))

    def member_ids(self) -> QuerySet[Any]:
        source, search = self.filterset.cleaned()
        # Searching a group of most contacts without a trigram index, the database's join wins.
        join = bool(search) and 2 * self.group.member_count > self.contacts_bound
        return member_contact_ids(group=self.group, source=source, search=search, join=join)


class GroupMembersView(_MembersMixin, NearestPageMixin, ListView):
    """The members tab: every member with its sources, sortable by name, filterable by source and searchable.

    Reads up to 501 matching members' contact ids, else their capped count (a search's is loaded
    separately, `GroupMembersCountView`); see `_MembersPaginator` for which rows each case reads, and
    `segments.selectors.members_page`.
    """

    permission_required = "segments.view_membership"
    template_name = "segments/group_members.html"
    paginate_by = 50
    tab = "members"
    sorts = MEMBER_SORTS
    default_sort = "name"

    def get_queryset(self) -> QuerySet[Any]:
        self.sort = parse_sort(self.request.GET.get("sort"), sorts=self.sorts, default=self.default_sort)
        return self.member_ids()

    def get_paginator(
        self, queryset: Any, per_page: int, orphans: int = 0, allow_empty_first_page: bool = True, **kwargs: Any
    ) -> Paginator:
        source, search = self.filterset.cleaned()
        ordering = sort_ordering(self.sort, sorts=self.sorts)
        member_count = self.group.member_count

        def rows(
            *, matches: list[int] | QuerySet[Any] | None, found: int, offset: int, limit: int, cursor: Cursor | None
        ) -> list[Membership]:
            position = contact_sort_key(pk=cursor.contact_id, ordering=ordering) if cursor else None
            if position is not None:
                offset = 0  # the page starts at the position (a contact since deleted: by its number)
            # Up to the cap, the matches are counted: walking the contacts in sort order until the page is
            # full may still beat fetching and sorting every match (8,209 members by hand among 316k).
            counted = matches is not None and not isinstance(matches, list)
            if counted and walk_is_cheap(
                contacts=self.contacts_bound, member_count=found, found=found, end=offset + limit
            ):
                matches = None
            walk = matches is None and walk_is_cheap(
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

        filters = {k: v for k, v in (("q", search), ("source", source)) if v}
        return _MembersPaginator(
            queryset,
            per_page,
            rows=rows,
            total=None if source or search else member_count,
            cursor=Cursor.from_query(self.request.GET),
            defer_count=bool(search),
            count_url=f"{reverse('segments:group_members_count', args=[self.group.pk])}?{urlencode(filters)}",
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        return {
            **context,
            **self.group_context(),
            "filter": self.filterset,
            "sort": self.sort,
            "add_form": ContactsPickForm(),
            # what "Remove all added by hand" removes, for its confirmation (a partial index answers it)
            "manual_count": self.manual_count(context.get("paginator")),
        }

    def manual_count(self, paginator: Paginator | None) -> int:
        """Members added by hand; filtered by that source alone, the page has counted them already (if exactly)."""
        if (
            isinstance(paginator, _MembersPaginator)
            and self.filterset.cleaned() == ("manual", "")
            and not paginator.is_capped
        ):
            return paginator.count
        return Membership.objects.filter(group=self.group, via_manual=True).count()


class GroupMembersCountView(_MembersMixin, View):
    """The count of the members matching the tab's filters, capped ("more than 10,000"): an htmx fragment
    the members tab loads after the page when counting would slow it (a search)."""

    permission_required = "segments.view_membership"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        cap = _MembersPaginator.cap  # the page's
        count = self.member_ids()[: cap + 1].count()
        text = (
            f"more than {number_format(cap, force_grouping=True)}"
            if count > cap
            else number_format(count, force_grouping=True)
        )
        return render(request, "segments/_members_count.html", {"count_display": text, "count": count})


class GroupMembersAddView(GroupMixin, View):
    """Adds contacts by hand: picked ones, or every contact matching a contact-list filter."""

    permission_required = "segments.add_membership"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("from_filter"):
            data = request.POST.copy()
            filterset = ContactFilterSet(data, queryset=Contact.objects.filter(merged_into__isnull=True))
            if not filterset.is_valid():
                messages.error(request, "The contact filter is not valid; nothing was added.")
                return redirect(self.back())
            contacts = filterset.qs
        else:
            form = ContactsPickForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Pick at least one contact to add.")
                return redirect(self.back())
            contacts = Contact.objects.filter(pk__in=[c.pk for c in form.cleaned_data["contacts"]])
        picked = contacts.count()
        change = services.group_add_contacts(group=self.group, contacts=contacts, actor_id=request.user.pk)
        messages.success(request, added_by_hand_message(group=self.group, picked=picked, change=change))
        return redirect(self.back())


class GroupMembersRemoveView(GroupMixin, View):
    """Takes the manual source away from the selected members (or all); other sources stay."""

    permission_required = "segments.delete_membership"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = SelectedMembersForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Select at least one member to remove.")
            return redirect(self.back())
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
            return redirect(self.back())
        text = f"{change.removed:,} member{'s' if change.removed != 1 else ''} removed."
        if stays:
            text += (
                f" {stays:,} contact{'s' if stays != 1 else ''} stay{'' if stays != 1 else 's'} in the group "
                "through their account or the condition."
            )
        messages.success(request, text)
        return redirect(self.back())


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
