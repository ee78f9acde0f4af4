"""Writes to contact groups and their memberships, all set-based.

Invariant: a Membership row exists iff at least one of via_manual / via_account / via_condition is
true, and only unmerged contacts gain a source. Every write here changes one source at a time with at
most one UPDATE, one INSERT … SELECT and one DELETE, whatever the number of contacts: no contact ids
are loaded into Python.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.lookups import IsNull
from django.utils import timezone

from contacts.models import Account, Contact
from segments.models import ContactGroup, GroupAccount, Membership, RebuildStatus
from segments.rules.expressions import AnyOf

Source = Literal["via_manual", "via_account", "via_condition"]
SOURCES: tuple[Source, ...] = ("via_manual", "via_account", "via_condition")


@dataclass(frozen=True)
class SourceChange:
    """How many contacts became members (`added`) and how many stopped being members (`removed`).

    `marked`: members already (by another source) that got the source too, e.g. added by hand while in
    through the condition: they stay members when the condition stops matching.
    """

    added: int = 0
    removed: int = 0
    marked: int = 0


@dataclass(frozen=True)
class RebuildResult:
    group_id: int
    added: int
    removed: int
    duration_ms: int
    member_count: int


def _contact_ids_sql(contacts: QuerySet[Contact]) -> tuple[str, tuple]:
    """The SQL selecting the ids of `contacts` (unmerged only), with its parameters."""
    ids = contacts.filter(merged_into__isnull=True).order_by().values("pk")
    sql, params = ids.query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


def _source_add(*, group: ContactGroup, source: Source, contacts: QuerySet[Contact], few_existing: bool = False) -> int:
    """Give every unmerged contact in `contacts` the source in `group`; returns how many became members.

    `few_existing`: few of the group's members lack the source (a re-build: only those in by hand or
    by account), so those are probed one by one rather than joined with all of `contacts`.
    """
    try:
        sql, params = _contact_ids_sql(contacts)
    except EmptyResultSet:  # Django proved the set empty (e.g. `pk__in=[]`): nothing to add
        return 0
    unmerged = contacts.filter(merged_into__isnull=True)
    lacking = Membership.objects.filter(group=group, **{source: False})
    if few_existing:
        lacking = lacking.filter(_contact_probe(unmerged))
    else:
        lacking = lacking.filter(contact__in=unmerged.order_by().values("pk"))
    lacking.update(**{source: True})
    flags = {s: s == source for s in SOURCES}
    table = Membership._meta.db_table
    # TRICKY: Django has no INSERT … SELECT; the SELECT is the ORM's own SQL for `contacts`, so the
    # rule engine's query runs inside the database and no id travels through Python.
    # TRICKY: which rows are new. A group with members: an anti-join with them (a re-build of a 300k
    # group otherwise attempts 300k conflicting inserts). An empty group: no anti-join — on an empty,
    # freshly vacuumed membership table PostgreSQL plans `NOT EXISTS (same table)` as a nested loop
    # over the growing table (quadratic first builds); ON CONFLICT alone skips the rare existing row.
    # "WHERE …" also resolves SQLite's INSERT … SELECT … ON CONFLICT parsing ambiguity.
    if Membership.objects.filter(group=group).exists():
        new_only = f"WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE m.group_id = %s AND m.contact_id = src.pk)"
        new_params: tuple = (group.pk,)
    else:
        new_only, new_params = "WHERE true", ()
    insert = (
        f"INSERT INTO {table} (group_id, contact_id, via_manual, via_account, via_condition, added_at) "
        f"SELECT %s, src.pk, %s, %s, %s, %s FROM ({sql}) src {new_only} "
        "ON CONFLICT (group_id, contact_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            insert,
            (group.pk, flags["via_manual"], flags["via_account"], flags["via_condition"], timezone.now())
            + params
            + new_params,
        )
        return max(cursor.rowcount, 0)


def _contact_in(contacts: QuerySet[Contact]) -> Q:
    """Q over Membership: its contact is in `contacts`, as a correlated EXISTS.

    TRICKY: not `contact__in=…` under a negation: PostgreSQL runs `NOT IN (subquery)` as a hashed
    subplan only while the ids fit in work_mem; past that (a 300k-member group) it rescans the subquery
    for every row and a rebuild never finishes. NOT EXISTS is planned as an anti-join.
    """
    return Q(Exists(contacts.order_by().filter(pk=OuterRef("contact_id"))))


def _contact_probe(contacts: QuerySet[Contact]) -> IsNull:
    """A filter on Membership: its contact is in `contacts`, checked row by row.

    TRICKY: for statements over the few memberships that other conditions keep (the members that also
    have another source). EXISTS / IN become a join that evaluates all of `contacts` first (a full rule
    set: 300k contacts for the CZ group); a scalar sub-select never becomes a join, so PostgreSQL runs it
    only for the rows that pass the cheap conditions, each an index probe.
    """
    return IsNull(Subquery(contacts.order_by().filter(pk=OuterRef("contact_id")).values("pk")[:1]), False)


def _source_remove(
    *,
    group: ContactGroup,
    source: Source,
    memberships: QuerySet[Membership],
    still: QuerySet[Contact] | None = None,
) -> int:
    """Take `source` away from `memberships` of `group`, except for contacts in `still` (when given).

    Returns how many stopped being members.
    """
    scope = memberships.filter(group=group, **{source: True})
    others = [s for s in SOURCES if s != source]
    only_this = Q(**{others[0]: False}) & Q(**{others[1]: False})
    gone, kept = scope.filter(only_this), scope.exclude(only_this)
    if still is not None:
        gone = gone.filter(~_contact_in(still))  # most of the rows: one anti-join
        kept = kept.exclude(_contact_probe(still))  # few rows: probed one by one
    removed, _ = gone.delete()
    kept.update(**{source: False})
    return removed


# The namespace of the groups' advisory locks (PostgreSQL): the first key of pg_advisory_xact_lock.
GROUP_LOCK_NAMESPACE = 0x5E6_0001


class _GroupLock(Func):
    """Takes the group's advisory lock (PostgreSQL), held until the transaction ends; always FALSE.

    An advisory lock writes nothing: a row lock on 100 groups costs as much as the re-check's reading.
    Ids past 2**31 share a lock with a smaller one: a needless wait, never a missed one.
    """

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **kwargs: Any) -> Any:
        return "FALSE", ()  # SQLite: a write transaction locks the whole database

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        return f"pg_advisory_xact_lock(%s, mod({column}, 2147483647)::integer) IS NULL", (
            GROUP_LOCK_NAMESPACE,
            *params,
        )


def groups_lock(*, group_ids: Iterable[int], members_of: list[int] | None = None) -> list[int]:
    """Lock these groups, in id order (deadlock-free), until the transaction ends; returns those that exist.

    `members_of`: also lock every group these contacts are members of (in the same statement).
    Every write to a group's memberships, and its deletion, holds its group's lock first, so rebuilds,
    re-checks and by-hand changes of one group never interleave.
    TRICKY: the ids come from the snapshot taken before waiting. A group deleted meanwhile is still
    returned; writing its memberships then fails (foreign key) and the transaction is rolled back.
    """
    scope = Q(AnyOf("pk", sorted(set(group_ids))))
    if members_of:
        scope |= Q(pk__in=Membership.objects.filter(contact_id__in=members_of).values("group_id"))
    # The lock is in the SELECT list: PostgreSQL evaluates it after the ORDER BY, so in id order.
    rows = ContactGroup.objects.filter(scope).order_by("pk").values_list("pk", _GroupLock("pk"))
    return [pk for pk, _ in rows]


def _refresh_member_count(group: ContactGroup) -> int:
    count = Membership.objects.filter(group=group).count()
    ContactGroup.objects.filter(pk=group.pk).update(member_count=count)
    group.member_count = count
    return count


@transaction.atomic
def group_add_contacts(*, group: ContactGroup, contacts: QuerySet[Contact]) -> SourceChange:
    """Add `contacts` to `group` by hand (the manual source); merged contacts are skipped."""
    groups_lock(group_ids=[group.pk])
    marked = Membership.objects.filter(
        group=group, via_manual=False, contact__in=contacts.filter(merged_into__isnull=True).order_by().values("pk")
    ).count()
    added = _source_add(group=group, source="via_manual", contacts=contacts)
    _refresh_member_count(group)
    return SourceChange(added=added, marked=marked)


@transaction.atomic
def group_remove_contacts(*, group: ContactGroup, contacts: QuerySet[Contact] | None = None) -> SourceChange:
    """Take the manual source away from `contacts` (all members when None); other sources stay."""
    groups_lock(group_ids=[group.pk])
    memberships = Membership.objects.filter(group=group)
    if contacts is not None:
        memberships = memberships.filter(contact__in=contacts.order_by().values("pk"))
    removed = _source_remove(group=group, source="via_manual", memberships=memberships)
    _refresh_member_count(group)
    return SourceChange(removed=removed)


def _account_source_sync(*, group: ContactGroup, contacts: QuerySet[Contact] | None = None) -> SourceChange:
    """Make the account source of `group` (for `contacts`, or all) match the group's accounts."""
    linked = GroupAccount.objects.filter(group=group, account=OuterRef("account"))
    should = Contact.objects.filter(Exists(linked))
    memberships = Membership.objects.filter(group=group)
    if contacts is not None:
        ids = contacts.order_by().values("pk")
        should = should.filter(pk__in=ids)
        memberships = memberships.filter(contact__in=ids)
    stale = memberships.filter(~_contact_in(should.filter(merged_into__isnull=True)))
    removed = _source_remove(group=group, source="via_account", memberships=stale)
    added = _source_add(group=group, source="via_account", contacts=should)
    return SourceChange(added=added, removed=removed)


