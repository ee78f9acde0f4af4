"""Reads of contact groups for pages (selectors): what the views show, shaped for speed at 1M members."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from contacts.models import Contact
from contacts.pagination import keyset_q
from contacts.selectors import SEARCH_WORDS, contact_search_q, search_is_indexed
from segments.models import (
    Cause,
    ContactGroup,
    EventKind,
    GroupAccount,
    GroupSizeSnapshot,
    Membership,
    MembershipEvent,
    PendingGroupRefresh,
    PendingRecheck,
)

# What one row costs each way round, in µs (measured with bench/members.py on 1M contacts).
WALK_US = 5.0  # walking one contact in sort order (an index entry) and probing its membership
SCAN_US = 0.3  # reading one of the group's memberships
FETCH_US = 2.0  # fetching one contact by id and sorting it
# A search of a group up to this size reads its members and tests each one's contact (member_contact_ids).
SCAN_MEMBERS_UP_TO = 10_000


def walk_is_cheap(*, contacts: int, member_count: int, found: int, end: int) -> bool:
    """True when walking contacts in sort order up to row `end` beats reading the group's members first.

    `found` members match the filters (a lower bound). With `contacts` (an upper bound) the walk passes
    about end × contacts / found of them; reading the members first reads all `member_count`
    memberships and fetches and sorts every match.
    """
    return WALK_US * end * contacts / found <= SCAN_US * member_count + FETCH_US * found


def member_contact_ids(
    *, group: ContactGroup, source: str = "", search: str = "", join: bool = False
) -> QuerySet[Any]:
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


# ---------------------------------------------------------------------------------------------
# History tab: the member count per day (a day without a snapshot is a gap, None, never zero)
# ---------------------------------------------------------------------------------------------

Tone = Literal["up", "down", "flat"]


def fmt_int(value: int) -> str:
    """1450 → "1,450"; negative numbers get a real minus sign."""
    return f"{value:,}" if value >= 0 else f"\u2212{-value:,}"


def fmt_signed(value: int) -> str:
    """+250, −30, 0."""
    return f"+{value:,}" if value > 0 else fmt_int(value)


@dataclass(frozen=True)
class SizePoint:
    date: dt.date
    count: int | None  # None: no snapshot that day (a gap, never zero)
    live: bool = False  # today's current member_count, not (yet) a snapshot

    @property
    def count_display(self) -> str:
        return "" if self.count is None else fmt_int(self.count)


@dataclass(frozen=True)
class TableRow:
    date: dt.date
    count: int | None
    delta: int | None  # against the previous day that has a count
    live: bool

    @property
    def count_display(self) -> str:
        return "" if self.count is None else fmt_int(self.count)

    @property
    def delta_display(self) -> str:
        return "" if self.delta is None else fmt_signed(self.delta)


@dataclass(frozen=True)
class SizeHistory:
    """A group's member counts for the days from the first known one in the window up to today."""

    group: ContactGroup
    days: int
    start: dt.date  # the window's first day (today − days)
    today: dt.date
    points: list[SizePoint]  # one per day, first known day → today; empty when nothing is known

    @cached_property
    def known(self) -> list[SizePoint]:
        return [p for p in self.points if p.count is not None]

    @property
    def has_chart(self) -> bool:
        return len(self.known) >= 2

    @property
    def first(self) -> SizePoint:
        return self.known[0]

    @property
    def last(self) -> SizePoint:
        return self.known[-1]

    @property
    def low(self) -> SizePoint:
        return min(self.known, key=lambda p: (p.count, p.date))

    @property
    def high(self) -> SizePoint:
        return max(self.known, key=lambda p: (p.count or 0, p.date))

    @property
    def span_days(self) -> int:
        return (self.last.date - self.first.date).days

    @property
    def starts_late(self) -> bool:
        """True when the first snapshot is younger than the period asked for."""
        return bool(self.points) and self.points[0].date > self.start

    @property
    def gaps(self) -> int:
        return sum(1 for p in self.points if p.count is None)

    @property
    def change(self) -> int:
        return (self.last.count or 0) - (self.first.count or 0)

    @property
    def change_pct(self) -> float | None:
        base = self.first.count or 0
        return None if base == 0 else self.change / base * 100

    @property
    def tone(self) -> Tone:
        return "up" if self.change > 0 else "down" if self.change < 0 else "flat"

    @property
    def change_display(self) -> str:
        return fmt_signed(self.change)

    @property
    def change_pct_display(self) -> str:
        pct = self.change_pct
        if pct is None:
            return ""
        text = f"{abs(pct):,.1f}%"
        if text == "0.0%":
            return text
        return f"+{text}" if pct > 0 else f"\u2212{text}"

    @property
    def sentence(self) -> str:
        """The chart's text alternative, e.g. "Members grew from 1,200 to 1,450 over 90 days"."""
        if not self.has_chart:
            return "Not enough history yet"
        first, last = fmt_int(self.first.count or 0), fmt_int(self.last.count or 0)
        span = f"{self.span_days} day{'s' if self.span_days != 1 else ''}"
        if self.tone == "flat":
            text = f"Members stayed at {last} over {span}"
        else:
            verb = "grew" if self.tone == "up" else "shrank"
            text = f"Members {verb} from {first} to {last} over {span}"
        ends = (self.first.count or 0, self.last.count or 0)
        low, high = self.low.count or 0, self.high.count or 0
        if low < min(ends) or high > max(ends):  # the ends do not tell the whole story
            text += f" (lowest {fmt_int(low)}, highest {fmt_int(high)})"
        return text

    def table(self) -> list[TableRow]:
        """Every day of the chart, newest first, with the change against the previous known day."""
        rows: list[TableRow] = []
        previous: int | None = None
        for p in self.points:
            delta = None if p.count is None or previous is None else p.count - previous
            rows.append(TableRow(date=p.date, count=p.count, delta=delta, live=p.live))
            if p.count is not None:
                previous = p.count
        return rows[::-1]


