"""The History tab of a contact group: its member count per day, drawn on the server as inline SVG.

Invariant: a day without a snapshot is a gap (None), never zero: the line breaks there (a faint
dashed bridge joins the two sides) and the data table says "no snapshot". Today's point is the
group's live member_count until today's snapshot exists. Everything here is pure arithmetic on
the snapshots, so the chart is the same in every browser and needs no JavaScript or chart library.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.http import Http404
from django.views.generic import ListView, TemplateView

from segments.models import RebuildStatus
from segments.selectors import (
    DayFlow,
    SizeHistory,
    SizePoint,
    fmt_int,
    group_flow,
    group_history_start,
    group_last_rebuild_changes,
    group_recent_events,
    group_size_history,
)
from segments.views.base import GroupMixin

PERIODS = (30, 90, 365)
DEFAULT_DAYS = 90


def fmt_day(day: dt.date, *, year: bool = False) -> str:
    """12 Mar (or 12 Mar 2026); locale-independent of the platform's strftime flags."""
    return f"{day.day} {day:%b}" + (f" {day.year}" if year else "")


def history_days(raw: str | None) -> int:
    """The period asked for in the `days` GET parameter, or the default when it is missing or junk."""
    try:
        days = int(raw or "")
    except ValueError:
        return DEFAULT_DAYS
    return days if days in PERIODS else DEFAULT_DAYS


# ---------------------------------------------------------------------------------------------
# Chart geometry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    pos: float  # y for the value axis, x for the date axis (SVG user units)
    label: str
    anchor: Literal["start", "middle", "end"] = "middle"


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    point: SizePoint

    @property
    def title(self) -> str:
        count = self.point.count or 0
        what = "now" if self.point.live else "snapshot"
        return f"{self.point.date:%a} {fmt_day(self.point.date, year=True)}: {fmt_int(count)} members ({what})"


@dataclass(frozen=True)
class HitArea:
    x: float
    width: float
    target: ChartPoint


