"""{% advanced_filter %}: the condition builder as the contact list's advanced filter, with "Save as group"."""

from __future__ import annotations

from typing import Any

from django import template

from segments.views.builder import filter_context

register = template.Library()


@register.inclusion_tag("segments/_advanced_filter.html", takes_context=True)
def advanced_filter(context: template.Context, expanded: bool = False) -> dict[str, Any]:
    """The collapsible panel (shown only to users who may build conditions); `expanded` opens it."""
    request = context["request"]
    return {
        **filter_context(request),
        "request": request,
        "perms": context.get("perms"),
        "csrf_token": context.get("csrf_token"),
        "expanded": expanded or "condition" in request.GET,
    }
