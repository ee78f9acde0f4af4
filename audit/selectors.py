"""Reads of the audit log: the filtered list, links to the objects that still exist, the CSV rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from audit.models import AuditEntry

# object_type → the page of such an object (only linked while the object exists).
OBJECT_PAGES: dict[str, Callable[[Any], str]] = {
    "segments.contactgroup": lambda o: reverse("segments:group_detail", args=[o.pk]),
    "contacts.contactfield": lambda o: reverse("fields:field_update", args=[o.code]),
    "transfers.importjob": lambda o: reverse("transfers:import_detail", args=[o.pk]),
    "campaigns.campaign": lambda o: reverse("campaigns:campaign_detail", args=[o.pk]),
    "webhooks.endpoint": lambda o: reverse("webhooks:endpoint_detail", args=[o.pk]),
    "auth.user": lambda o: reverse("users:user_detail", args=[o.pk]),
    "api.apitoken": lambda o: reverse("tokens:token_list"),
}


def audit_entries() -> QuerySet[AuditEntry]:
    """Every entry, newest first."""
    return AuditEntry.objects.select_related("actor").order_by("-at", "-id")


def object_links(entries: Iterable[AuditEntry]) -> dict[int, str]:
    """entry id → the page of its object, for the objects that still exist (one query per object type)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    entries = list(entries)
    for entry in entries:
        if entry.object_type in OBJECT_PAGES and entry.object_id:
            wanted[entry.object_type].add(entry.object_id)
    found: dict[tuple[str, str], Model] = {}
    for object_type, ids in wanted.items():
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            continue
        pks = [int(pk) for pk in ids if pk.isdigit()]
        for obj in model._default_manager.filter(pk__in=pks):
            found[(object_type, str(obj.pk))] = obj
    links: dict[int, str] = {}
    for entry in entries:
        obj = found.get((entry.object_type, entry.object_id))
        if obj is not None:
            try:
                links[entry.pk] = OBJECT_PAGES[entry.object_type](obj)
            except NoReverseMatch:
                continue
    return links


CSV_HEADER = [
    "Time", "Who", "Address", "Action", "Action code", "Object type", "Object id", "Object", "Summary", "Changes"
]  # fmt: skip


def csv_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[str]]:
    """The CSV export's rows (times in the project's time zone, changes as JSON), read in chunks."""
    yield CSV_HEADER
    for entry in entries.iterator(chunk_size=2000):
        yield [
            timezone.localtime(entry.at).isoformat(timespec="seconds"),
            entry.actor_name,
            entry.ip or "",
            entry.action_label,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.object_label,
            entry.summary,
            json.dumps(entry.changes, ensure_ascii=False, sort_keys=False) if entry.changes else "",
        ]
