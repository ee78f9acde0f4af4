"""The Members tab: a page of a group's members, searched, filtered and sorted, fast at 1M members."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Subquery

from contacts.models import Contact
from contacts.pagination import keyset_q
from contacts.selectors import SEARCH_WORDS, contact_search_q, search_is_indexed
from segments.models import (
    ContactGroup,
    Membership,
)

# What one row costs each way round, in µs (measured with bench/members.py on 1M contacts; session 6, from
# EXPLAIN ANALYZE of cases (d)/(j): a walk along contact_name_cover_idx probing the manual index passed
# 3,009 contacts in 7 ms, fetching 9,758 contacts by id and sorting them took 141 ms cold, ~20 ms warm).
WALK_US = 2.5  # walking one contact in sort order (an index entry) and probing its membership
SCAN_US = 0.3  # reading one of the group's memberships
FETCH_US = 6.0  # fetching one contact by id and sorting it
# A search of a group up to this size reads its members and tests each one's contact (member_contact_ids).
SCAN_MEMBERS_UP_TO = 10_000


def walk_is_cheap(*, contacts: int, member_count: int, found: int, end: int) -> bool:
    """True when walking contacts in sort order up to row `end` beats reading the group's members first.

    `found` members match the filters (a lower bound). With `contacts` (an upper bound) the walk passes
    about end × contacts / found of them; reading the members first reads all `member_count`
    memberships and fetches and sorts every match.
    """
    return WALK_US * end * contacts / found <= SCAN_US * member_count + FETCH_US * found


def member_contact_ids(*, group: ContactGroup, source: str = "", search: str = "", join: bool = False) -> QuerySet[Any]:
    """The contact ids of the group's members matching `source` and `search`, unordered (the page counts them).

    `join`: a search over a group of most contacts, where PostgreSQL's join does best (SQLite only).
    """
    flag = Q(**{f"via_{source}": True}) if source else Q()
    members = Membership.objects.filter(flag, group=group)
    if not search:
        return members.order_by().values_list("contact_id", flat=True)
    matching = Contact.objects.filter(contact_search_q(search))
    # A trigram index serves a word of 3 characters or more; a small group is read faster than the contacts
    # with a common word ("nov": 115k of 1M) probed one by one (10,000 members, ~30 ms at most).
    trigrams = any(len(word) >= 3 for word in search.split()[:SEARCH_WORDS])
    if search_is_indexed() and trigrams and group.member_count > SCAN_MEMBERS_UP_TO:
        # TRICKY: the contacts first, from the trigram indexes, each one's membership probed (a scalar
        # subquery never becomes a join: as one, PostgreSQL hashes every member of the group). Stops at
        # the capped count's LIMIT: a search for one e-mail reads its few contacts (10 ms, where reading
        # a 316k group's members took 0.9 s), one for "nov" the first ~33k of its ~115k contacts.
        probe = Membership.objects.filter(flag, group=group, contact=OuterRef("pk")).values("contact_id")[:1]
        # (Unordered: Contact's default ordering would sort every match before the LIMIT.)
        return (
            matching.alias(member_probe=Subquery(probe))
            .filter(member_probe__isnull=False)
            .order_by()
            .values_list("pk", flat=True)
        )
    if join:
        return members.filter(contact__in=matching).order_by().values_list("contact_id", flat=True)
    # TRICKY: without a trigram index, as a join the database scans every contact with the search and
    # hashes the group's members even when the first 10,001 matches are among the first members read.
    # A scalar subquery never becomes a join: the members are read in order, each one's contact tested,
    # and the capped count stops at its LIMIT.
    hit = matching.filter(pk=OuterRef("contact_id")).order_by().values("pk")[:1]
    return (
        members.alias(search_hit=Subquery(hit))
        .filter(search_hit__isnull=False)
        .order_by()
        .values_list("contact_id", flat=True)
    )


def members_page(
    *,
    group: ContactGroup,
    ordering: list[Any],
    offset: int,
    limit: int,
    matches: list[int] | QuerySet[Any] | None = None,
    source: str = "",
    search: str = "",
    walk: bool = False,
    after: list[Any] | None = None,
    before: list[Any] | None = None,
) -> list[Membership]:
    """One page of members in `ordering` (contact fields), with their contacts and accounts loaded.

    With `matches` (the contact ids of every matching member: a short list, or a subquery such as
    `member_contact_ids` when there are up to 10,000, which PostgreSQL joins as it sees fit) the page is
    those contacts sorted. Otherwise the members matching `source` and `search`: with `walk`, contacts are
    walked along an index on the sort key (contact_name_idx) and each one's membership probed, which stops
    after the page; else PostgreSQL chooses. A second query loads the page's memberships, contacts and accounts.

    Keyset: `after` (or `before`) are the sort keys of a row (`contacts.selectors.contact_sort_key`);
    the page is then the `limit` rows after (before) it, skipping `offset`: an index scan that starts at
    the row, however deep, where an OFFSET walks every row before the page.
    """
    if before is not None:
        # Backwards: the rows after the position in the reversed order, read in that order and flipped.
        ordering = [copy.copy(o).reverse_ordering() for o in ordering]
    position = after if after is not None else before
    # TRICKY: for a group built since the last ANALYZE, PostgreSQL expects ~1 member, and a probe for one
    # (group, contact) pair then reads the group_id index and filters every member by contact (3.7 s for a
    # first page). Given the group's id through a subquery (an InitPlan, run once) the planner cannot tell
    # which group it is and probes by contact, as it should for any group.
    group_id = Subquery(ContactGroup.objects.filter(pk=group.pk).order_by().values("pk"))
    if matches is not None and not isinstance(matches, list) and connection.vendor == "postgresql":
        # TRICKY: as `id IN (subquery)` PostgreSQL walks the name index probing each contact (it expects the
        # matches spread evenly): 28k contacts, each one's row read, for 8,209 members by hand (250 ms when
        # the visibility map is stale, as after a night of contact updates). `id = ANY(ARRAY(subquery))`
        # hides their number from it: it fetches the matches (at most 10,000) by id and sorts them.
        among = Func(F("pk"), ArraySubquery(matches), template="(%(expressions)s))", arg_joiner=" = ANY(",
                     output_field=BooleanField())  # fmt: skip
        contacts = Contact.objects.filter(among)
    elif matches is not None:
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
    if position is not None:
        contacts = contacts.filter(keyset_q(ordering=ordering, values=position))
    ids = list(contacts.order_by(*ordering).values_list("pk", flat=True)[offset : offset + limit])
    if before is not None:
        ids.reverse()
    rows = Membership.objects.filter(group_id=group_id, contact_id__in=ids)
    by_contact = {m.contact_id: m for m in rows.select_related("contact", "contact__account")}
    return [by_contact[pk] for pk in ids if pk in by_contact]


def manual_members_among(*, group: ContactGroup, contact_ids: list[int]) -> set[int]:
    """Which of these contacts are in the group by hand (an import slice asks for its 5,000 ids).

    TRICKY: as `contact_id = ANY(array)` on PostgreSQL, whatever the statistics say: the array's length is in the
    statement, so every plan is linear (index probes, or a scan with a hashed array). `IN (SELECT unnest(…))` is
    guessed at 10 rows; with the group an import fills still empty by its statistics (a first import, autovacuum
    not come by) PostgreSQL compared every member with every id — 2.7–4.3 s a slice, growing with the group.
    """
    if not contact_ids:
        return set()
    if connection.vendor != "postgresql":
        rows = Membership.objects.filter(group=group, via_manual=True, contact_id__in=contact_ids)
        return set(rows.values_list("contact_id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT contact_id FROM {Membership._meta.db_table} "
            "WHERE group_id = %s AND via_manual AND contact_id = ANY(%s::bigint[])",
            [group.pk, list(contact_ids)],
        )
        return {row[0] for row in cursor.fetchall()}