def group_size_history(*, group: ContactGroup, days: int, today: dt.date | None = None) -> SizeHistory:
    """The group's member count per day over the last `days` days (gaps as None, today live if not snapped yet)."""
    today = today or timezone.localdate()
    start = today - dt.timedelta(days=days)
    counts: dict[dt.date, int] = dict(
        GroupSizeSnapshot.objects.filter(group=group, date__gte=start, date__lte=today).values_list(
            "date", "member_count"
        )
    )
    live = today not in counts
    if live:
        counts[today] = group.member_count
    first = min(counts)
    points = []
    for offset in range((today - first).days + 1):
        day = first + dt.timedelta(days=offset)
        points.append(SizePoint(date=day, count=counts.get(day), live=live and day == today))
    return SizeHistory(group=group, days=days, start=start, today=today, points=points)


# ---------------------------------------------------------------------------------------------
# History tab: joins and leaves (membership history)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFlow:
    """How many contacts joined and left a group on one day (from its membership history)."""

    date: dt.date
    joined: int
    left: int


def group_flow(*, group: ContactGroup, start: dt.date, today: dt.date) -> list[DayFlow]:
    """Joins and leaves per local day from `start` to `today` (days without any are left out), on (group, at)."""
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    rows = (
        MembershipEvent.objects.filter(group=group, at__gte=since, kind__in=(EventKind.ENTERED, EventKind.LEFT))
        .annotate(day=TruncDate("at"))
        .order_by()
        .values("day")
        .annotate(
            n_joined=Count("pk", filter=Q(kind=EventKind.ENTERED)),
            n_left=Count("pk", filter=Q(kind=EventKind.LEFT)),
        )
        .order_by("day")
    )
    return [DayFlow(date=r["day"], joined=r["n_joined"], left=r["n_left"]) for r in rows if r["day"] <= today]


def contact_recheck_pending(contact_id: int) -> bool:
    """A change to this contact has not been re-checked yet (registered with contacts.selectors)."""
    return PendingRecheck.objects.filter(contact_id=contact_id).exists() or PendingGroupRefresh.objects.exists()


def group_history_start(*, group: ContactGroup) -> dt.date | None:
    """The day the group's oldest kept membership history event happened (None: no history yet)."""
    first = MembershipEvent.objects.filter(group=group).order_by("at").values_list("at", flat=True).first()
    return timezone.localtime(first).date() if first else None


def group_recent_events(*, group: ContactGroup, limit: int = 20) -> list[MembershipEvent]:
    """The group's newest membership changes (contacts, who did it), newest first."""
    return list(
        MembershipEvent.objects.filter(group=group).select_related("contact", "actor").order_by("-at", "-id")[:limit]
    )


def group_last_rebuild_changes(*, group: ContactGroup, joined: bool) -> QuerySet[MembershipEvent]:
    """The contacts the group's last rebuild added (`joined`) or removed, as its history recorded them."""
    if group.last_rebuild_started_at is None or group.last_rebuild_finished_at is None:
        return MembershipEvent.objects.none()
    return (
        MembershipEvent.objects.filter(
            group=group,
            cause=Cause.REBUILD,
            kind=EventKind.ENTERED if joined else EventKind.LEFT,
            at__gte=group.last_rebuild_started_at,
            at__lte=group.last_rebuild_finished_at,
        )
        .select_related("contact")
        .order_by("contact__last_name", "contact__first_name", "contact_id")
    )


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


