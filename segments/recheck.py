"""Re-checks: keep the account and condition sources true for contacts that just changed.

Invariant: a change to contacts (sent by `contacts.signals.contacts_changed`, on commit) leaves one
PendingRecheck row per (contact, kind of change); a worker task drains the rows in batches and
re-evaluates only the groups whose rules read that kind of data. A burst of changes to one contact
thus costs one re-check, and a bulk write costs one batched re-check, never one task per row.
Re-checks lock the groups they write (like rebuilds do), so a rebuild and a re-check never interleave.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import BooleanField, Case, Count, F, When

from contacts.models import Contact, ContactField
from segments.models import ContactGroup, Membership, PendingRecheck
from segments.rules.batch import VerdictQuery
from segments.rules.clock import Clock
from segments.rules.compiler import rule_q
from segments.services import SOURCES, Source

if TYPE_CHECKING:
    from segments.rules import Dependencies, Rule

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
    groups = ContactGroup.objects.filter(pk__in=[g.pk for g in _relevant_groups(condition_groups(), kinds)])
    ordered = groups_in_dependency_order(groups=groups)
    for group in ordered:
        group_rebuild_by_id(group_id=group.pk)
    if "deleted" in kinds:
        _refresh_all_member_counts()
    return len(ordered)


# ---------------------------------------------------------------------------------------------
# Parsed conditions, cached per process.


@dataclass(frozen=True)
class CompiledGroup:
    """A condition-based group as a re-check needs it: its parsed rule (None if invalid) and dependencies."""

    pk: int
    code: str
    rule: Rule | None
    deps: Dependencies


# group pk → (cache key, CompiledGroup). TRICKY: the key holds the group's condition_version and
# updated_at (every condition change goes through save()) and a fingerprint of the custom fields,
# because parsing reads their types: a field whose type changed compiles differently.
_compiled: dict[int, tuple[tuple[Any, ...], CompiledGroup]] = {}


def _catalog_fingerprint() -> int:
    return hash(tuple(ContactField.objects.order_by("pk").values_list("code", "type", "is_active")))


def condition_groups() -> list[CompiledGroup]:
    """Every condition-based group with a condition, parsed once per version and kept for the process."""
    from segments.rules import RuleError, dependencies, parse

    fingerprint = _catalog_fingerprint()
    rows = list(
        ContactGroup.objects.filter(is_condition_based=True)
        .exclude(condition=None)
        .order_by("pk")
        .values_list("pk", "code", "condition_version", "updated_at")
    )
    keys = {pk: (code, version, updated, fingerprint) for pk, code, version, updated in rows}
    stale = [pk for pk, key in keys.items() if pk not in _compiled or _compiled[pk][0] != key]
    for pk, condition in ContactGroup.objects.filter(pk__in=stale).values_list("pk", "condition"):
        try:
            rule: Rule | None = parse(condition)
        except RuleError as exc:  # a rebuild reports it on the group; a re-check leaves the group alone
            logger.warning("re-check skips group %s: %s", keys[pk][0], exc)
            rule = None
        _compiled[pk] = (keys[pk], CompiledGroup(pk=pk, code=keys[pk][0], rule=rule, deps=dependencies(condition)))
    for pk in set(_compiled) - set(keys):
        del _compiled[pk]
    return [_compiled[pk][1] for pk in keys]


def _relevant_groups(groups: list[CompiledGroup], kinds: set[str]) -> list[CompiledGroup]:
    """The groups whose rules read any of `kinds`, plus (transitively) the groups reading those."""
    chosen = {g.code for g in groups if g.deps.kinds & kinds}
    grew = True
    while grew:  # a group whose members change can change the groups that read its membership
        more = {g.code for g in groups if g.code not in chosen and g.deps.groups & chosen}
        chosen |= more
        grew = bool(more)
    return [g for g in groups if g.code in chosen]


def _levels(groups: list[CompiledGroup]) -> list[list[CompiledGroup]]:
    """`groups` in dependency levels: a group's level is past every level of the groups it reads."""
    by_code = {g.code: g for g in groups}
    level: dict[str, int] = {}

    def depth(group: CompiledGroup, seen: frozenset[str]) -> int:
        if group.code not in level:
            refs = [by_code[c] for c in group.deps.groups if c in by_code and c not in seen]
            level[group.code] = 1 + max((depth(r, seen | {group.code}) for r in refs), default=-1)
        return level[group.code]

    for group in groups:
        depth(group, frozenset())
    levels: list[list[CompiledGroup]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for group in groups:
        levels[level[group.code]].append(group)
    return levels


# (the groups' cache keys, the day) → the compiled query of a dependency level, or None if not reusable.
_queries: dict[tuple[Any, ...], VerdictQuery | None] = {}
_QUERIES_KEPT = 64


def _verdicts(groups: list[CompiledGroup], contact_ids: list[int], now: datetime | None) -> set[tuple[int, int]]:
    """The (group, contact) pairs that match, for every group and contact, in ONE query.

    Each group's rule is one boolean column of a query over the contacts, compiled once per set of
    groups and day (segments.rules.batch) and bound to `now` at each execution.
    """

    rules = [(f"g{g.pk}", g.rule) for g in groups if g.rule is not None]
    if not rules or not contact_ids:
        return set()
    clock = Clock.at(now)
    key = (tuple(_compiled[g.pk][0] if g.pk in _compiled else g.pk for g in groups), clock.today)
    if key not in _queries:
        if len(_queries) >= _QUERIES_KEPT:
            _queries.clear()
        _queries[key] = VerdictQuery.build(rules, today=clock.today)
    query = _queries[key]
    pks = [int(name[1:]) for name, _ in rules]
    if query is not None:
        rows = query.run(contact_ids, now=clock.now)
    else:  # compiled for this `now` only
        columns = {
            name: Case(When(rule_q(rule.root, clock, few=True), then=True), default=False, output_field=BooleanField())
            for name, rule in rules
        }
        rows = [
            (row[0], row[1:])
            for row in Contact.objects.filter(pk__in=contact_ids).annotate(**columns).values_list("pk", *columns)
        ]
    return {(gid, cid) for cid, verdicts in rows for gid, verdict in zip(pks, verdicts, strict=True) if verdict}


# ---------------------------------------------------------------------------------------------
# The re-check.


@transaction.atomic
def contacts_recheck(*, kinds_by_contact: dict[int, set[str]], now: datetime | None = None) -> None:
    """Bring the account and condition sources of these contacts up to date in every affected group.

    A bounded number of statements whatever the number of groups: the groups to lock in one, the
    memberships in one, then per dependency level one query evaluating every group's rule for every
    contact and at most four writes (plus one for member counts).
    """
    from segments.services import groups_lock

    _transaction_settings()
    live: dict[int, tuple[int | None, int | None]] = {}  # contact → (merged into, account)
    linked: dict[int, set[int]] = defaultdict(set)  # account → the groups it is linked to
    for pk, parent, account, group_id in Contact.objects.filter(pk__in=list(kinds_by_contact)).values_list(
        "pk", "merged_into_id", "account_id", "account__group_accounts__group_id"
    ):
        live[pk] = (parent, account)
        if group_id is not None:
            linked[account].add(group_id)
    merged = {cid: parent for cid, (parent, _) in live.items() if parent is not None}
    unmerged = sorted(cid for cid, (parent, _) in live.items() if parent is None)
    kinds = set().union(*(kinds_by_contact.get(cid, set()) for cid in unmerged)) if unmerged else set()
    relevant = _relevant_groups(condition_groups(), kinds) if unmerged else []
    if "account" not in kinds:
        linked.clear()
    # Lock every group this re-check may write before reading memberships: a running rebuild finishes first.
    writes_elsewhere = bool(merged) or "account" in kinds or any("deleted" in k for k in kinds_by_contact.values())
    locked = groups_lock(
        group_ids={g.pk for g in relevant}.union(*linked.values()),
        members_of=list(live) if writes_elsewhere else None,
    )
    if merged:
        _move_memberships_to_parents(merged)
    if any("deleted" in k for k in kinds_by_contact.values()) or merged:
        _refresh_all_member_counts()
    if not unmerged:
        return
    existing = {
        (m.group_id, m.contact_id): m
        for m in Membership.objects.filter(contact_id__in=unmerged, group_id__in=locked).only(
            "id", "group_id", "contact_id", "via_manual", "via_account", "via_condition"
        )
    }
    deltas: Counter[int] = Counter()
    if "account" in kinds:
        should = {(gid, cid) for cid in unmerged if (aid := live[cid][1]) for gid in linked[aid]}
        deltas.update(_write_source(source="via_account", should=should, existing=existing, groups=set(locked)))
    for level in _levels(relevant):  # a membership node reads what the levels before it just wrote
        verdicts = _verdicts(level, unmerged, now)
        evaluated = {g.pk for g in level if g.rule is not None}
        deltas.update(_write_source(source="via_condition", should=verdicts, existing=existing, groups=evaluated))
    _adjust_member_counts(deltas)


def _transaction_settings() -> None:
    """PostgreSQL settings for the rest of the re-check's transaction, in one statement.

    - Prepared statements (the verdict queries) run with their generic plan: planned once per connection.
    - The commit does not wait for the disk (synchronous_commit off). Safe: memberships are derived
      data, and a re-check lost in a crash is lost together with the deletion of its PendingRecheck
      rows (the drain's transaction), so it is done again. A crash cannot leave it half-written.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), "
                "set_config('synchronous_commit', 'off', true)"
            )


def _write_source(
    *, source: Source, should: set[tuple[int, int]], existing: dict[tuple[int, int], Membership], groups: set[int]
) -> Counter[int]:
    """Make `source` true exactly for the pairs in `should` among the rows of `groups`; ≤ 4 statements.

    `existing` holds every membership row of these groups for the contacts concerned; it is kept up to
    date (rows added, changed, removed). Returns the change of member count per group.
    """
    others = [s for s in SOURCES if s != source]
    new = [Membership(group_id=g, contact_id=c, **{source: True}) for g, c in should if (g, c) not in existing]
    mine = [m for key, m in existing.items() if key[0] in groups]
    gain = [m for m in mine if (m.group_id, m.contact_id) in should and not getattr(m, source)]
    lose = [m for m in mine if (m.group_id, m.contact_id) not in should and getattr(m, source)]
    keep = [m for m in lose if any(getattr(m, other) for other in others)]
    drop = [m for m in lose if not any(getattr(m, other) for other in others)]
    if new:  # the groups are locked and their rows read: no conflict is possible, and the pks come back
        Membership.objects.bulk_create(new)
    if gain:
        Membership.objects.filter(pk__in=[m.pk for m in gain]).update(**{source: True})
    if keep:
        Membership.objects.filter(pk__in=[m.pk for m in keep]).update(**{source: False})
    if drop:
        Membership.objects.filter(pk__in=[m.pk for m in drop]).delete()
    for m in new + gain:
        setattr(m, source, True)
        existing[(m.group_id, m.contact_id)] = m
    for m in keep:
        setattr(m, source, False)
    for m in drop:
        del existing[(m.group_id, m.contact_id)]
    deltas: Counter[int] = Counter(m.group_id for m in new)
    deltas.subtract(m.group_id for m in drop)
    return deltas


def _adjust_member_counts(deltas: Counter[int]) -> None:
    """Add each group's change to its member count (the groups are locked): one statement per distinct change."""
    by_change: dict[int, list[int]] = defaultdict(list)
    for group_id, change in deltas.items():
        if change:
            by_change[change].append(group_id)
    for change, group_ids in by_change.items():
        ContactGroup.objects.filter(pk__in=group_ids).update(member_count=F("member_count") + change)


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
