"""How an entry's `changes` are shown: a line diff for lists of lines (a group's condition as an outline, a
field's choices, the field order), "before → after" for other values, and plain facts for the rest."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any

CONTEXT = 3  # unchanged lines kept around a change; longer unchanged runs fold into "… N unchanged lines"
LABELS = {
    "nightly_rebuild": "Nightly rebuild",
    "help_text": "Help text",
    "scheduled_at": "Scheduled for",
    "created_deleted": "Created contacts deleted",
    "updated_restored": "Updated contacts restored",
    "values_converted": "Stored values converted",
    "copy_of": "Copy of",
    "bytes": "File size (bytes)",
    "new_group": "New group",
    "group_id": "Group (id)",
    "allow_anonymous": "Rows without email allowed",
    "create_accounts": "Creates accounts",
    "date_format": "Date format",
    "url": "URL",
}


# The order rows are shown in (PostgreSQL's jsonb does not keep the order the service wrote): the object's
# name first, line diffs after the single values; names not listed follow in alphabetical order.
ORDER = [
    "name", "label", "code", "file", "url", "description", "kind", "type", "format", "channel", "role", "owner",
    "scope", "events", "groups", "nightly_rebuild", "required", "help_text", "scheduled_at", "members",
    "copy_of", "frozen", "rows", "bytes", "columns", "choices", "order", "condition",
]  # fmt: skip


@dataclass(frozen=True)
class Line:
    kind: str  # "same", "removed", "added", "fold"
    text: str


@dataclass
class ChangeRow:
    name: str
    label: str
    kind: str  # "lines" (a line diff), "value" (before → after), "fact" (a value of the action)
    before: Any = None
    after: Any = None
    value: Any = None
    lines: list[Line] = field(default_factory=list)


def label_for(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def _is_lines(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def line_diff(before: list[str], after: list[str], *, context: int = CONTEXT) -> list[Line]:
    """Every removed and added line in order, with up to `context` unchanged lines around each change."""
    lines: list[Line] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = before[i1:i2]
            head = context if index > 0 else 0
            tail = context if index < len(opcodes) - 1 else 0
            if len(same) > head + tail + 1:
                lines += [Line("same", text) for text in same[:head]]
                folded = len(same) - head - tail
                lines.append(Line("fold", f"… {folded} unchanged line{'' if folded == 1 else 's'}"))
                lines += [Line("same", text) for text in same[len(same) - tail :]]
            else:
                lines += [Line("same", text) for text in same]
            continue
        lines += [Line("removed", text) for text in before[i1:i2]]
        lines += [Line("added", text) for text in after[j1:j2]]
    return lines


def shown_value(value: Any) -> Any:
    """A JSON value ready for a template: ISO datetimes back to datetimes (the |moment filter shows them)."""
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def change_rows(changes: dict[str, Any]) -> list[ChangeRow]:
    """The rows an entry's page shows, in ORDER."""
    rows: list[ChangeRow] = []
    rank = {name: index for index, name in enumerate(ORDER)}
    for name, value in sorted((changes or {}).items(), key=lambda item: (rank.get(item[0], len(ORDER)), item[0])):
        label = label_for(name)
        if isinstance(value, dict) and set(value) == {"before", "after"}:
            before, after = value["before"], value["after"]
            listed = isinstance(before, list) or isinstance(after, list)
            if listed and _is_lines(before or []) and _is_lines(after or []):
                rows.append(ChangeRow(name, label, "lines", before, after, lines=line_diff(before or [], after or [])))
            else:
                rows.append(ChangeRow(name, label, "value", shown_value(before), shown_value(after)))
        else:
            rows.append(ChangeRow(name, label, "fact", value=shown_value(value)))
    return rows
