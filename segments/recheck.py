"""Re-checks: keep the account and condition sources true for contacts that just changed.

Invariant: a change to contacts (sent by `contacts.signals.contacts_changed`, on commit) leaves one
PendingRecheck row per (contact, kind of change); a worker task drains the rows in batches and
re-evaluates only the groups whose rules read that kind of data. A burst of changes to one contact
thus costs one re-check, and a bulk write costs one batched re-check, never one task per row.
Re-checks lock the groups they write (like rebuilds do), so a rebuild and a re-check never interleave.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import BooleanField, Case, Count, When
from django.utils import timezone

from contacts.models import Contact, ContactField
from segments.models import ContactGroup, GroupAccount, Membership, PendingRecheck, RuleCatalogVersion
from segments.rules.batch import VerdictQuery
from segments.rules.clock import Clock
from segments.rules.compiler import rule_q
from segments.rules.expressions import ids_in_sql
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
CATALOG_ROW = 1  # the pk of the one RuleCatalogVersion row
DRAIN_BATCH = 500
INSERT_BATCH = 1000  # memberships per INSERT (3 parameters each: within both databases' limits)
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
    every group's rule for every contact and at most four writes, and one per distinct member count change.
    """
    from segments.services import groups_lock

    live: dict[int, tuple[int | None, int | None]] = {}  # contact → (merged into, account)
    linked: dict[int, set[int]] = defaultdict(set)  # account → the groups it is linked to
    rows = _read_contacts(list(kinds_by_contact))
    catalog = rows[0][4] if rows else None  # the RuleCatalogVersion: has any group or custom field changed?
    for pk, parent, account, group_id, _ in rows:
        live[pk] = (parent, account)
        if account is not None and group_id is not None:
            linked[account].add(group_id)
    merged = {cid: parent for cid, (parent, _) in live.items() if parent is not None}
    unmerged = sorted(cid for cid, (parent, _) in live.items() if parent is None)
    kinds = set().union(*(kinds_by_contact.get(cid, set()) for cid in unmerged)) if unmerged else set()
    levels = _relevant_levels(condition_groups(version=catalog), kinds) if unmerged else []
    if "account" not in kinds:
        linked.clear()
    # Lock every group this re-check may write before reading memberships: a running rebuild finishes first.
    writes_elsewhere = bool(merged) or "account" in kinds or any("deleted" in k for k in kinds_by_contact.values())
    locked = groups_lock(
        group_ids={g.pk for level in levels for g in level}.union(*linked.values()),
        members_of=list(live) if writes_elsewhere else None,
    )
    if merged:
        _move_memberships_to_parents(merged)
    if any("deleted" in k for k in kinds_by_contact.values()) or merged:
        _refresh_all_member_counts()
    if not unmerged:
        return
    mine = set(locked)
    existing = {(m.group_id, m.contact_id): m for m in _read_memberships(unmerged) if m.group_id in mine}
    deltas: Counter[int] = Counter()
    if "account" in kinds:
        should = {(gid, cid) for cid in unmerged if (aid := live[cid][1]) for gid in linked[aid]}
        deltas.update(_write_source(source="via_account", should=should, existing=existing, groups=mine))
    for level in levels:  # a membership node reads what the levels before it just wrote
        verdicts = _verdicts(level, unmerged, now)
        evaluated = {g.pk for g in level if g.rule is not None}
        deltas.update(_write_source(source="via_condition", should=verdicts, existing=existing, groups=evaluated))
    _adjust_member_counts(deltas)


# ---------------------------------------------------------------------------------------------
# Its statements. TRICKY: hand-written. A re-check of one contact has a budget of 10 ms, and the ORM
# spends 0.2 to 1 ms building each of these fixed-shape statements (bulk_create ~1 ms for two dozen
# rows), more than the database spends running them. The rules themselves are compiled by the ORM.


@dataclass(slots=True)
class _Row:
    """A membership row as the re-check reads and writes it."""

    pk: int | None
    group_id: int
    contact_id: int
    via_manual: bool = False
    via_account: bool = False
    via_condition: bool = False


def _in(column: str, ids: Iterable[int]) -> tuple[str, list[Any]]:
    return ids_in_sql(column, ids, connection)


