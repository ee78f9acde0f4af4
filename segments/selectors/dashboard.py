"""The home page: every group's size and recent change, joins and leaves, contact totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from contacts.models import Contact
from segments.models import (
    ContactGroup,
    EventKind,
    GroupSizeSnapshot,
    MembershipEvent,
)
from segments.selectors.history import Tone, fmt_signed

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
