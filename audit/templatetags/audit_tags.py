"""How the audit log pages show values and actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from contacts.templatetags.dates import format_moment

register = template.Library()

AREA_ICONS = {
    "group": "collection",
    "field": "sliders",
    "import": "upload",
    "export": "download",
    "campaign": "envelope-paper",
    "api_token": "key",
    "webhook": "broadcast",
    "user": "person-gear",
}


@register.filter
def audit_value(value: Any) -> str:
    """None → "—", booleans → yes/no, lists joined with commas, datetimes as the app shows them."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(audit_value(item) for item in value) if value else "(none)"
    if isinstance(value, dt.datetime):
        return format_moment(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {audit_value(v)}" for k, v in value.items())
    return str(value)


@register.filter
def area_icon(area: str) -> str:
    return AREA_ICONS.get(area, "journal-text")


@register.filter
def action_tone(action: str) -> str:
    """A badge colour by what the action did: removal red, creation green, the rest neutral."""
    verb = action.partition(".")[2]
    if verb in {"deleted", "revoked", "deactivated", "retired", "undone", "disabled", "send_cancelled"}:
        return "danger"
    if verb in {"created", "invited", "restored", "reactivated", "enabled"}:
        return "success"
    if verb in {"sent", "scheduled", "run"}:
        return "primary"
    return "secondary"
