"""Re-checks: keep the account and condition sources true for contacts that just changed.

Invariant: a change to contacts and the note that it needs a re-check commit together. The
`contacts_changed` signal is sent inside the changing transaction, and its receiver here writes one
PendingRecheck row per (contact, kind of change) — a row of its own for every change (see the model) —
or, for a change to more than BULK_REBUILD_THRESHOLD contacts, one PendingGroupRefresh row — in that
same transaction; only the worker's wake-up waits for the commit (a lost wake-up is covered by the
5-minute schedule), and is queued only when no drain is already waiting to start (RecheckWake: a burst
of thousands of changes a second — opens of a sent campaign — queues one drain, not one per change). A
worker drains the rows in batches (grouped by contact) and re-evaluates only the groups whose rules
read that kind of data, writing through `segments.memberships` under the groups' locks. A burst of
changes to one contact thus costs one re-check, and a bulk write one batched refresh, never one task
per row.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import BooleanField, Case, When
from django.utils import timezone

from contacts.models import Contact, ContactField
from segments.graph import dependency_levels, with_readers
from segments.memberships import (
    RowWriter,
    Why,
    groups_lock,
    member_counts_refresh,
    memberships_move_to_parents,
    rows_read,
)
from segments.models import (
    Cause,
    ContactGroup,
    GroupAccount,
    PendingGroupRefresh,
    PendingRecheck,
    RuleCatalogVersion,
    Source,
)
from segments.recheck_wake import _wake_clear, _wake_worker
from segments.rules.batch import VerdictQuery
from segments.rules.clock import Clock
from segments.rules.compiler import rule_q
from segments.rules.expressions import ids_in_sql

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
CATALOG_ROW = 1  # the pk of the one RuleCatalogVersion row
DRAIN_BATCH = 500
FEW_NOTES = 60  # up to this many notes are written by one hand-written INSERT (no model instances)
# Past this many contacts in one change, rebuilding the affected groups (set-based, in the database)
# is cheaper than re-checking contact by contact.
BULK_REBUILD_THRESHOLD = 5_000


def rechecks_enqueue(*, contact_ids: Iterable[int], reason: str, bulk: bool = False) -> int:
    """Note, in the current transaction, that these contacts changed; wake the worker on commit.

    `bulk` (a part of a change to very many contacts, like an import's slice) notes a group refresh whatever
    the part's size.

    Returns how many PendingRecheck rows were noted (0 for a bulk change, noted as one group refresh).
    """
    kinds = KINDS_BY_REASON.get(reason, ALL_KINDS)
    ids = set(contact_ids)
    if not ids:
        return 0
    if bulk or len(ids) > BULK_REBUILD_THRESHOLD:
        PendingGroupRefresh.objects.create(kinds=sorted(kinds))
        noted = 0
    elif len(ids) * len(kinds) <= FEW_NOTES:  # one contact's change (an open, an edit): hand-written, cheap
        notes = [(cid, kind) for cid in sorted(ids) for kind in sorted(kinds)]
        at = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(PendingRecheck._meta.db_table)} (contact_id, kind, queued_at) "
                f"VALUES {', '.join(['(%s, %s, %s)'] * len(notes))}",
                [v for cid, kind in notes for v in (cid, kind, at)],
            )
        noted = len(notes)
    else:
        rows = [PendingRecheck(contact_id=cid, kind=kind) for cid in ids for kind in kinds]
        PendingRecheck.objects.bulk_create(rows, batch_size=2000)
        noted = len(rows)
    transaction.on_commit(_wake_worker)
    return noted


def rechecks_drain(*, batch: int = DRAIN_BATCH, now: datetime | None = None) -> int:
    """Refresh groups after bulk changes, then re-check every pending contact, a batch at a time.

    Returns how many contacts were re-checked.
    """
    _wake_clear()
    groups_refresh_pending()
    done = 0
    while True:
        with transaction.atomic():
            claimed = PendingRecheck.objects.order_by("queued_at", "id")
            if connection.features.has_select_for_update_skip_locked:
                claimed = claimed.select_for_update(skip_locked=True)
            rows = list(claimed.values_list("id", "contact_id", "kind")[:batch])
            if not rows:
                return done
            # The batch's contacts' other notes too (a burst of changes to one contact: one re-check, not one
            # per batch): each was committed before this statement, so the re-check below, reading after it,
            # sees its change. A note committed later is not claimed, and waits for the next batch.
            others = PendingRecheck.objects.filter(contact_id__in={row[1] for row in rows}).exclude(
                id__in=[row[0] for row in rows]
            )
            if connection.features.has_select_for_update_skip_locked:
                others = others.select_for_update(skip_locked=True)
            rows += others.values_list("id", "contact_id", "kind")
            kinds_by_contact: dict[int, set[str]] = defaultdict(set)
            for _, contact_id, kind in rows:
                kinds_by_contact[contact_id].add(kind)
            contacts_recheck(kinds_by_contact=kinds_by_contact, now=now)
            PendingRecheck.objects.filter(id__in=[row[0] for row in rows]).delete()
            done += len(kinds_by_contact)


def groups_refresh_pending() -> int:
    """Run every noted group refresh (bulk changes), oldest first; returns how many were run.

    A note is deleted only after its rebuilds (each its own transaction) have committed: a worker
    that dies meanwhile leaves it for the next drain. Two workers may run the same note at once,
    which costs time, never correctness (rebuilds take the groups' locks).
    """
    done = 0
    while (row := PendingGroupRefresh.objects.order_by("queued_at", "id").first()) is not None:
        # Notes of the same kinds committed before the refresh starts are covered by it (an import notes one
        # per slice): the rebuilds read the data as it is now. Notes committed later wait for the next one.
        covered = [pk for pk, kinds in PendingGroupRefresh.objects.values_list("pk", "kinds") if kinds == row.kinds]
        groups_refresh_after_bulk_change(kinds=set(row.kinds))
        PendingGroupRefresh.objects.filter(pk__in=covered).delete()
        done += 1
    return done


def groups_refresh_after_bulk_change(*, kinds: set[str]) -> int:
    """After a change to very many contacts: sync every account source and rebuild the affected groups."""
    from segments.rebuilds import group_rebuild_by_id, groups_in_dependency_order
    from segments.services import account_sources_sync

    if kinds & {"account", "deleted"} or kinds == ALL_KINDS:
        account_sources_sync(why=Why(Cause.RECHECK))
    groups = ContactGroup.objects.filter(pk__in=[g.pk for g in _relevant_groups(condition_groups(), kinds)])
    ordered = groups_in_dependency_order(groups=groups)
    for group in ordered:
        group_rebuild_by_id(group_id=group.pk)
    if "deleted" in kinds:
        member_counts_refresh()
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
    key: tuple[Any, ...]  # what it was parsed from: (pk, code, condition_version, custom fields fingerprint)


# group pk → CompiledGroup. TRICKY: the key holds the group's condition_version (every condition
# change goes through segments.services, which bumps it) and a fingerprint of the custom fields,
# because parsing reads their types: a field whose type changed compiles differently.
_compiled: dict[int, CompiledGroup] = {}
# The RuleCatalogVersion the last list of groups was read under, and that list.
_catalog: tuple[int, list[CompiledGroup]] | None = None


def _catalog_fingerprint() -> int:
    return hash(tuple(ContactField.objects.order_by("pk").values_list("code", "type", "is_active")))


def condition_groups(*, version: int | None = None) -> list[CompiledGroup]:
    """Every condition-based group with a condition, each parsed once per version and kept for the process.

    `version`: the RuleCatalogVersion the caller just read. While it is the one the last list was
    read under, that list is served without a query: nothing it was read from has changed since.
    """
    from segments.rules import RuleError, dependencies, parse

    global _catalog
    if version is not None and _catalog is not None and _catalog[0] == version:
        return _catalog[1]
    fingerprint = _catalog_fingerprint()
    rows = list(
        ContactGroup.objects.filter(is_condition_based=True)
        .exclude(condition=None)
        .order_by("pk")
        .values_list("pk", "code", "condition_version")
    )
    keys = {pk: (pk, code, condition_version, fingerprint) for pk, code, condition_version in rows}
    stale = [pk for pk, key in keys.items() if pk not in _compiled or _compiled[pk].key != key]
    for pk, condition in ContactGroup.objects.filter(pk__in=stale).values_list("pk", "condition") if stale else []:
        code = keys[pk][1]
        try:
            rule: Rule | None = parse(condition)
        except RuleError as exc:  # a rebuild reports it on the group; a re-check leaves the group alone
            logger.warning("re-check skips group %s: %s", code, exc)
            rule = None
        _compiled[pk] = CompiledGroup(pk=pk, code=code, rule=rule, deps=dependencies(condition), key=keys[pk])
    for pk in set(_compiled) - set(keys):
        del _compiled[pk]
    groups = [_compiled[pk] for pk in keys]
    if version is not None:
        _catalog = (version, groups)
    return groups


def rule_catalog_version() -> int | None:
    """The current RuleCatalogVersion (None while its row is missing: a flushed test database)."""
    return RuleCatalogVersion.objects.filter(pk=CATALOG_ROW).values_list("version", flat=True).first()


def rule_catalog_changed(**_: object) -> None:
    """post_save / post_delete receiver (groups, custom fields): a new RuleCatalogVersion, never used before.

    Runs in the transaction of the change, so the new number and the change commit (or roll back) together.
    """
    version = secrets.randbits(62)
    if not RuleCatalogVersion.objects.filter(pk=CATALOG_ROW).update(version=version):
        # The row is gone (a test database flush): create it, then write the number under its lock.
        RuleCatalogVersion.objects.bulk_create([RuleCatalogVersion(pk=CATALOG_ROW)], ignore_conflicts=True)
        RuleCatalogVersion.objects.filter(pk=CATALOG_ROW).update(version=version)


# (the groups' cache keys, the kinds of change) → the relevant groups in dependency levels.
_plans: dict[tuple[Any, ...], list[list[CompiledGroup]]] = {}
_PLANS_KEPT = 64


def _relevant_levels(groups: list[CompiledGroup], kinds: set[str]) -> list[list[CompiledGroup]]:
    """`_levels(_relevant_groups(groups, kinds))`, worked out once per set of group versions and kinds."""
    key = (tuple(g.key for g in groups), frozenset(kinds))
    if key not in _plans:
        if len(_plans) >= _PLANS_KEPT:
            _plans.clear()
        _plans[key] = _levels(_relevant_groups(groups, kinds))
    return _plans[key]


def _relevant_groups(groups: list[CompiledGroup], kinds: set[str]) -> list[CompiledGroup]:
    """The groups whose rules read any of `kinds`, plus (transitively) the groups reading those."""
    chosen = with_readers({g.code: g.deps.groups for g in groups}, (g.code for g in groups if g.deps.kinds & kinds))
    return [g for g in groups if g.code in chosen]


def _levels(groups: list[CompiledGroup]) -> list[list[CompiledGroup]]:
    """`groups` in dependency levels: a group's level is past every level of the groups it reads."""
    by_code = {g.code: g for g in groups}
    return [[by_code[code] for code in level] for level in dependency_levels({g.code: g.deps.groups for g in groups})]


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
    key = (tuple(g.key for g in groups), clock.today)
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

    A bounded number of statements whatever the number of groups: the contacts (and the rule
    catalog's version) in one, the custom fields and the groups in two only when that version has
    changed, the locks in one, the memberships in one, then per dependency level one query evaluating
    every group's rule for every contact and at most four writes, then the history in one and one per
    distinct member count change.
    """
    live: dict[int, tuple[int | None, int | None]] = {}  # contact → (merged into, account)
    linked: dict[int, set[int]] = defaultdict(set)  # account → the groups it is linked to
    rows = _read_contacts(list(kinds_by_contact))
    catalog = rows[0][4] if rows else None  # the RuleCatalogVersion: has any group or custom field changed?
    for pk, parent, account, group_id, _ in rows:
        live[pk] = (parent, account)
        if account is not None and group_id is not None:
            linked[account].add(group_id)
    merged = sorted(cid for cid, (parent, _) in live.items() if parent is not None)
    unmerged = sorted(cid for cid, (parent, _) in live.items() if parent is None)
    kinds = set().union(*(kinds_by_contact.get(cid, set()) for cid in unmerged)) if unmerged else set()
    levels = _relevant_levels(condition_groups(version=catalog), kinds) if unmerged else []
    if "account" not in kinds:
        linked.clear()
    deleted = any("deleted" in k for k in kinds_by_contact.values())
    # Lock every group this re-check may write before reading memberships: a running rebuild finishes first.
    writes_elsewhere = bool(merged) or "account" in kinds or deleted
    locked = groups_lock(
        group_ids={g.pk for level in levels for g in level}.union(*linked.values()),
        members_of=list(live) if writes_elsewhere else None,
    )
    if merged:
        memberships_move_to_parents(child_ids=merged, why=Why(Cause.MERGE))
    if deleted or merged:
        member_counts_refresh()
    if not unmerged:
        return
    mine = set(locked)
    writer = RowWriter(
        existing=[m for m in rows_read(contact_ids=unmerged) if m.group_id in mine], why=Why(Cause.RECHECK)
    )
    if "account" in kinds:
        should = {(gid, cid) for cid in unmerged if (aid := live[cid][1]) for gid in linked[aid]}
        writer.write(source=Source.ACCOUNT, should=should, groups=mine)
    for level in levels:  # a membership node reads what the levels before it just wrote
        verdicts = _verdicts(level, unmerged, now)
        evaluated = {g.pk for g in level if g.rule is not None}
        writer.write(source=Source.CONDITION, should=verdicts, groups=evaluated)
    writer.flush()


def _read_contacts(ids: list[int]) -> list[tuple[int, int | None, int | None, int | None, int | None]]:
    """(contact, merged into, account, a group linked to the account, RuleCatalogVersion) per row.

    TRICKY: hand-written, like the writes of segments.memberships.RowWriter (the 10 ms budget).
    """
    where, params = ids_in_sql("c.id", ids, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, c.merged_into_id, c.account_id, ga.group_id, "
            f"(SELECT v.version FROM {RuleCatalogVersion._meta.db_table} v WHERE v.id = {CATALOG_ROW}) "
            f"FROM {Contact._meta.db_table} c LEFT JOIN {GroupAccount._meta.db_table} ga "
            f"ON ga.account_id = c.account_id WHERE {where}",
            params,
        )
        return cursor.fetchall()


def contact_changed_receiver(
    sender: object, contact_ids: list[int], reason: str, bulk: bool = False, **_: object
) -> None:
    """contacts_changed receiver (inside the changing transaction): notes the change, never writes memberships."""
    rechecks_enqueue(contact_ids=contact_ids, reason=reason, bulk=bulk)
