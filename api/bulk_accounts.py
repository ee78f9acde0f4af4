"""The account upserts' checks: JSON items through the account import's own row checks (not a copy of them).

Each item is first checked for shape and JSON types (a serializer: unknown fields refused), then every item
becomes a row of cells for `transfers.imports.pipeline.rows_check` with the accounts kind, which types each
value as an account import does (domains from web addresses, countries by code or name, numbers of
employees) and matches the row to an account exactly as the import does: by name (ignoring case, accents and
spacing) or, when no account has the name, by domain; a name two accounts share is an error, never a guess.
Its report's (row, column, reason) become per-item paths such as "accounts[3].employees".

As in an import, an empty value (null or "") leaves the account's value as it is. Two items naming the same
account are refused (send each account once), as two contacts with one email are.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from api.bulk_contacts import BulkCheck, json_cell
from api.errors import flatten
from api.serializers.common import StrictSerializer
from api.serializers.contacts import INT32
from transfers.imports.kinds import ACCOUNT_TARGETS
from transfers.imports.pipeline import ImportOptions, rows_check
from transfers.imports.reading import Table
from transfers.models import ImportIssue, ImportKind

_SAME_AS = re.compile(r"^Same account as line (\d+)")


def _text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(allow_blank=True, allow_null=True, required=False, trim_whitespace=False, **kwargs)


class BulkAccountSerializer(StrictSerializer):
    """One account to create or update: its JSON types (the values are checked by the account import's rules)."""

    name = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="Finds the account (ignoring case, accents and spacing); a new name creates an account",
    )
    domain = _text(help_text="acme.com, or a web address (https://www.acme.com/about is stored as acme.com)")
    industry = _text()
    country = _text(help_text="An ISO 3166-1 code (CZ, CZE) or a country's name, as an import reads it")
    employees = serializers.IntegerField(min_value=0, max_value=INT32, allow_null=True, required=False)


def accounts_bulk_check(items: list[Any], *, prefix: str = "accounts") -> BulkCheck:
    """Check every item (shape, types, then the account import's checks and matching); the upserts when all pass.

    `prefix` names the list in error paths ("" for the single upsert: paths like "employees").
    """
    result = BulkCheck(prefix=prefix)
    rows: dict[int, dict[str, str]] = {}
    for index, item in enumerate(items):
        serializer = BulkAccountSerializer(data=item)
        if not serializer.is_valid():
            for path, message, code in flatten(serializer.errors):
                result.add(index, path, message, code)
            continue
        rows[index] = {name: json_cell(value) for name, value in serializer.validated_data.items()}
    header = [name for name in ACCOUNT_TARGETS if any(name in cells for cells in rows.values())]
    table = Table(
        header=header,
        rows=[[cells.get(name, "") for name in header] for cells in rows.values()],
        kind="json",
        lines=list(rows),
    )
    checked = rows_check(table=table, mapping=header, options=ImportOptions(), kind=ImportKind.ACCOUNTS)
    for issue in checked.issues:
        if issue.level == ImportIssue.Level.NOTE:  # the import merges two rows naming one account: refused here
            same = _SAME_AS.match(issue.reason)
            earlier = f"{prefix}[{same.group(1)}]" if same and prefix else "an earlier item"
            result.add(issue.line, "name", f"Same account as {earlier}: send each account once.", "duplicate")
        else:
            result.add(issue.line, issue.column if issue.column in header else "", issue.reason)
    if not result.errors:
        by_line = {row.line: row.upsert for row in checked.rows}
        result.upserts = [by_line[index] for index in range(len(items))]
    return result
