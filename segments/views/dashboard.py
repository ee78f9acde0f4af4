"""The home page: the groups with their sizes and change since yesterday, rebuilds needing attention,
recent joins and leaves, and shortcuts to what the signed-in role may do.

Reads come from segments.selectors in a fixed number of queries, whatever the number of groups. The
sparklines are drawn on the server as inline SVG (like the History tab): no JavaScript, no chart library.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from segments.models import RebuildStatus
from segments.selectors import (
    DASHBOARD_DAYS,
    GroupDayFlow,
    GroupPulse,
    dashboard_contacts,
    dashboard_flow,
    dashboard_groups,
    fmt_int,
)

GROUPS_SHOWN = 8  # the groups card; the rest are one click away on the group list
FLOW_DAYS = 7  # the recent changes card looks back this many days (today included)
FLOW_SHOWN = 8


@dataclass(frozen=True)
class Sparkline:
    """A group's size over the last days as SVG path data in a `width` × `height` box."""

    width: int
    height: int
    paths: list[str]  # one per unbroken run of days (a day without a snapshot breaks the line)
    last_x: float
    last_y: float
    title: str


def sparkline(*, counts: list[int | None], width: int = 96, height: int = 28, pad: float = 3) -> Sparkline | None:
    """The sparkline of `counts` (one per day, the last is today's), or None with fewer than 2 known days."""
    known = [c for c in counts if c is not None]
    if len(known) < 2:
        return None
    low, high = min(known), max(known)
    span = len(counts) - 1

    def xy(i: int, count: int) -> tuple[float, float]:
        x = pad + i / span * (width - 2 * pad)
        # A flat line sits in the middle; otherwise the lowest day touches the bottom, the highest the top.
        y = height / 2 if high == low else pad + (high - count) / (high - low) * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    runs: list[list[tuple[float, float]]] = [[]]
    for i, count in enumerate(counts):
        if count is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(xy(i, count))
    paths = []
    for run in runs:
        if len(run) == 1:  # a lone day: a tiny stroke so it still shows
            x, y = run[0]
            paths.append(f"M{x - 0.75},{y} L{x + 0.75},{y}")
        elif run:
            paths.append("M" + " L".join(f"{x},{y}" for x, y in run))
    first = next(c for c in counts if c is not None)
    last_x, last_y = xy(len(counts) - 1, known[-1]) if counts[-1] is not None else (0.0, 0.0)
    days = span
    title = f"Members over the last {days} days: {fmt_int(first)} → {fmt_int(known[-1])}"
    if low < min(first, known[-1]) or high > max(first, known[-1]):
        title += f" (lowest {fmt_int(low)}, highest {fmt_int(high)})"
    return Sparkline(width=width, height=height, paths=paths, last_x=last_x, last_y=last_y, title=title)


@dataclass(frozen=True)
class GroupRow:
    pulse: GroupPulse
    spark: Sparkline | None


@dataclass(frozen=True)
class FlowRow:
    flow: GroupDayFlow
    group: Any  # the ContactGroup

    @property
    def net(self) -> int:
        return self.flow.joined - self.flow.left


def day_label(day: dt.date, *, today: dt.date) -> str:
    """Today, Yesterday, or "Mon 9 Mar"."""
    if day == today:
        return "Today"
    if day == today - dt.timedelta(days=1):
        return "Yesterday"
    return f"{day:%a} {day.day} {day:%b}"


def shown_first(pulse: GroupPulse) -> tuple[int, int, str]:
    """The groups that changed since yesterday first (the biggest change first), then the biggest groups."""
    return (-abs(pulse.change or 0), -pulse.group.member_count, pulse.group.name.lower())


class DashboardView(PermissionRequiredMixin, TemplateView):
    """Home: what changed in the contact groups since yesterday and what needs attention."""

    permission_required = "segments.view_contactgroup"
    template_name = "segments/dashboard.html"

    def handle_no_permission(self) -> HttpResponseRedirect:
        # Someone who may see contacts but not groups starts on the contact list (login lands here).
        user = self.request.user
        if user.is_authenticated and user.has_perm("contacts.view_contact"):
            return HttpResponseRedirect(reverse("contacts:contact_list"))
        return super().handle_no_permission()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        today = timezone.localdate()
        pulses = dashboard_groups(today=today, days=DASHBOARD_DAYS)
        by_id = {p.group.pk: p.group for p in pulses}
        flows = dashboard_flow(group_ids=list(by_id), since=today - dt.timedelta(days=FLOW_DAYS - 1))
        shown = sorted(pulses, key=shown_first)[:GROUPS_SHOWN]
        today_flows = [f for f in flows if f.date == today]
        return {
            **super().get_context_data(**kwargs),
            "today": today,
            "contacts": dashboard_contacts() if self.request.user.has_perm("contacts.view_contact") else None,
            "group_total": len(pulses),
            "condition_total": sum(1 for p in pulses if p.group.is_condition_based),
            "rows": [
                GroupRow(pulse=p, spark=sparkline(counts=p.counts))
                for p in shown
            ],
            "more_groups": max(0, len(pulses) - len(shown)),
            "failed": [p.group for p in pulses if p.group.rebuild_state == RebuildStatus.FAILED],
            "busy": [p.group for p in pulses if p.group.is_rebuilding],
            "flows": [
                (day_label(f.date, today=today), FlowRow(flow=f, group=by_id[f.group_id])) for f in flows[:FLOW_SHOWN]
            ],
            "flow_days": FLOW_DAYS,
            "joined_today": sum(f.joined for f in today_flows),
            "left_today": sum(f.left for f in today_flows),
            "spark_days": DASHBOARD_DAYS,
        }
