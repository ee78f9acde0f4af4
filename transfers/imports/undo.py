"""Undo of an import: delete the contacts it created, restore the values it replaced, take back its group adds.

Invariant: all or nothing (one transaction), and only while nothing else has changed those contacts since.
"Changed since" is exact: the import recorded the updated_at it gave each contact it wrote
(ImportedContact.written_at) and every change through contacts.services moves updated_at (an edit, a later
import, a merge on either side, an account link). A contact gone since, merged since, or with another
updated_at blocks the undo. A contact the import created is also blocked by what a delete would lose and
that does not move updated_at: activities, consents, contacts merged into it, and a manual membership of a
group other than the import's. Contacts the import left unchanged are not touched. Rows are handled
set-based (subqueries on the job's ImportedContact rows; restores and deletes in batches), never one
statement per contact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Account, Activity, Contact, ContactConsent
from contacts.roles import Role
from segments import services as group_services
from segments.models import Cause, GroupAccount, Membership
from segments.rechecks import BULK_REBUILD_THRESHOLD
from transfers.imports.auditing import import_undone_record
from transfers.models import ImportedAccount, ImportedContact, ImportJob, ImportKind, ImportStatus

logger = logging.getLogger(__name__)

BLOCKERS_SHOWN = 10
DELETE_BATCH = 5000  # created contacts per delete (SQLite's limit on a statement's parameters)
Outcome = ImportedContact.Outcome

User = AbstractBaseUser | AnonymousUser


class UndoRefused(Exception):
    """The import cannot be undone (the message says why); nothing was changed."""

    def __init__(self, message: str, plan: UndoPlan | None = None) -> None:
        super().__init__(message)
        self.plan = plan


@dataclass
class Blocker:
    contact_id: int
    contact: Contact | None  # None: deleted since
    reason: str


@dataclass
class UndoPlan:
    """What an undo would do, and the contacts that keep it from running (the first few, and how many)."""

    created: int = 0
    updated: int = 0
    group_removed: int = 0
    group_name: str = ""
    blocker_count: int = 0
    blockers: list[Blocker] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        """What will happen, in the words of the confirmation."""
        return undo_sentence(
            created=self.created, updated=self.updated, group_name=self.group_name if self.group_removed else ""
        )


def undo_sentence(*, created: int, updated: int, group_name: str = "") -> str:
    """ "Delete N contacts this import created and restore … M contacts it updated; remove them from group X …"."""
    text = (
        f"Delete {_n(created, 'contact')} this import created and restore the previous values of "
        f"{_n(updated, 'contact')} it updated"
    )
    if group_name:
        text += f"; remove them from the group “{group_name}” where the import added them"
    return text + "."


def job_undo_sentence(*, job: ImportJob) -> str:
    """The confirmation of undoing `job`, from its counts (no query)."""
    return undo_sentence(created=job.created, updated=job.updated, group_name=str(job.group) if job.group_id else "")


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --- who may, and when -----------------------------------------------------------------------------


def import_undo_refusal(*, job: ImportJob, user: User | None = None, queued: bool = False) -> str:
    """Why `job` cannot be undone (by `user`, when given), or "" when it can (`queued`: by the queued task)."""
    if user is not None and not import_undo_allowed(job=job, user=user):
        return "Only the person who ran this import or an admin can undo it."
    if job.kind == ImportKind.ACCOUNTS:
        return "An import of accounts cannot be undone; edit or delete the accounts on the Accounts page."
    if job.undone_at is not None:
        return "This import has already been undone."
    if not job.undo_recorded:
        return "This import ran before imports could be undone: it did not record what an undo needs."
    if not queued and undo_in_progress(job=job):
        return "This import is being undone in the background."
    if job.status == ImportStatus.SUCCEEDED or (job.status == ImportStatus.FAILED and job.saved):
        if not job.created and not job.updated and not job.group_added:
            return "This import changed no contact: there is nothing to undo."
        return ""
    if job.status == ImportStatus.FAILED:
        return "This import saved nothing: there is nothing to undo."
    return "Only a finished import can be undone."


def undo_in_progress(*, job: ImportJob) -> bool:
    """An undo was queued and may still run (one queued too long ago had its worker die: nothing changed)."""
    if job.undo_queued_at is None:
        return False
    return job.undo_queued_at > timezone.now() - timedelta(seconds=settings.IMPORT_UNDO_STALE_AFTER)


def import_undo_allowed(*, job: ImportJob, user: User) -> bool:
    """The creator of the import (if they may delete contacts: Marketer, Admin) or an Admin."""
    person: Any = user  # a signed-in auth.User: permissions and groups
    if not person.is_authenticated or not person.has_perm("contacts.delete_contact"):
        return False
    if person.is_superuser or job.created_by_id == person.pk:
        return True
    cached = getattr(person, "_is_admin_role", None)  # a list page asks once per job
    if cached is None:
        cached = person.groups.filter(name=Role.ADMIN.value).exists()
        person._is_admin_role = cached
    return bool(cached)


# --- the plan (a read) ------------------------------------------------------------------------------


def _written(job: ImportJob) -> QuerySet[ImportedContact]:
    return ImportedContact.objects.filter(job=job, outcome__in=[Outcome.CREATED, Outcome.UPDATED])


def _blocking(job: ImportJob) -> QuerySet[ImportedContact]:
    """The job's created and updated contacts that changed since (see the module's invariant)."""
    contact = OuterRef("contact_id")
    live = Contact.objects.filter(pk=contact, merged_into__isnull=True)
    other_groups = Membership.objects.filter(contact_id=contact, via_manual=True)
    if job.group_id:
        other_groups = other_groups.exclude(group_id=job.group_id)
    would_lose = (Q(has_activity=True) | Q(has_consent=True) | Q(has_merged=True) | Q(has_manual=True)) & Q(
        outcome=Outcome.CREATED
    )
    return (
        _written(job)
        .alias(
            as_written=Exists(live.filter(updated_at=OuterRef("written_at"))),
            has_activity=Exists(Activity.objects.filter(contact_id=contact)),
            has_consent=Exists(ContactConsent.objects.filter(contact_id=contact)),
            has_merged=Exists(Contact.objects.filter(merged_into_id=contact)),
            has_manual=Exists(other_groups),
        )
        .filter(Q(as_written=False) | would_lose)
        .order_by("contact_id")
    )


def _reason(row: ImportedContact, contact: Contact | None) -> str:
    if contact is None:
        return "deleted since the import"
    if contact.merged_into_id:
        return "merged into another contact since the import"
    if contact.updated_at != row.written_at:
        return "changed since the import (edited, imported again or merged)"
    return "has activities, consents, merged contacts or other groups since the import; deleting it would lose them"


def import_undo_plan(*, job: ImportJob) -> UndoPlan:
    """What undoing `job` would do now, and what blocks it (read only)."""
    blocking = _blocking(job)
    plan = UndoPlan(
        created=ImportedContact.objects.filter(job=job, outcome=Outcome.CREATED).count(),
        updated=ImportedContact.objects.filter(job=job, outcome=Outcome.UPDATED).count(),
        group_name=str(job.group) if job.group_id else "",
        blocker_count=blocking.count(),
    )
    if job.group_id:
        plan.group_removed = Membership.objects.filter(
            group_id=job.group_id, via_manual=True, contact_id__in=_group_added(job).values("contact_id")
        ).count()
    if plan.blocker_count:
        rows = list(blocking[:BLOCKERS_SHOWN])
        contacts = Contact.objects.in_bulk([r.contact_id for r in rows])
        plan.blockers = [
            Blocker(
                contact_id=r.contact_id,
                contact=contacts.get(r.contact_id),
                reason=_reason(r, contacts.get(r.contact_id)),
            )
            for r in rows
        ]
    return plan


def _group_added(job: ImportJob) -> QuerySet[ImportedContact]:
    return ImportedContact.objects.filter(job=job, added_to_group=True)


# --- the undo (a write) -------------------------------------------------------------------------------


def _lock_contacts(job: ImportJob) -> None:
    """PostgreSQL: lock the job's contacts so no change slips in between the check and the writes."""
    if connection.vendor != "postgresql":
        return  # SQLite: the first write takes the database lock; demo-sized data
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {Contact._meta.db_table} WHERE id IN "
            f"(SELECT contact_id FROM {ImportedContact._meta.db_table} WHERE job_id = %s) FOR UPDATE) locked",
            [job.pk],
        )