@dataclass
class ChartFrame:
    """A chart's size and plot area (SVG user units), and where its axis labels go."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top

    @property
    def y_label_x(self) -> float:
        return self.left - 8

    @property
    def x_label_y(self) -> float:
        return self.bottom + 20

    @property
    def x_tick_end(self) -> float:
        return self.bottom + 5


@dataclass
class SizeChart(ChartFrame):
    lines: list[str] = field(default_factory=list)  # SVG path data, one per unbroken run of days
    areas: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)  # dashed lines across gaps
    dots: list[ChartPoint] = field(default_factory=list)  # runs of a single day (no line to draw)
    points: list[ChartPoint] = field(default_factory=list)  # every known day
    hits: list[HitArea] = field(default_factory=list)

    @property
    def last(self) -> ChartPoint:
        return self.points[-1]

    @property
    def show_markers(self) -> bool:
        """Small dots on every day only when they do not crowd each other."""
        return len(self.points) <= 45


def nice_step(raw: float) -> int:
    """The smallest 1, 2 or 5 × 10^n (at least 1: counts are whole) not below `raw`."""
    if raw <= 1:
        return 1
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10**exponent
    nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return int(nice * 10**exponent)


def value_ticks(low: int, high: int, *, target: int = 4) -> list[int]:
    """Round tick values covering [low, high]: 2 to 6 intervals of 1, 2 or 5 × 10^n; never below zero."""
    if low == high:
        step = nice_step(max(1.0, high * 0.05))
        bottom = max(0, low - step)
        return list(range(bottom, low + 2 * step, step))
    if low <= high * 0.3:
        low = 0  # close to zero anyway: an honest zero baseline costs nothing
    step = nice_step((high - low) / target)
    bottom = (low // step) * step
    top = -(-high // step) * step
    return list(range(bottom, top + step, step))


def _date_ticks(first: dt.date, last: dt.date, x_of: Any, *, most: int) -> list[Tick]:
    """At most `most` date labels: month starts for long spans, else every n days back from today."""
    span = (last - first).days
    days: list[dt.date] = []
    if span > 25 * most:
        months = []
        day = dt.date(first.year, first.month, 1)
        while day <= last:
            if day >= first:
                months.append(day)
            day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        every = next(n for n in (1, 2, 3, 4, 6, 12) if math.ceil(len(months) / n) <= most)
        days = [d for d in months if (d.month - 1) % every == 0]
        labels = [f"{d:%b}" + (f" {d.year}" if i == 0 or d.month == 1 else "") for i, d in enumerate(days)]
    else:
        # Every n days counting back from today, so today is always labelled.
        step = next((s for s in (1, 2, 7, 14, 21, 28) if span / s < most), 7 * math.ceil(span / most / 7))
        day = last
        while day >= first:
            days.insert(0, day)
            day -= dt.timedelta(days=step)
        labels = [fmt_day(d) for d in days]
        labels[-1] = "Today"  # the chart always ends today
    ticks = []
    for d, label in zip(days, labels, strict=True):
        x = x_of(d)
        anchor: Literal["start", "middle", "end"] = "middle"
        if (d - first).days < span * 0.04:
            anchor = "start"
        elif (last - d).days < span * 0.04:
            anchor = "end"
        ticks.append(Tick(pos=x, label=label, anchor=anchor))
    return ticks


def size_chart(*, history: SizeHistory, width: int = 880, height: int = 280, most_dates: int = 6) -> SizeChart | None:
    """Where every line, area, tick and label of the history chart goes (None: fewer than 2 points)."""
    if not history.has_chart:
        return None
    known = history.known
    ticks = value_ticks(min(p.count or 0 for p in known), max(p.count or 0 for p in known))
    longest = max(len(fmt_int(t)) for t in ticks)
    chart = SizeChart(width=width, height=height, left=14 + 7.5 * longest, top=14, right=width - 16, bottom=height - 30)
    first_day, span = history.points[0].date, (history.points[-1].date - history.points[0].date).days
    lo, hi = ticks[0], ticks[-1]

    def x_of(day: dt.date) -> float:
        return round(chart.left + (day - first_day).days / span * chart.plot_width, 1)

    def y_of(count: int) -> float:
        return round(chart.bottom - (count - lo) / (hi - lo) * chart.plot_height, 1)

    chart.y_ticks = [Tick(pos=y_of(t), label=fmt_int(t), anchor="end") for t in ticks]
    chart.x_ticks = _date_ticks(first_day, history.points[-1].date, x_of, most=most_dates)

    runs: list[list[ChartPoint]] = [[]]
    for p in history.points:
        if p.count is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(ChartPoint(x=x_of(p.date), y=y_of(p.count), point=p))
    runs = [run for run in runs if run]
    for run in runs:
        if len(run) == 1:
            chart.dots.append(run[0])
            continue
        line = "M" + " L".join(f"{c.x},{c.y}" for c in run)
        chart.lines.append(line)
        chart.areas.append(f"{line} L{run[-1].x},{chart.bottom} L{run[0].x},{chart.bottom} Z")
    for before, after in zip(runs, runs[1:], strict=False):
        chart.bridges.append(f"M{before[-1].x},{before[-1].y} L{after[0].x},{after[0].y}")
    chart.points = [c for run in runs for c in run]
    for i, c in enumerate(chart.points):
        left = chart.left if i == 0 else (chart.points[i - 1].x + c.x) / 2
        right = chart.right if i == len(chart.points) - 1 else (c.x + chart.points[i + 1].x) / 2
        chart.hits.append(HitArea(x=round(left, 1), width=round(right - left, 1), target=c))
    return chart


@dataclass(frozen=True)
class FlowBar:
    x: float
    y: float
    width: float
    height: float
    joined: bool
    title: str


@dataclass
class FlowChart(ChartFrame):
    """Joins (bars up, green) and leaves (bars down, red) per day, on the same days as the size chart."""

    middle: float = 0  # the zero line
    bars: list[FlowBar] = field(default_factory=list)
    joined: int = 0
    left_total: int = 0


MIN_BAR = 2.0  # a day with one leave among hundreds of joins still shows a bar


def flow_chart(
    *, flow: list[DayFlow], first: dt.date, last: dt.date, width: int = 880, height: int = 170, most_dates: int = 6
) -> FlowChart | None:
    """Where every bar of the joins-and-leaves chart goes (None when nobody joined or left in the period)."""
    flow = [f for f in flow if first <= f.date <= last and (f.joined or f.left)]
    if not flow:
        return None
    peak = max(max(f.joined, f.left) for f in flow)
    step = nice_step(peak / 2)
    top_value = -(-peak // step) * step
    left = 14 + 7.5 * len(fmt_int(-top_value))
    bottom = height - 30
    chart = FlowChart(
        width=width,
        height=height,
        left=left,
        right=width - 16,
        top=10,
        bottom=bottom,
        middle=round((10 + bottom) / 2, 1),
    )
    half = chart.middle - chart.top
    days = (last - first).days + 1
    slot = (chart.right - chart.left) / days
    bar = min(24.0, max(1.0, round(slot * 0.7, 1)))  # thin bars for long periods, never slabs for short ones

    def x_of(day: dt.date) -> float:
        return round(chart.left + ((day - first).days + 0.5) * slot, 1)

    for f in flow:
        x = round(x_of(f.date) - bar / 2, 1)
        day = f"{f.date:%a} {fmt_day(f.date, year=True)}"
        if f.joined:
            h = max(MIN_BAR, round(f.joined / top_value * half, 1))
            title = f"{day}: {fmt_int(f.joined)} joined"
            chart.bars.append(FlowBar(x=x, y=round(chart.middle - h, 1), width=bar, height=h, joined=True, title=title))
        if f.left:
            h = max(MIN_BAR, round(f.left / top_value * half, 1))
            title = f"{day}: {fmt_int(f.left)} left"
            chart.bars.append(FlowBar(x=x, y=chart.middle, width=bar, height=h, joined=False, title=title))
    chart.joined = sum(f.joined for f in flow)
    chart.left_total = sum(f.left for f in flow)
    chart.y_ticks = [
        Tick(pos=chart.top, label=f"+{fmt_int(top_value)}", anchor="end"),
        Tick(pos=chart.middle, label="0", anchor="end"),
        Tick(pos=chart.bottom, label=fmt_int(-top_value), anchor="end"),
    ]
    chart.x_ticks = _date_ticks(first, last, x_of, most=most_dates) if days > 1 else []
    return chart


# ---------------------------------------------------------------------------------------------
# View
# ---------------------------------------------------------------------------------------------

STATUS_BADGES = {
    RebuildStatus.NEVER: "text-bg-light border",
    RebuildStatus.QUEUED: "text-bg-warning",
    RebuildStatus.RUNNING: "text-bg-primary",
    RebuildStatus.SUCCEEDED: "text-bg-success",
    RebuildStatus.FAILED: "text-bg-danger",
    RebuildStatus.INTERRUPTED: "text-bg-warning",
}


def duration_display(ms: int | None) -> str:
    """850 → "850 ms", 1234 → "1.2 s", 125000 → "2 min 5 s"."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


