"""Re-checks: keep the account and condition sources true for contacts that just changed.

Invariant: a change to contacts (sent by `contacts.signals.contacts_changed`, on commit) leaves one
PendingRecheck row per (contact, kind of change); a worker task drains the rows in batches and
re-evaluates only the groups whose rules read that kind of data. A burst of changes to one contact
thus costs one re-check, and a bulk write costs one batched re-check, never one task per row.
Re-checks lock the groups they write (like rebuilds do), so a rebuild and a re-check never interleave.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Q

from contacts.models import Contact
from segments.models import ContactGroup, GroupAccount, Membership, PendingRecheck
from segments.services import SOURCES, Source

logger = logging.getLogger(__name__)

# Kinds of change (segments.rules.Dependencies.kinds) each contacts_changed reason can affect.
ALL_KINDS = frozenset({"contact", "custom", "account", "activity", "consent", "membership"})
KINDS_BY_REASON: dict[str, frozenset[str]] = {
    "created": ALL_KINDS,
    "updated": frozenset({"contact", "custom", "account"}),
    "account": frozenset({"account"}),
    "activity": frozenset({"activity"}),
    "consent": frozenset({"consent"}),
    "merged": ALL_KINDS,
    "deleted": frozenset({"deleted"}),
}
DRAIN_BATCH = 500
# Past this many contacts in one change, rebuilding the affected groups (set-based, in the database)
# is cheaper than re-checking contact by contact.
BULK_REBUILD_THRESHOLD = 5_000


def rechecks_enqueue(*, contact_ids: Iterable[int], reason: str) -> int:
    """Note that these contacts changed and queue a drain task; returns how many rows were noted."""
    from django_q.tasks import async_task

    kinds = KINDS_BY_REASON.get(reason, ALL_KINDS)
    ids = set(contact_ids)
    if len(ids) > BULK_REBUILD_THRESHOLD:
        transaction.on_commit(lambda: async_task("segments.tasks.refresh_groups_after_bulk_change", sorted(kinds)))
        return 0
    rows = [PendingRecheck(contact_id=cid, kind=kind) for cid in ids for kind in kinds]
    if not rows:
        return 0
    PendingRecheck.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    transaction.on_commit(lambda: async_task("segments.tasks.drain_rechecks"))
    return len(rows)


def rechecks_drain(*, batch: int = DRAIN_BATCH, now: datetime | None = None) -> int:
    """Re-check every pending contact, a batch at a time; returns how many contacts were re-checked."""
    done = 0
    while True:
        with transaction.atomic():
            claimed = PendingRecheck.objects.order_by("queued_at", "id")
            if connection.features.has_select_for_update_skip_locked:
                claimed = claimed.select_for_update(skip_locked=True)
            rows = list(claimed.values_list("id", "contact_id", "kind")[:batch])
            if not rows:
                return done
            kinds_by_contact: dict[int, set[str]] = defaultdict(set)
            for _, contact_id, kind in rows:
                kinds_by_contact[contact_id].add(kind)
            contacts_recheck(kinds_by_contact=kinds_by_contact, now=now)
            PendingRecheck.objects.filter(id__in=[row[0] for row in rows]).delete()
            done += len(kinds_by_contact)


def groups_refresh_after_bulk_change(*, kinds: set[str]) -> int:
    """After a change to very many contacts: sync every account source and rebuild the affected groups."""
    from segments.services import account_sources_sync, group_rebuild_by_id, groups_in_dependency_order

    if kinds & {"account", "deleted"} or kinds == ALL_KINDS:
        account_sources_sync()
    groups = ContactGroup.objects.filter(pk__in=[g.pk for g in _relevant_groups(kinds)])
    ordered = groups_in_dependency_order(groups=groups)
    for group in ordered:
        group_rebuild_by_id(group_id=group.pk)
    if "deleted" in kinds:
        _refresh_all_member_counts()
    return len(ordered)


def _relevant_groups(kinds: set[str]) -> list[ContactGroup]:
    """Condition-based groups whose rules read any of `kinds`, plus (transitively) groups reading those."""
    from segments.rules import dependencies

    groups = list(ContactGroup.objects.filter(is_condition_based=True).exclude(condition=None))
    deps = {g.code: dependencies(g.condition) for g in groups}
    chosen = {g.code for g in groups if deps[g.code].kinds & kinds}
    grew = True
    while grew:  # a group whose members change can change the groups that read its membership
        more = {g.code for g in groups if g.code not in chosen and deps[g.code].groups & chosen}
        chosen |= more
        grew = bool(more)
    return [g for g in groups if g.code in chosen]


def _evaluate(*, group: ContactGroup, contact_ids: list[int], now: datetime | None) -> set[int]:
    """Which of `contact_ids` match the group's condition now (evaluated in the database)."""
    from segments.rules import matching_contacts

    return set(matching_contacts(group.condition, now=now, among=contact_ids).values_list("pk", flat=True))