@transaction.atomic
def import_undo(*, job: ImportJob, user: User | None, queued: bool = False) -> UndoPlan:
    """Undo `job` whole (see the module's invariant) or raise UndoRefused and change nothing; returns what it did."""
    job = ImportJob.objects.select_for_update(of=("self",)).select_related("group").get(pk=job.pk)
    refusal = import_undo_refusal(job=job, user=user, queued=queued)
    if refusal:
        raise UndoRefused(refusal)
    _lock_contacts(job)
    plan = import_undo_plan(job=job)
    if plan.blocker_count:
        raise UndoRefused(
            f"{_n(plan.blocker_count, 'contact')} of this import changed since; the import cannot be undone.", plan
        )
    actor_id = user.pk if user is not None and user.is_authenticated else None
    many = plan.created + plan.updated > BULK_REBUILD_THRESHOLD
    if job.group is not None and plan.group_removed:
        group_services.group_remove_contacts(
            group=job.group,
            contacts=Contact.objects.filter(pk__in=_group_added(job).values("contact_id")),
            actor_id=actor_id,
            cause=Cause.IMPORT_UNDO,
        )
    previous: dict[int, Any] = dict(
        ImportedContact.objects.filter(job=job, outcome=Outcome.UPDATED).values_list("contact_id", "previous")
    )
    contact_services.contacts_restore(previous=previous, bulk_change=many)
    created = list(
        ImportedContact.objects.filter(job=job, outcome=Outcome.CREATED)
        .order_by("contact_id")
        .values_list("contact_id", flat=True)
    )
    for start in range(0, len(created), DELETE_BATCH):
        contact_services.contacts_delete(contact_ids=created[start : start + DELETE_BATCH], bulk=many)
    _accounts_created_delete(job)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(undone_at=now, undone_by_id=actor_id, undo_queued_at=None, undo_error="")
    import_undone_record(job=job, user=user, plan=plan)
    return plan


