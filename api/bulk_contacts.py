"""The bulk upsert's checks: JSON items through the contact import's own row checks (not a copy of them).

Each item is first checked for shape and JSON types (a serializer: unknown fields refused, a list where
text belongs refused), then every item becomes a row of cells for `transfers.imports.pipeline.rows_check`,
which types and validates each value by the field's settings exactly as an import does (countries by code
or name, choices by code or label, dates, numbers, phones, lengths, required custom fields for new
contacts). Its report's (row, column, reason) become per-item paths such as "contacts[3].custom.plan".

As in an import, an empty value (null or "") leaves the contact's value as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers

from api.errors import flatten
from api.serializers.common import SafeJSONObjectField, StrictSerializer
from contacts.filters import LEAD_SCORE_LIMIT
from contacts.models import ContactField, FieldType
from transfers.imports.mapping import CUSTOM_PREFIX
from transfers.imports.pipeline import ImportOptions, rows_check
from transfers.imports.reading import Table

TEXT_FIELDS = ("first_name", "last_name", "phone", "country", "city", "job_title")


def _text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(allow_blank=True, allow_null=True, required=False, trim_whitespace=False, **kwargs)


class BulkContactSerializer(StrictSerializer):
    """One contact of a bulk upsert: its JSON types (the values are checked by the import's rules)."""

    email = serializers.CharField(help_text="Identifies the contact (compared ignoring case)")
    first_name = _text()
    last_name = _text()
    phone = _text()
    country = _text(help_text="An ISO 3166-1 code (CZ, CZE) or a country's name, as an import reads it")
    city = _text()
    job_title = _text()
    lead_score = serializers.IntegerField(
        min_value=-LEAD_SCORE_LIMIT, max_value=LEAD_SCORE_LIMIT, allow_null=True, required=False
    )
    custom = SafeJSONObjectField(
        required=False, help_text="Custom field values by code, read as an import reads them (choices by code or label)"
    )


class BulkUpsertSerializer(StrictSerializer):
    contacts = serializers.ListField(allow_empty=False, help_text="Up to API_MAX_BATCH (1,000) contacts")


@dataclass
class BulkCheck:
    """Every item checked: the upserts in item order (when none failed) and each item's problems.

    `prefix` names the list in paths ("contacts" → "contacts[3].email"); "" for a request of one item ("email").
    """

    prefix: str = "contacts"
    upserts: list[Any] = field(default_factory=list)  # ContactUpsert (an account check: AccountUpsert)
    errors: dict[int, list[dict[str, str]]] = field(default_factory=dict)

    def add(self, index: int, path: str, message: str, code: str = "invalid") -> None:
        where = f"{self.prefix}[{index}]" if self.prefix else ""
        full = f"{where}.{path}" if where and path else where or path
        self.errors.setdefault(index, []).append({"path": full, "message": message, "code": code})


def json_cell(value: Any, custom_field: ContactField | None = None) -> str:
    """A JSON value as the text of an import's cell; TypeError when its JSON type cannot be one."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError("Not a finite number.")
        return repr(value)
    if isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and custom_field is not None
        and custom_field.type == FieldType.MULTI_CHOICE
        and all(isinstance(v, str) and not any(sep in v for sep in ",;|") for v in value)
    ):
        return ",".join(value)
    if custom_field is not None and custom_field.type == FieldType.MULTI_CHOICE:
        raise TypeError("Expected a list of choice codes.")
    raise TypeError("Expected text, a number or true/false.")


def contacts_bulk_check(items: list[Any]) -> BulkCheck:
    """Check every item (shape, types, then the import's value checks); the upserts when all are valid."""
    result = BulkCheck()
    fields = {f.code: f for f in ContactField.objects.active()}
    by_label = {f.label: f"{CUSTOM_PREFIX}{f.code}" for f in fields.values()}
    rows: dict[int, dict[str, str]] = {}
    first_of: dict[str, int] = {}
    for index, item in enumerate(items):
        serializer = BulkContactSerializer(data=item)
        if not serializer.is_valid():
            for path, message, code in flatten(serializer.errors):
                result.add(index, path, message, code)
            continue
        data = dict(serializer.validated_data)
        cells = {name: json_cell(data[name]) for name in (*TEXT_FIELDS, "email", "lead_score") if name in data}
        for code, value in data.get("custom", {}).items():
            if code not in fields:
                result.add(index, f"custom.{code}", "There is no active custom field with this code.", "unknown_field")
                continue
            try:
                cells[f"{CUSTOM_PREFIX}{code}"] = json_cell(value, fields[code])
            except TypeError as exc:
                result.add(index, f"custom.{code}", str(exc), "invalid_type")
        key = data["email"].strip().strip("<>").strip().lower()
        if key in first_of:
            result.add(index, "email", f"Same email as contacts[{first_of[key]}]: send each contact once.", "duplicate")
            continue
        first_of[key] = index
        if index not in result.errors:
            rows[index] = cells
    header = sorted({name for cells in rows.values() for name in cells})
    table = Table(
        header=header,
        rows=[[cells.get(name, "") for name in header] for cells in rows.values()],
        kind="json",
        lines=list(rows),
    )
    checked = rows_check(table=table, mapping=header, options=ImportOptions())
    for issue in checked.issues:
        path = issue.column if issue.column in header else by_label.get(issue.column, "")
        result.add(issue.line, path, issue.reason)
    if not result.errors:
        by_line = {row.line: row.upsert for row in checked.rows}
        result.upserts = [by_line[index] for index in range(len(items))]
    return result
