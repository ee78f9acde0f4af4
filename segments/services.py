"""Writes to contact groups: create, update, delete, copy, and members or accounts added by hand.

Invariant: every membership write goes through `segments.memberships` (the one writer of Membership
and its history), under the group's lock; this module decides *what* to write, never *how*.
Rebuilds live in `segments.rebuilds`, re-checks in `segments.rechecks`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_changes, audit_record
from contacts.models import Account, Contact, name_key
from segments.auditing import group_facts
from segments.memberships import (
    SourceChange,
    Why,
    group_members_copy,
    groups_lock,
    member_count_refresh,
    source_add,
    source_remove,
    source_sync,
)
from segments.models import Cause, ContactGroup, GroupAccount, Membership, RebuildStatus, Source
from segments.rebuilds import group_rebuild_queue


@transaction.atomic
def group_add_contacts(
    *, group: ContactGroup, contacts: QuerySet[Contact], actor_id: int | None = None, cause: Cause = Cause.MANUAL
) -> SourceChange:
    """Add `contacts` to `group` by hand (the manual source); merged contacts are skipped."""
    groups_lock(group_ids=[group.pk])
    change = source_add(group=group, source=Source.MANUAL, contacts=contacts, why=Why(cause, actor_id))
    member_count_refresh(group=group)
    return change


@transaction.atomic
def group_remove_contacts(
    *,
    group: ContactGroup,
    contacts: QuerySet[Contact] | None = None,
    actor_id: int | None = None,
    cause: Cause = Cause.MANUAL,
) -> SourceChange:
    """Take the manual source away from `contacts` (all members when None); other sources stay."""
    groups_lock(group_ids=[group.pk])
    memberships = Membership.objects.filter(group=group)
    if contacts is not None:
        memberships = memberships.filter(contact__in=contacts.order_by().values("pk"))
    change = source_remove(group=group, source=Source.MANUAL, memberships=memberships, why=Why(cause, actor_id))
    member_count_refresh(group=group)
    return change


def _account_source_sync(*, group: ContactGroup, why: Why) -> SourceChange:
    """Make the account source of `group` match the group's accounts."""
    linked = GroupAccount.objects.filter(group=group, account=OuterRef("account"))
    return source_sync(group=group, source=Source.ACCOUNT, should=Contact.objects.filter(Exists(linked)), why=why)


def account_sources_sync(*, why: Why) -> None:
    """Make the account source of every group that has accounts match them (set-based, group by group)."""
    for group_id in GroupAccount.objects.values_list("group_id", flat=True).distinct().order_by("group_id"):
        with transaction.atomic():
            groups_lock(group_ids=[group_id])
            group = ContactGroup.objects.get(pk=group_id)
            _account_source_sync(group=group, why=why)
            member_count_refresh(group=group)


@transaction.atomic
def group_add_accounts(
    *, group: ContactGroup, accounts: QuerySet[Account], actor_id: int | None = None
) -> SourceChange:
    """Link accounts to `group`: all their contacts become members from account, now and later."""
    groups_lock(group_ids=[group.pk])
    existing = set(GroupAccount.objects.filter(group=group).values_list("account_id", flat=True))
    GroupAccount.objects.bulk_create(
        [GroupAccount(group=group, account=a) for a in accounts.exclude(pk__in=existing)],
        ignore_conflicts=True,
    )
    change = source_add(
        group=group,
        source=Source.ACCOUNT,
        contacts=Contact.objects.filter(account__in=accounts.values("pk")),
        why=Why(Cause.ACCOUNT, actor_id),
    )
    member_count_refresh(group=group)
    return change


@transaction.atomic
def group_remove_accounts(
    *, group: ContactGroup, accounts: QuerySet[Account], actor_id: int | None = None
) -> SourceChange:
    """Unlink accounts from `group`; their contacts lose the account source (other sources stay)."""
    groups_lock(group_ids=[group.pk])
    GroupAccount.objects.filter(group=group, account__in=accounts.values("pk")).delete()
    change = _account_source_sync(group=group, why=Why(Cause.ACCOUNT, actor_id))
    member_count_refresh(group=group)
    return change


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


