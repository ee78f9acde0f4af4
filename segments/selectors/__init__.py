"""Reads of contact groups for pages (selectors): what the views show, shaped for speed at 1M members.

One module per page or concern; callers import from `segments.selectors`.
"""

from segments.selectors.dashboard import (
    DASHBOARD_DAYS,
    ContactSummary,
    GroupDayFlow,
    GroupPulse,
    dashboard_contacts,
    dashboard_flow,
    dashboard_groups,
)
from segments.selectors.drift import (
    Drift,
    group_drift,
)
from segments.selectors.events import history_last_id, history_safe_upper
from segments.selectors.history import (
    DayFlow,
    SizeHistory,
    SizePoint,
    TableRow,
    Tone,
    contact_recheck_pending,
    fmt_int,
    fmt_signed,
    group_flow,
    group_history_start,
    group_last_rebuild_changes,
    group_recent_events,
    group_size_history,
)
from segments.selectors.members import (
    FETCH_US,
    SCAN_MEMBERS_UP_TO,
    SCAN_US,
    WALK_US,
    manual_members_among,
    member_contact_ids,
    members_page,
    walk_is_cheap,
)
from segments.selectors.preview import PREVIEW_CACHE_SECONDS, Counted, preview_shared

__all__ = [
    "PREVIEW_CACHE_SECONDS",
    "ContactSummary",
    "Counted",
    "DASHBOARD_DAYS",
    "DayFlow",
    "Drift",
    "FETCH_US",
    "GroupDayFlow",
    "GroupPulse",
    "SCAN_MEMBERS_UP_TO",
    "SCAN_US",
    "SizeHistory",
    "SizePoint",
    "TableRow",
    "Tone",
    "WALK_US",
    "contact_recheck_pending",
    "dashboard_contacts",
    "dashboard_flow",
    "dashboard_groups",
    "fmt_int",
    "fmt_signed",
    "group_drift",
    "group_flow",
    "group_history_start",
    "group_last_rebuild_changes",
    "group_recent_events",
    "group_size_history",
    "history_last_id",
    "history_safe_upper",
    "manual_members_among",
    "member_contact_ids",
    "members_page",
    "preview_shared",
    "walk_is_cheap",
]
