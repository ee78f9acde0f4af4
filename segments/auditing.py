"""What the audit log keeps of a contact group: its settings and its condition as outline lines
(`segments.rules.describe_lines`), so the log shows a changed condition as removed and added sentences."""

from __future__ import annotations

import json
from typing import Any

from segments.models import ContactGroup


def condition_lines(tree: Any) -> list[str]:
    """The condition as outline lines; a tree that no longer parses as its JSON (one line), so nothing is lost."""
    from segments.rules import RuleError, describe_lines

    if not tree:
        return []
    try:
        return describe_lines(tree)
    except RuleError:
        return [json.dumps(tree, ensure_ascii=False, sort_keys=True)]


def group_facts(group: ContactGroup) -> dict[str, Any]:
    """The group as its settings page shows it: what a create, change or delete entry compares."""
    return {
        "name": group.name,
        "code": group.code,
        "description": group.description,
        "kind": "condition-based" if group.is_condition_based else "static",
        "nightly_rebuild": group.scheduled_rebuild,
        "condition": condition_lines(group.condition) if group.is_condition_based else [],
    }