def group_name_clash(*, name: str, group: ContactGroup | None = None) -> str | None:
    """Why `name` cannot be used (another group's name equal ignoring case, accents, spacing), or None."""
    others = ContactGroup.objects.filter(name_key=name_key(name))
    other = (others.exclude(pk=group.pk) if group is not None else others).first()
    if other is None:
        return None
    return (
        f"A group with this name already exists: “{other.name}” ({other.code}); names are compared ignoring "
        "case, accents and spaces. Choose another name."
    )


def group_code_clash(*, code: str) -> str | None:
    """Why a new group cannot use `code` (another group's code equal ignoring case), or None."""
    other = ContactGroup.objects.filter(code__iexact=code).first()
    if other is None:
        return None
    if other.code == code:
        return f"A group with this code already exists: “{other.name}” ({other.code})."
    return f"A group with this code already exists: “{other.name}” ({other.code}); codes are compared ignoring case."


def _check_name_and_code(*, name: str, code: str | None, group: ContactGroup | None = None) -> None:
    errors: dict[str, list[str]] = {}
    if message := group_name_clash(name=name, group=group):
        errors["name"] = [message]
    if code is not None and (message := group_code_clash(code=code)):
        errors["code"] = [message]
    if errors:
        raise ValidationError(errors)


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
    """Create a group; a condition-based one is queued for its first rebuild (unless told not to).

    ValidationError when another group has a look-alike name or the same code ignoring case.
    """
    from segments.rules import validate

    _check_name_and_code(name=name, code=code)
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
    audit_record(action=AuditAction.GROUP_CREATED, obj=group, changes=audit_changes({}, group_facts(group)))
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
    """Update a group; a changed condition bumps its version and queues a rebuild.

    ValidationError when another group has a look-alike name.
    """
    from segments.rules import validate

    _check_name_and_code(name=name, code=None, group=group)
    if is_condition_based and condition is not None:
        condition = validate(condition, group=group)
    before = group_facts(group)
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
    if changes := audit_changes(before, group_facts(group)):
        audit_record(action=AuditAction.GROUP_UPDATED, obj=group, changes=changes, summary=_changed_words(changes))
    return group


def _changed_words(changes: dict[str, Any]) -> str:
    """The summary of a change, e.g. "changed the name and condition"."""
    words = [name.replace("_", " ") for name in changes]
    listed = ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
    return f"changed the {listed}"


@transaction.atomic
def group_delete(*, group: ContactGroup) -> None:
    """Delete a group unless something uses it (GroupInUse names what does)."""
    users = group_users(group=group)
    if users:
        raise GroupInUse(f"“{group.name}” is used by {', '.join(users)}; change those first.")
    groups_lock(group_ids=[group.pk])  # a running rebuild or re-check of it finishes first
    facts = {**group_facts(group), "members": ContactGroup.objects.get(pk=group.pk).member_count}
    audit_record(action=AuditAction.GROUP_DELETED, obj=group, changes=audit_changes(facts, {}))
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
def group_copy(*, group: ContactGroup, code: str, name: str, freeze: bool, actor_id: int | None = None) -> ContactGroup:
    """Copy a group. Frozen: a static group whose members are today's members, added by hand.

    Not frozen: the same condition, accounts and members (with their sources), kept up to date from now on.
    """
    _check_name_and_code(name=name, code=code)
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
    groups_lock(group_ids=[copy.pk])
    group_members_copy(source_group=group, target=copy, freeze=freeze, why=Why(Cause.COPY, actor_id))
    if not freeze:
        GroupAccount.objects.bulk_create(
            [GroupAccount(group=copy, account_id=a) for a in group.group_accounts.values_list("account_id", flat=True)]
        )
    member_count = member_count_refresh(group=copy)
    audit_record(
        action=AuditAction.GROUP_COPIED,
        obj=copy,
        changes={"copy_of": f"{group.name} ({group.code})", "frozen": freeze, "members": member_count},
        summary=f"{'froze' if freeze else 'copied'} “{group.name}” as “{copy.name}” with {member_count:,} members",
    )
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