RECENT_EVENTS = 20


class GroupHistoryView(GroupMixin, TemplateView):
    """The History tab: member count per day (30/90/365 days), summary figures and the last rebuild."""

    permission_required = "segments.view_membership"  # the same as the Members tab
    template_name = "segments/group_history.html"
    tab = "history"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        days = history_days(self.request.GET.get("days"))
        history = group_size_history(group=self.group, days=days)
        group = self.group
        flow = group_flow(group=group, start=history.start, today=history.today)
        first = history.points[0].date if history.has_chart else min([f.date for f in flow] or [history.today])
        flow_by_day = {f.date: f for f in flow}
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "days": days,
            "periods": PERIODS,
            "history": history,
            "chart": size_chart(history=history),
            "chart_small": size_chart(history=history, width=440, height=250, most_dates=3),
            "table": [(row, flow_by_day.get(row.date)) for row in history.table()] if history.has_chart else [],
            "flow": flow_chart(flow=flow, first=first, last=history.today),
            "flow_small": flow_chart(flow=flow, first=first, last=history.today, width=440, height=150, most_dates=3),
            "recent_events": group_recent_events(group=group, limit=RECENT_EVENTS),
            "recent_limit": RECENT_EVENTS,
            "history_since": group_history_start(group=group),
            "has_snapshots": history.has_chart or group.size_snapshots.exists(),
            "current_display": fmt_int(group.member_count),
            "nightly_time": settings.NIGHTLY_REBUILD_TIME,
            "status_badge": STATUS_BADGES.get(RebuildStatus(group.rebuild_state), "text-bg-secondary"),
            "duration": duration_display(group.last_rebuild_duration_ms),
        }


class GroupRebuildChangesView(GroupMixin, ListView):
    """The contacts the last rebuild added (or removed), from the membership history."""

    permission_required = "segments.view_membership"
    template_name = "segments/group_rebuild_changes.html"
    tab = "history"
    paginate_by = 50

    def joined(self) -> bool:
        kind = self.kwargs["kind"]
        if kind not in ("added", "removed"):
            raise Http404("No such list.")
        return kind == "added"

    def get_queryset(self) -> Any:
        return group_last_rebuild_changes(group=self.group, joined=self.joined())

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "joined": self.joined(),
        }
