"""Integrity checks and history upkeep (nightly): orphans, counts, pruning, backfill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Contact
from segments.memberships.base import (
    Why,
)
from segments.memberships.counts import (
    member_counts_refresh,
)
from segments.memberships.sets import (
    memberships_move_to_parents,
)
from segments.models import Cause, ContactGroup, EventKind, Membership, MembershipEvent, Source


@dataclass(frozen=True)
class Integrity:
    """Rows that break the membership invariants (each should be 0)."""

    orphans: int  # memberships or events whose contact or group no longer exists
    merged_members: int  # memberships of merged contacts
    wrong_counts: int  # groups whose member_count differs from their rows


def memberships_integrity(*, repair: bool = False) -> Integrity:
    """Count (and with `repair`, remove or fix) what breaks the invariants the dropped foreign keys kept."""
    no_contact = ~Exists(Contact.objects.filter(pk=OuterRef("contact_id")))
    no_group = ~Exists(ContactGroup.objects.filter(pk=OuterRef("group_id")))
    orphan_rows = Membership.objects.filter(no_contact | no_group)
    orphan_events = MembershipEvent.objects.filter(no_contact | no_group)
    merged = Membership.objects.filter(contact__merged_into__isnull=False)
    counted = Membership.objects.filter(group=OuterRef("pk")).order_by().values("group").annotate(n=Count("pk"))
    actual = Coalesce(Subquery(counted.values("n")), 0)
    wrong_ids = list(ContactGroup.objects.annotate(n=actual).exclude(member_count=F("n")).values_list("pk", flat=True))
    found = Integrity(
        orphans=orphan_rows.count() + orphan_events.count(),
        merged_members=merged.count(),
        wrong_counts=len(wrong_ids),
    )
    if repair and (found.orphans or found.merged_members or found.wrong_counts):
        orphan_rows.delete()
        orphan_events.delete()
        if found.merged_members:
            memberships_move_to_parents(
                child_ids=list(merged.values_list("contact_id", flat=True).distinct()), why=Why(Cause.MERGE)
            )
        member_counts_refresh()
    return found


def events_prune(*, older_than_days: int, now: datetime | None = None) -> int:
    """Delete membership history older than `older_than_days`; returns how many events went."""
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    deleted = 0
    for group_id in ContactGroup.objects.order_by("pk").values_list("pk", flat=True):  # each on (group, at)
        deleted += MembershipEvent.objects.filter(group_id=group_id, at__lt=cutoff)._raw_delete(connection.alias)
    return deleted


def history_backfill(
    *,
    group: ContactGroup,
    joined: dict[int, datetime],
    past: list[tuple[int, datetime, datetime]],
    source: Source,
    why: Why,
) -> None:
    """Record membership history from before it was kept (demo data; a move from another tool).

    `joined`: when current members of `group` joined — their newest ENTERED event and their
    Membership.added_at move back to then. `past`: (contact, joined, left) memberships that ended
    before now, recorded as an ENTERED and a LEFT event of `source` (no membership row: they are over).
    """
    rows = list(Membership.objects.filter(group=group, contact_id__in=list(joined)))
    for row in rows:
        row.added_at = joined[row.contact_id]
    Membership.objects.bulk_update(rows, ["added_at"], batch_size=500)
    newest: dict[int, MembershipEvent] = {}
    for event in MembershipEvent.objects.filter(group=group, kind=EventKind.ENTERED, contact_id__in=list(joined)):
        if event.contact_id not in newest or event.at > newest[event.contact_id].at:
            newest[event.contact_id] = event
    for event in newest.values():
        event.at = joined[event.contact_id]
    MembershipEvent.objects.bulk_update(list(newest.values()), ["at"], batch_size=500)
    MembershipEvent.objects.bulk_create(
        [
            MembershipEvent(
                group=group, contact_id=cid, kind=kind, source=source, cause=why.cause, actor_id=why.actor_id, at=at
            )
            for cid, start, end in past
            for kind, at in ((EventKind.ENTERED, start), (EventKind.LEFT, end))
        ],
        batch_size=500,
    )