def account_sources_sync() -> None:
    """Make the account source of every group that has accounts match them (set-based, group by group)."""
    for group_id in GroupAccount.objects.values_list("group_id", flat=True).distinct().order_by("group_id"):
        with transaction.atomic():
            groups_lock(group_ids=[group_id])
            group = ContactGroup.objects.get(pk=group_id)
            _account_source_sync(group=group)
            _refresh_member_count(group)


@transaction.atomic
def group_add_accounts(*, group: ContactGroup, accounts: QuerySet[Account]) -> SourceChange:
    """Link accounts to `group`: all their contacts become members from account, now and later."""
    groups_lock(group_ids=[group.pk])
    existing = set(GroupAccount.objects.filter(group=group).values_list("account_id", flat=True))
    GroupAccount.objects.bulk_create(
        [GroupAccount(group=group, account=a) for a in accounts.exclude(pk__in=existing)],
        ignore_conflicts=True,
    )
    added = _source_add(
        group=group, source="via_account", contacts=Contact.objects.filter(account__in=accounts.values("pk"))
    )
    _refresh_member_count(group)
    return SourceChange(added=added)


@transaction.atomic
def group_remove_accounts(*, group: ContactGroup, accounts: QuerySet[Account]) -> SourceChange:
    """Unlink accounts from `group`; their contacts lose the account source (other sources stay)."""
    groups_lock(group_ids=[group.pk])
    GroupAccount.objects.filter(group=group, account__in=accounts.values("pk")).delete()
    change = _account_source_sync(group=group)
    _refresh_member_count(group)
    return change


