"""Reads of contact groups for pages (selectors): what the views show, shaped for speed at 1M members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from contacts.models import Contact
from contacts.selectors import contact_search_q
from segments.models import ContactGroup, GroupAccount, Membership

# What one row costs each way round, in µs (measured with bench/members.py on 1M contacts).
WALK_US = 5.0  # walking one contact in sort order (an index entry) and probing its membership
SCAN_US = 0.3  # reading one of the group's memberships
FETCH_US = 2.0  # fetching one contact by id and sorting it


def walk_is_cheap(*, contacts: int, member_count: int, found: int, end: int) -> bool:
    """True when walking contacts in sort order up to row `end` beats reading the group's members first.

    `found` members match the filters (a lower bound). With `contacts` (an upper bound) the walk passes
    about end × contacts / found of them; reading the members first reads all `member_count`
    memberships and fetches and sorts every match.
    """
    return WALK_US * end * contacts / found <= SCAN_US * member_count + FETCH_US * found


def members_page(
    *,
    group: ContactGroup,
    ordering: list[Any],
    offset: int,
    limit: int,
    matches: list[int] | None = None,
    source: str = "",
    search: str = "",
    walk: bool = False,
) -> list[Membership]:
    """One page of members in `ordering` (contact fields), with their contacts and accounts loaded.

    With `matches` (the contact ids of every matching member) the page is those contacts sorted.
    Otherwise the members matching `source` and `search`: with `walk`, contacts are walked along an
    index on the sort key (contact_name_idx) and each one's membership probed, which stops after the
    page; else PostgreSQL chooses. A second query loads the page's memberships, contacts and accounts.
    """
    # TRICKY: for a group built since the last ANALYZE, PostgreSQL expects ~1 member, and a probe for one
    # (group, contact) pair then reads the group_id index and filters every member by contact (3.7 s for a
    # first page). Given the group's id through a subquery (an InitPlan, run once) the planner cannot tell
    # which group it is and probes by contact, as it should for any group.
    group_id = Subquery(ContactGroup.objects.filter(pk=group.pk).order_by().values("pk"))
    if matches is not None:
        contacts = Contact.objects.filter(pk__in=matches)
    else:
        flag = Q(**{f"via_{source}": True}) if source else Q()
        contacts = Contact.objects.filter(contact_search_q(search))
        if walk:
            # TRICKY: PostgreSQL turns EXISTS into a join and picks its order from statistics; expecting
            # ~1 member (as above) it reads the members first and fetches and sorts all 300k (640 ms). A
            # scalar subquery never becomes a join: this plan can only walk the sort index and probe each
            # contact (1 ms for the first page).
            probe = Membership.objects.filter(flag, group_id=group_id, contact=OuterRef("pk")).values("contact_id")
            contacts = contacts.alias(member_probe=Subquery(probe[:1])).filter(member_probe__isnull=False)
        else:
            contacts = contacts.filter(Exists(Membership.objects.filter(flag, group=group, contact=OuterRef("pk"))))
    ids = list(contacts.order_by(*ordering).values_list("pk", flat=True)[offset : offset + limit])
    rows = Membership.objects.filter(group_id=group_id, contact_id__in=ids)
    by_contact = {m.contact_id: m for m in rows.select_related("contact", "contact__account")}
    return [by_contact[pk] for pk in ids if pk in by_contact]


@dataclass(frozen=True)
class Drift:
    """How a group's stored sources differ from a fresh evaluation (all 0 when it is true)."""

    condition_missing: int  # match the condition but lack the condition source
    condition_extra: int  # hold the condition source but no longer match
    account_missing: int  # in a linked account but lack the account source
    account_extra: int  # hold the account source without a linked account

    @property
    def total(self) -> int:
        return self.condition_missing + self.condition_extra + self.account_missing + self.account_extra


def group_drift(*, group: ContactGroup, now: datetime | None = None) -> Drift:
    """Compare `group`'s condition and account sources with the rule and accounts as they are now (4 counts in SQL)."""
    from segments.rules import matching_contacts, validate

    def holders(field: str) -> QuerySet[Contact]:
        return Contact.objects.filter(
            Exists(Membership.objects.filter(group=group, contact=OuterRef("pk"), **{field: True}))
        )

    if group.is_condition_based and group.condition:
        should = matching_contacts(validate(group.condition, group=group), now=now)
    else:
        should = Contact.objects.filter(pk__isnull=True)
    linked = Contact.objects.filter(
        merged_into__isnull=True, account__in=GroupAccount.objects.filter(group=group).values("account")
    )
    return Drift(
        condition_missing=should.exclude(pk__in=holders("via_condition").values("pk")).count(),
        condition_extra=holders("via_condition").exclude(pk__in=should.values("pk")).count(),
        account_missing=linked.exclude(pk__in=holders("via_account").values("pk")).count(),
        account_extra=holders("via_account").exclude(pk__in=linked.values("pk")).count(),
    )
