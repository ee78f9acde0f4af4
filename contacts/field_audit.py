"""What the audit log keeps of a custom field: its definition as the field settings page shows it."""

from __future__ import annotations

from typing import Any

from contacts.models import ContactField


def field_facts(field: ContactField) -> dict[str, Any]:
    """The definition compared by a field's create and change entries (choices one a line: a line diff)."""
    return {
        "label": field.label,
        "code": field.code,
        "type": field.get_type_display(),
        "choices": [f"{c.get('label', '')} ({c.get('code', '')})" for c in field.choices or []],
        "required": field.required,
        "help_text": field.help_text,
    }