def _rule_contacts(group: ContactGroup, now: datetime | None) -> QuerySet[Contact]:
    from segments.rules import matching_contacts, validate

    if not group.is_condition_based or not group.condition:
        # TRICKY: not .none(): its SQL cannot be compiled into the INSERT … SELECT (EmptyResultSet).
        return Contact.objects.filter(pk__isnull=True)
    return matching_contacts(validate(group.condition, group=group), now=now)


@transaction.atomic
def group_rebuild(*, group: ContactGroup, now: datetime | None = None) -> RebuildResult:
    """Recompute the condition source of `group` in the database, writing only the difference."""
    started = time.monotonic()
    groups_lock(group_ids=[group.pk])  # two rebuilds (or a rebuild and a re-check) never interleave
    locked = ContactGroup.objects.get(pk=group.pk)
    locked.last_rebuild_started_at = timezone.now()
    matching = _rule_contacts(locked, now)
    members = Membership.objects.filter(group=locked)
    removed = _source_remove(group=locked, source="via_condition", memberships=members, still=matching)
    added = _source_add(group=locked, source="via_condition", contacts=matching, few_existing=True)
    count = _refresh_member_count(locked)
    duration_ms = int((time.monotonic() - started) * 1000)
    ContactGroup.objects.filter(pk=locked.pk).update(
        rebuild_status=RebuildStatus.SUCCEEDED,
        rebuild_error="",
        last_rebuild_started_at=locked.last_rebuild_started_at,
        last_rebuild_finished_at=timezone.now(),
        last_rebuild_duration_ms=duration_ms,
        last_rebuild_added=added,
        last_rebuild_removed=removed,
    )
    group.refresh_from_db()
    return RebuildResult(group_id=group.pk, added=added, removed=removed, duration_ms=duration_ms, member_count=count)


def group_drifts(*, group: ContactGroup) -> bool:
    """True when the condition depends on the passing of time but no nightly rebuild keeps it true."""
    from segments.rules import uses_relative_dates

    return bool(
        group.is_condition_based
        and group.condition
        and not group.scheduled_rebuild
        and uses_relative_dates(group.condition)
    )