def group_drift(*, group: ContactGroup, now: dt.datetime | None = None) -> Drift:
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


# ---------------------------------------------------------------------------------------------
# Home page (dashboard): every group's size, change since yesterday and recent joins and leaves,
# read for all groups at once (a query each, never one per group)
# ---------------------------------------------------------------------------------------------

DASHBOARD_DAYS = 30  # the sparkline's period


@dataclass(frozen=True)
class GroupPulse:
    """A group on the home page: live size, its change over the last 24 hours and the sizes of the last days."""

    group: ContactGroup
    change: int | None  # joins minus leaves over the last 24 hours (history); None: the group is newer than that
    counts: list[int | None]  # one per day, oldest first, ending with today's live count (None: no snapshot)

    @property
    def yesterday(self) -> int | None:
        """The size 24 hours ago."""
        return None if self.change is None else self.group.member_count - self.change

    @property
    def tone(self) -> Tone:
        change = self.change or 0
        return "up" if change > 0 else "down" if change < 0 else "flat"

    @property
    def change_display(self) -> str:
        return "" if self.change is None else fmt_signed(self.change)


def dashboard_groups(
    *, today: dt.date | None = None, days: int = DASHBOARD_DAYS, now: dt.datetime | None = None
) -> list[GroupPulse]:
    """Every group with its size now, its change over the last 24 hours and its sizes over `days` days (3 queries).

    The change comes from the membership history (exact, whenever the nightly snapshot was taken); the
    sparkline from the nightly size snapshots.
    """
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    start = today - dt.timedelta(days=days)
    day_ago = now - dt.timedelta(hours=24)
    groups = list(ContactGroup.objects.defer("condition", "description").order_by("name", "id"))
    sizes: dict[int, dict[dt.date, int]] = {}
    changes: dict[int, int] = {}
    if groups:
        # Today's snapshot (if the nightly run took it) is left out: the live count is newer.
        snapshots = GroupSizeSnapshot.objects.filter(date__gte=start, date__lt=today).order_by()
        for group_id, day, count in snapshots.values_list("group_id", "date", "member_count"):
            sizes.setdefault(group_id, {})[day] = count
        events = (
            # The group ids let the (group, at) index serve each group's recent events.
            MembershipEvent.objects.filter(
                group_id__in=[g.pk for g in groups], at__gte=day_ago, kind__in=(EventKind.ENTERED, EventKind.LEFT)
            )
            .order_by()
            .values("group_id")
            .annotate(net=Count("pk", filter=Q(kind=EventKind.ENTERED)) - Count("pk", filter=Q(kind=EventKind.LEFT)))
        )
        changes = {row["group_id"]: row["net"] for row in events}
    pulses = []
    for group in groups:
        known = sizes.get(group.pk, {})
        counts: list[int | None] = [known.get(start + dt.timedelta(days=n)) for n in range(days)]
        change = None if group.created_at > day_ago else changes.get(group.pk, 0)
        pulses.append(GroupPulse(group=group, change=change, counts=[*counts, group.member_count]))
    return pulses


@dataclass(frozen=True)
class GroupDayFlow:
    """How many contacts joined and left one group on one local day."""

    group_id: int
    date: dt.date
    joined: int
    left: int


def dashboard_flow(*, group_ids: list[int], since: dt.date) -> list[GroupDayFlow]:
    """Joins and leaves per group and local day since `since`, newest day first, busiest group first (1 query)."""
    if not group_ids:
        return []
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    rows = (
        # The group ids let the (group, at) index serve each group's recent events.
        MembershipEvent.objects.filter(
            group_id__in=group_ids, at__gte=start, kind__in=(EventKind.ENTERED, EventKind.LEFT)
        )
        .annotate(day=TruncDate("at"))
        .order_by()
        .values("group_id", "day")
        .annotate(
            n_joined=Count("pk", filter=Q(kind=EventKind.ENTERED)),
            n_left=Count("pk", filter=Q(kind=EventKind.LEFT)),
        )
    )
    flows = [GroupDayFlow(group_id=r["group_id"], date=r["day"], joined=r["n_joined"], left=r["n_left"]) for r in rows]
    return sorted(flows, key=lambda f: (f.date, f.joined + f.left, -f.group_id), reverse=True)


@dataclass(frozen=True)
class ContactSummary:
    total: int  # unmerged contacts
    anonymous: int  # of them, without an email


def dashboard_contacts() -> ContactSummary:
    """How many contacts there are and how many of them are anonymous (1 query)."""
    counts = Contact.objects.unmerged().aggregate(
        total=Count("pk"), anonymous=Count("pk", filter=Q(email__isnull=True) | Q(email=""))
    )
    return ContactSummary(total=counts["total"], anonymous=counts["anonymous"])