def _read_contacts(ids: list[int]) -> list[tuple[int, int | None, int | None, int | None, int | None]]:
    """(contact, merged into, account, a group linked to the account, RuleCatalogVersion) per row."""
    where, params = _in("c.id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, c.merged_into_id, c.account_id, ga.group_id, "
            f"(SELECT v.version FROM {RuleCatalogVersion._meta.db_table} v WHERE v.id = {CATALOG_ROW}) "
            f"FROM {Contact._meta.db_table} c LEFT JOIN {GroupAccount._meta.db_table} ga "
            f"ON ga.account_id = c.account_id WHERE {where}",
            params,
        )
        return cursor.fetchall()


def _read_memberships(contact_ids: list[int]) -> list[_Row]:
    where, params = _in("contact_id", contact_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, group_id, contact_id, {', '.join(SOURCES)} FROM {Membership._meta.db_table} WHERE {where}",
            params,
        )
        return [_Row(pk, group, contact, *map(bool, flags)) for pk, group, contact, *flags in cursor.fetchall()]


def _write_source(
    *, source: Source, should: set[tuple[int, int]], existing: dict[tuple[int, int], _Row], groups: set[int]
) -> Counter[int]:
    """Make `source` true exactly for the pairs in `should` among the rows of `groups`; ≤ 4 statements.

    `existing` holds every membership row of these groups for the contacts concerned; it is kept up to
    date (rows added, changed, removed). Returns the change of member count per group.
    """
    others = [s for s in SOURCES if s != source]
    new = [_Row(None, g, c, **{source: True}) for g, c in should if (g, c) not in existing]
    mine = [m for key, m in existing.items() if key[0] in groups]
    gain = [m for m in mine if (m.group_id, m.contact_id) in should and not getattr(m, source)]
    lose = [m for m in mine if (m.group_id, m.contact_id) not in should and getattr(m, source)]
    keep = [m for m in lose if any(getattr(m, other) for other in others)]
    drop = [m for m in lose if not any(getattr(m, other) for other in others)]
    table = Membership._meta.db_table
    with connection.cursor() as cursor:
        if new:  # the groups are locked and their rows read: no conflict is possible
            _insert(cursor, new, source=source)
        for rows, sql in (
            (gain, f"UPDATE {table} SET {source} = TRUE"),
            (keep, f"UPDATE {table} SET {source} = FALSE"),
            (drop, f"DELETE FROM {table}"),
        ):  # (nothing refers to a membership row)
            if rows:
                where, params = _in("id", [m.pk for m in rows if m.pk is not None])
                cursor.execute(f"{sql} WHERE {where}", params)
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


def _insert(cursor: Any, rows: list[_Row], *, source: Source) -> None:
    """INSERT these memberships (with `source` only), a thousand rows per statement, and set their pks."""
    table = Membership._meta.db_table
    flags = ", ".join("TRUE" if s == source else "FALSE" for s in SOURCES)
    added_at = connection.ops.adapt_datetimefield_value(timezone.now())
    pks: dict[tuple[int, int], int] = {}
    for start in range(0, len(rows), INSERT_BATCH):
        batch = rows[start : start + INSERT_BATCH]
        values = ", ".join([f"(%s, %s, {flags}, %s)"] * len(batch))
        cursor.execute(
            f"INSERT INTO {table} (group_id, contact_id, {', '.join(SOURCES)}, added_at) VALUES {values} "
            "RETURNING id, group_id, contact_id",
            [x for m in batch for x in (m.group_id, m.contact_id, added_at)],
        )
        pks.update(((g, c), pk) for pk, g, c in cursor.fetchall())
    for m in rows:
        m.pk = pks[(m.group_id, m.contact_id)]


def _adjust_member_counts(deltas: Counter[int]) -> None:
    """Add each group's change to its member count (the groups are locked): one statement per distinct change."""
    by_change: dict[int, list[int]] = defaultdict(list)
    for group_id, change in deltas.items():
        if change:
            by_change[change].append(group_id)
    table = ContactGroup._meta.db_table
    with connection.cursor() as cursor:
        for change, group_ids in by_change.items():
            where, params = _in("id", group_ids)
            cursor.execute(f"UPDATE {table} SET member_count = member_count + %s WHERE {where}", [change, *params])


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