def _rebuild_failed(*, group_id: int, error: str) -> None:
    ContactGroup.objects.filter(pk=group_id).update(
        rebuild_status=RebuildStatus.FAILED, rebuild_error=error, last_rebuild_finished_at=timezone.now()
    )


def group_rebuild_by_id(*, group_id: int, now: datetime | None = None) -> dict:
    """Rebuild one group; a failure keeps the old members and is recorded on the group."""
    from segments.rules import RuleError

    group = ContactGroup.objects.get(pk=group_id)
    ContactGroup.objects.filter(pk=group_id).update(rebuild_status=RebuildStatus.RUNNING)
    try:
        result = group_rebuild(group=group, now=now)
    except RuleError as exc:  # the transaction rolled back: old members stay
        _rebuild_failed(group_id=group_id, error=f"The condition is invalid: {exc}")
        return {"group_id": group_id, "ok": False, "error": str(exc)}
    except Exception as exc:
        _rebuild_failed(group_id=group_id, error=f"The rebuild failed: {exc}")
        raise
    return {"group_id": group_id, "ok": True, "added": result.added, "removed": result.removed}


def groups_in_dependency_order(*, groups: QuerySet[ContactGroup]) -> list[ContactGroup]:
    """`groups` ordered so that every group comes after the groups its condition refers to."""
    from segments.rules import referenced_groups

    by_code = {g.code: g for g in groups}
    ordered: list[ContactGroup] = []
    state: dict[str, str] = {}

    def visit(group: ContactGroup) -> None:
        if state.get(group.code) in ("done", "visiting"):  # "visiting": a cycle, which validation forbids
            return
        state[group.code] = "visiting"
        if group.is_condition_based and group.condition:
            for code in sorted(referenced_groups(group.condition)):
                if code in by_code:
                    visit(by_code[code])
        state[group.code] = "done"
        ordered.append(group)

    for group in sorted(by_code.values(), key=lambda g: g.code):
        visit(group)
    return ordered


def groups_rebuild_scheduled() -> list[dict]:
    """Rebuild every condition-based group with scheduled rebuild on, dependencies first."""
    groups = ContactGroup.objects.filter(is_condition_based=True, scheduled_rebuild=True)
    return [group_rebuild_by_id(group_id=g.pk) for g in groups_in_dependency_order(groups=groups)]


def group_rebuild_queue(*, group: ContactGroup) -> None:
    """Mark `group` queued and run its rebuild in the worker once the current transaction commits."""
    from django_q.tasks import async_task

    ContactGroup.objects.filter(pk=group.pk).update(rebuild_status=RebuildStatus.QUEUED, rebuild_error="")
    transaction.on_commit(lambda: async_task("segments.tasks.rebuild_group", group.pk))


class GroupInUse(Exception):
    """Raised when deleting a group that another group's condition (or a campaign) uses."""


def group_users(*, group: ContactGroup) -> list[str]:
    """Names of what uses `group`: groups whose condition refers to it (campaigns add theirs later)."""
    from segments.rules import referenced_groups

    users = [
        f"the condition of group “{other.name}”"
        for other in ContactGroup.objects.filter(is_condition_based=True).exclude(pk=group.pk)
        if other.condition and group.code in referenced_groups(other.condition)
    ]
    for relation in group._meta.related_objects:  # campaigns protect the groups they target
        accessor = relation.get_accessor_name()
        if getattr(relation.on_delete, "__name__", "") == "PROTECT" and accessor:
            manager = getattr(group, accessor)
            users += [f"{relation.related_model._meta.verbose_name} “{obj}”" for obj in manager.all()[:10]]
    return users


def groups_using_field(code: str) -> list[tuple[str, str]]:
    """The groups whose condition reads the custom field `code`, as (name, URL) pairs (field settings ask)."""
    from segments.rules import dependencies

    return [
        (f"the condition of group “{group.name}”", group.get_absolute_url())
        for group in ContactGroup.objects.filter(is_condition_based=True).exclude(condition=None).order_by("name")
        if code in dependencies(group.condition).custom_fields
    ]


