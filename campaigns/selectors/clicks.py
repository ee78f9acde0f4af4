"""Who clicked a campaign's links: a page of contacts (with their links and times) and the export's rows.

Read from the campaign's `email_click` activities (the contact they are recorded on: after a merge, the
contact merged into). The list is ordered by the latest click, newest first; the export by contact and link,
one row per (contact, link), streamed in batches with a server-side cursor (transfers' writers make the file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Count, Max, Min, QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import Activity, ActivityType, Contact

CLICK = ActivityType.EMAIL_CLICK.value
EXPORT_HEADER = ["Email", "First name", "Last name", "Contact ID", "Link", "Clicks", "First click", "Last click"]
EXPORT_CHUNK = 10_000


@dataclass
class ClickedLink:
    url: str
    clicks: int
    last: dt.datetime


@dataclass
class Clicker:
    contact: Contact
    clicks: int
    first: dt.datetime
    last: dt.datetime
    links: list[ClickedLink] = field(default_factory=list)


def _clicks(campaign: Campaign) -> QuerySet[Activity]:
    return Activity.objects.filter(campaign=campaign, type=CLICK).order_by()


def clickers(*, campaign: Campaign) -> QuerySet[Any, Any]:
    """One row per contact who clicked: contact_id, clicks, first, last (newest last click first)."""
    return (
        _clicks(campaign)
        .values("contact_id")
        .annotate(clicks=Count("pk"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("-last", "contact_id")
    )


def clickers_page(*, campaign: Campaign, page: Any, per_page: int = 25) -> tuple[Page[Any], list[Clicker]]:
    """A page of the contacts who clicked, each with the links they clicked: three statements (count, the
    page, its contacts' links) however many clicked."""
    page_obj = Paginator(clickers(campaign=campaign), per_page).get_page(page)
    rows = list(page_obj.object_list)
    ids = [r["contact_id"] for r in rows]
    contacts = Contact.objects.in_bulk(ids)
    links: dict[int, list[ClickedLink]] = {}
    for r in (
        _clicks(campaign)
        .filter(contact_id__in=ids)
        .values("contact_id", "url")
        .annotate(n=Count("pk"), last=Max("occurred_at"))
        .order_by("contact_id", "-n", "url")
    ):
        links.setdefault(r["contact_id"], []).append(ClickedLink(r["url"], r["n"], r["last"]))
    result = [
        Clicker(contacts[r["contact_id"]], r["clicks"], r["first"], r["last"], links.get(r["contact_id"], []))
        for r in rows
        if r["contact_id"] in contacts
    ]
    return page_obj, result


def clicks_export_count(*, campaign: Campaign) -> int:
    """How many rows the export has (one per contact and link)."""
    return _clicks(campaign).values("contact_id", "url").distinct().count()


def clicks_export_rows(*, campaign: Campaign, chunk_size: int = EXPORT_CHUNK) -> Iterator[list[list[Any]]]:
    """The export's rows (EXPORT_HEADER) in batches of `chunk_size`, ordered by contact and link; times as
    naive project-time datetimes (what transfers' writers expect). At most one batch is held at a time."""
    zone = timezone.get_current_timezone()
    rows = (
        _clicks(campaign)
        .values("contact_id", "url", "contact__email", "contact__first_name", "contact__last_name")
        .annotate(n=Count("pk"), first=Min("occurred_at"), last=Max("occurred_at"))
        .values_list(
            "contact__email", "contact__first_name", "contact__last_name", "contact_id", "url", "n", "first", "last"
        )
        .order_by("contact_id", "url")
        .iterator(chunk_size=chunk_size)
    )
    # TRICKY: as in transfers.exports.service.export_rows — inside a transaction the PostgreSQL cursor streams
    # (outside one Django declares it WITH HOLD and the whole result is computed first); not on SQLite, where
    # a transaction would hold the database's write lock for the whole download.
    streaming = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic() if streaming else nullcontext():
        while chunk := list(islice(rows, chunk_size)):
            yield [
                [email or "", first_name, last_name, contact_id, url, n, _local(first, zone), _local(last, zone)]
                for email, first_name, last_name, contact_id, url, n, first, last in chunk
            ]


def _local(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return value.astimezone(zone).replace(tzinfo=None)
