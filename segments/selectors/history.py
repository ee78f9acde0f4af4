"""The History tab and the contact's group history: sizes per day, joins and leaves, recent events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from segments.models import (
    Cause,
    ContactGroup,
    EventKind,
    GroupSizeSnapshot,
    MembershipEvent,
    PendingGroupRefresh,
    PendingRecheck,
)

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