@transaction.atomic
def group_create(
    *,
    code: str,
    name: str,
    description: str = "",
    is_condition_based: bool = False,
    condition: dict | None = None,
    scheduled_rebuild: bool = False,
    queue_rebuild: bool = True,
) -> ContactGroup:
    """Create a group; a condition-based one is queued for its first rebuild (unless told not to)."""
    from segments.rules import validate

    group = ContactGroup(
        code=code,
        name=name,
        description=description,
        is_condition_based=is_condition_based,
        scheduled_rebuild=scheduled_rebuild,
        condition=condition,
    )
    if is_condition_based and condition is not None:
        group.condition = validate(condition, group=code)
        group.condition_version = 1
    group.full_clean()
    group.save()
    if group.is_condition_based and queue_rebuild:
        group_rebuild_queue(group=group)
    return group


@transaction.atomic
def group_update(
    *,
    group: ContactGroup,
    name: str,
    description: str,
    is_condition_based: bool,
    condition: dict | None,
    scheduled_rebuild: bool,
) -> ContactGroup:
    """Update a group; a changed condition bumps its version and queues a rebuild."""
    from segments.rules import validate

    if is_condition_based and condition is not None:
        condition = validate(condition, group=group)
    changed = (is_condition_based, condition) != (group.is_condition_based, group.condition)
    group.name, group.description = name, description
    group.is_condition_based, group.condition, group.scheduled_rebuild = (
        is_condition_based,
        condition,
        scheduled_rebuild,
    )
    if changed:
        group.condition_version += 1
    group.full_clean()
    # Only what the form edits: member_count and the rebuild fields belong to rebuilds and re-checks,
    # which may have written them since this instance was read.
    group.save(
        update_fields=[
            "name",
            "description",
            "is_condition_based",
            "condition",
            "scheduled_rebuild",
            "condition_version",
            "updated_at",
        ]
    )
    if changed:
        group_rebuild_queue(group=group)  # also clears the condition source when it was switched off
    return group


@transaction.atomic
def group_delete(*, group: ContactGroup) -> None:
    """Delete a group unless something uses it (GroupInUse names what does)."""
    users = group_users(group=group)
    if users:
        raise GroupInUse(f"“{group.name}” is used by {', '.join(users)}; change those first.")
    groups_lock(group_ids=[group.pk])  # a running rebuild or re-check of it finishes first
    group.delete()


def group_explain(*, group: ContactGroup, contact: Contact) -> Any:
    """The condition's verdict for one contact, node by node (None for a group without a valid condition)."""
    from segments.rules import RuleError, explain

    if not group.is_condition_based or not group.condition:
        return None
    try:
        return explain(group.condition, contact)
    except RuleError:
        return None


@transaction.atomic
def group_copy(*, group: ContactGroup, code: str, name: str, freeze: bool) -> ContactGroup:
    """Copy a group. Frozen: a static group whose members are today's members, added by hand.

    Not frozen: the same condition, accounts and members (with their sources), kept up to date from now on.
    """
    today = timezone.localdate()
    copy = ContactGroup(
        code=code,
        name=name,
        description=(f"Frozen copy of “{group.name}” taken on {today:%Y-%m-%d}." if freeze else group.description),
        is_condition_based=False if freeze else group.is_condition_based,
        condition=None if freeze else group.condition,
        scheduled_rebuild=False if freeze else group.scheduled_rebuild,
        condition_version=0 if freeze else 1,
        rebuild_status=RebuildStatus.NEVER if freeze else group.rebuild_status,
        last_rebuild_finished_at=None if freeze else group.last_rebuild_finished_at,
    )
    copy.full_clean()
    copy.save()
    table = Membership._meta.db_table
    flags = "TRUE, FALSE, FALSE" if freeze else "via_manual, via_account, via_condition"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (group_id, contact_id, via_manual, via_account, via_condition, added_at) "
            f"SELECT %s, contact_id, {flags}, %s FROM {table} WHERE group_id = %s",
            [copy.pk, timezone.now(), group.pk],
        )
    if not freeze:
        GroupAccount.objects.bulk_create(
            [GroupAccount(group=copy, account_id=a) for a in group.group_accounts.values_list("account_id", flat=True)]
        )
    _refresh_member_count(copy)
    return copy


def groups_snapshot_sizes(*, date: Any = None) -> int:
    """Record every group's member count for `date` (default today); re-running a day overwrites it."""
    from segments.models import GroupSizeSnapshot

    day = date or timezone.localdate()
    rows = [
        GroupSizeSnapshot(group_id=pk, date=day, member_count=count)
        for pk, count in ContactGroup.objects.values_list("pk", "member_count")
    ]
    GroupSizeSnapshot.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["group", "date"], update_fields=["member_count"]
    )
    return len(rows)