@transaction.atomic
def contacts_recheck(*, kinds_by_contact: dict[int, set[str]], now: datetime | None = None) -> None:
    """Bring the account and condition sources of these contacts up to date in every affected group."""
    from segments.services import groups_in_dependency_order, groups_lock

    live = dict(Contact.objects.filter(pk__in=list(kinds_by_contact)).values_list("pk", "merged_into_id"))
    merged = {cid: parent for cid, parent in live.items() if parent is not None}
    unmerged = [cid for cid, parent in live.items() if parent is None]
    kinds = set().union(*(kinds_by_contact.get(cid, set()) for cid in unmerged)) if unmerged else set()
    condition_groups = _relevant_groups(kinds) if unmerged else []
    # Lock every group this re-check may write, before reading anything: a running rebuild finishes first.
    touched = {g.pk for g in condition_groups}
    touched |= set(Membership.objects.filter(contact_id__in=list(live)).values_list("group_id", flat=True))
    if "account" in kinds:
        touched |= set(
            GroupAccount.objects.filter(
                account_id__in=Contact.objects.filter(pk__in=unmerged).values("account_id")
            ).values_list("group_id", flat=True)
        )
    groups_lock(group_ids=touched)
    if merged:
        _move_memberships_to_parents(merged)
    if any("deleted" in k for k in kinds_by_contact.values()) or merged:
        _refresh_all_member_counts()
    if "account" in kinds:
        _sync_account_sources(unmerged)
    # Dependency order: a membership node reads what the groups before it just wrote.
    for group in groups_in_dependency_order(
        groups=ContactGroup.objects.filter(pk__in=[g.pk for g in condition_groups])
    ):
        matching = _evaluate(group=group, contact_ids=unmerged, now=now)
        _set_condition_source(group=group, contact_ids=unmerged, matching=matching)


def _set_condition_source(*, group: ContactGroup, contact_ids: list[int], matching: set[int]) -> None:
    """Make via_condition true exactly for `matching` among `contact_ids` in `group`."""
    existing = {
        (m.group_id, m.contact_id): m
        for m in Membership.objects.filter(group=group, contact_id__in=contact_ids).only(
            "id", "group_id", "contact_id", "via_manual", "via_account", "via_condition"
        )
    }
    _write_source(source="via_condition", should={(group.pk, cid) for cid in matching}, existing=existing)


def _sync_account_sources(contact_ids: list[int]) -> None:
    """Make via_account true exactly where the contact's current account is linked to the group."""
    accounts = dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "account_id"))
    linked: dict[int, set[int]] = defaultdict(set)  # account id → group ids
    for group_id, account_id in GroupAccount.objects.filter(
        account_id__in={a for a in accounts.values() if a}
    ).values_list("group_id", "account_id"):
        linked[account_id].add(group_id)
    should = {(gid, cid) for cid, aid in accounts.items() if aid for gid in linked[aid]}
    existing = {
        (m.group_id, m.contact_id): m
        for m in Membership.objects.filter(
            Q(contact_id__in=contact_ids) & (Q(via_account=True) | Q(group_id__in={g for g, _ in should}))
        )
    }
    _write_source(source="via_account", should=should, existing=existing)


def _write_source(*, source: Source, should: set[tuple[int, int]], existing: dict[tuple[int, int], Membership]) -> None:
    """Make `source` true exactly for the (group, contact) pairs in `should`, given their `existing` rows.

    `existing` must hold every row of those pairs and every row whose `source` may have to go.
    """
    others = [s for s in SOURCES if s != source]
    new = [Membership(group_id=g, contact_id=c, **{source: True}) for g, c in should if (g, c) not in existing]
    gain = [m.pk for key, m in existing.items() if key in should and not getattr(m, source)]
    lose = [m for key, m in existing.items() if key not in should and getattr(m, source)]
    keep = [m.pk for m in lose if any(getattr(m, other) for other in others)]
    drop = [m for m in lose if not any(getattr(m, other) for other in others)]
    if new:
        Membership.objects.bulk_create(new, ignore_conflicts=True)
    if gain:
        Membership.objects.filter(pk__in=gain).update(**{source: True})
    if keep:
        Membership.objects.filter(pk__in=keep).update(**{source: False})
    if drop:
        Membership.objects.filter(pk__in=[m.pk for m in drop]).delete()
    touched = {m.group_id for m in new} | {m.group_id for m in drop}
    if touched:
        _refresh_member_counts(touched)


def _move_memberships_to_parents(merged: dict[int, int]) -> None:
    """Merged contacts are never members: their manual memberships move to the parent, the rest go."""
    for child_id, parent_id in merged.items():
        for m in Membership.objects.filter(contact_id=child_id, via_manual=True):
            _, created = Membership.objects.get_or_create(
                group_id=m.group_id, contact_id=parent_id, defaults={"via_manual": True}
            )
            if not created:
                Membership.objects.filter(group_id=m.group_id, contact_id=parent_id).update(via_manual=True)
    Membership.objects.filter(contact_id__in=list(merged)).delete()


def _refresh_member_counts(group_ids: Iterable[int]) -> None:
    counts = dict(
        Membership.objects.filter(group_id__in=list(group_ids))
        .values("group_id")
        .annotate(n=Count("id"))
        .values_list("group_id", "n")
    )
    for group_id in group_ids:
        ContactGroup.objects.filter(pk=group_id).update(member_count=counts.get(group_id, 0))


def _refresh_all_member_counts() -> None:
    _refresh_member_counts(list(ContactGroup.objects.values_list("pk", flat=True)))


def contact_changed_receiver(sender: object, contact_ids: list[int], reason: str, **_: object) -> None:
    """contacts_changed receiver: only notes the change and queues work (never writes memberships)."""
    rechecks_enqueue(contact_ids=contact_ids, reason=reason)