def _accounts_created_delete(job: ImportJob) -> int:
    """Delete the accounts the import created from a company column that nothing holds any more (no contact,
    no group): the contacts it linked to them were just deleted or restored. Others stay (someone used them)."""
    unused = (
        Account.objects.filter(
            pk__in=ImportedAccount.objects.filter(job=job, outcome=Outcome.CREATED).values("account_id")
        )
        .exclude(Exists(Contact.objects.filter(account=OuterRef("pk"))))
        .exclude(Exists(GroupAccount.objects.filter(account=OuterRef("pk"))))
    )
    deleted = 0
    for account in unused:
        contact_services.account_delete(account=account)
        deleted += 1
    return deleted


def import_undo_request(*, job: ImportJob, user: User) -> UndoPlan | None:
    """Undo `job` now (returns what was done) or, when big, queue it for the worker (returns None).

    UndoRefused (nothing changed) when it cannot be undone now; a queued undo that is refused later keeps
    its reason on the job (`undo_error`).
    """
    if job.created + job.updated <= settings.IMPORT_UNDO_SYNC_MAX:
        return import_undo(job=job, user=user)
    from health.queue import task_queue_on_commit

    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
        refusal = import_undo_refusal(job=job, user=user)
        if refusal:
            raise UndoRefused(refusal)
        ImportJob.objects.filter(pk=job.pk).update(undo_queued_at=timezone.now(), undo_error="")
        user_id = user.pk if user.is_authenticated else None
        task_queue_on_commit("transfers.tasks.run_import_undo", job.pk, user_id)
    return None


def import_undo_queued(*, job_id: int, user_id: int | None) -> str:
    """The worker's side of a queued undo: run it; keep a refusal's reason (or the database's) on the job."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return "gone"
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        import_undo(job=job, user=user, queued=True)
    except UndoRefused as exc:
        ImportJob.objects.filter(pk=job_id).update(undo_queued_at=None, undo_error=str(exc))
        return "refused"
    except DatabaseError as exc:
        logger.exception("undo of import %s failed", job_id)
        message = f"The database refused the undo ({exc.__class__.__name__}); nothing was changed. Try again."
        ImportJob.objects.filter(pk=job_id).update(undo_queued_at=None, undo_error=message)
        return "failed"
    return "undone"
