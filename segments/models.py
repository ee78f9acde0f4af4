"""Contact groups and their memberships.

Invariant: a Membership row exists iff at least one of its source flags (manual, account, condition)
is true, and only unmerged contacts are members. Every change of a source writes one MembershipEvent in
the same statement. Both tables are written only by `segments.memberships`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from contacts.models import NAME_KEY_MAX, Account, Contact, name_key

# Group codes may be Kentico-style (`InactiveContacts`) or snake_case (`inactive_contacts`); unique
# ignoring case (contactgroup_code_ci_unique), so `VIP` and `vip` cannot both exist.
GROUP_CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]{0,49}$",
    "Use letters (either case), digits and underscores, starting with a letter (at most 50 characters), "
    "e.g. “InactiveContacts” or “inactive_contacts”.",
)


class RebuildStatus(models.TextChoices):
    NEVER = "never", "Never rebuilt"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Up to date"
    FAILED = "failed", "Failed"
    # Its worker stopped mid-rebuild (killed, restarted, out of memory); queued again.
    INTERRUPTED = "interrupted", "Interrupted, queued again"


class ContactGroup(models.Model):
    code = models.CharField(max_length=50, unique=True, validators=[GROUP_CODE_VALIDATOR])
    name = models.CharField(max_length=200)
    # name_key(name), kept by save(): names equal but for case, accents or spacing are one name.
    name_key = models.CharField(max_length=NAME_KEY_MAX, editable=False)
    description = models.TextField(blank=True)
    is_condition_based = models.BooleanField(default=False)
    condition = models.JSONField(null=True, blank=True)
    scheduled_rebuild = models.BooleanField(default=False)
    # Bumped on every condition change: a rebuild started for an older version never overwrites a newer.
    condition_version = models.PositiveIntegerField(default=0)
    rebuild_status = models.CharField(max_length=20, choices=RebuildStatus.choices, default=RebuildStatus.NEVER)
    rebuild_error = models.TextField(blank=True)
    last_rebuild_started_at = models.DateTimeField(null=True, blank=True)
    # Written every few seconds by a running rebuild (segments.rebuilds.rebuild_heartbeat).
    rebuild_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Rebuilds interrupted in a row; the minutely check stops queueing again at REBUILD_MAX_INTERRUPTIONS.
    rebuild_interruptions = models.PositiveSmallIntegerField(default=0)
    last_rebuild_finished_at = models.DateTimeField(null=True, blank=True)
    last_rebuild_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_rebuild_added = models.PositiveIntegerField(null=True, blank=True)
    last_rebuild_removed = models.PositiveIntegerField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("code"),
                name="contactgroup_code_ci_unique",
                violation_error_message="Another group already has this code (ignoring case).",
            ),
            models.UniqueConstraint(
                fields=["name_key"],
                name="contactgroup_name_key_unique",
                violation_error_message="Another group already has this name (ignoring case and accents).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_key = name_key(self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_key"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("segments:group_detail", args=[self.pk])

    def clean(self) -> None:
        self.name_key = name_key(self.name)

    @property
    def picker_label(self) -> str:
        """The name with the code beside it, for pickers where two similar names could be confused."""
        return f"{self.name} ({self.code})"

    @property
    def is_rebuilding(self) -> bool:
        """A rebuild is queued, running or queued again (the status badge polls meanwhile)."""
        return self.rebuild_status in (RebuildStatus.QUEUED, RebuildStatus.RUNNING, RebuildStatus.INTERRUPTED)

    @property
    def rebuild_state(self) -> str:
        """The status as people should see it: a running rebuild whose heartbeat stopped is interrupted."""
        if self.rebuild_status == RebuildStatus.RUNNING and self.rebuild_heartbeat_stale():
            return RebuildStatus.INTERRUPTED
        return self.rebuild_status

    def rebuild_state_label(self) -> str:
        return RebuildStatus(self.rebuild_state).label

    def rebuild_heartbeat_stale(self, now: datetime | None = None) -> bool:
        beat = self.rebuild_heartbeat_at
        limit = timedelta(seconds=settings.REBUILD_STALE_AFTER)
        return beat is None or (now or timezone.now()) - beat > limit


class Membership(models.Model):
    # TRICKY: no database foreign keys and no single-column indexes. PostgreSQL checks a foreign key row
    # by row (2.9 s of a 4.0 s first build of 300k members), and the unique (group, contact) and the
    # (contact, group) indexes already serve every lookup by group or by contact. Only
    # segments.memberships writes these rows, from contact and group ids it reads in the same statement;
    # Django's collector deletes a deleted contact's or group's rows, and `memberships_integrity`
    # (rebuild_groups --check, nightly) finds and removes any orphan a race could leave.
    group = models.ForeignKey(
        ContactGroup, on_delete=models.CASCADE, related_name="memberships", db_constraint=False, db_index=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="memberships", db_constraint=False, db_index=False
    )
    via_manual = models.BooleanField(default=False)
    via_account = models.BooleanField(default=False)
    via_condition = models.BooleanField(default=False)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # On PostgreSQL its index also carries the three flags (INCLUDE, migration 0007): a rebuild reads a
            # group's rows from the index alone. TRICKY: not `include=` here — SQLite would then get no unique
            # index at all (Django skips such a constraint where covering indexes are unsupported).
            models.UniqueConstraint(fields=["group", "contact"], name="membership_group_contact_unique"),
            models.CheckConstraint(
                condition=models.Q(via_manual=True) | models.Q(via_account=True) | models.Q(via_condition=True),
                name="membership_has_a_source",
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "group"], name="membership_contact_idx"),
            # The Members tab's source filters: a group's members by hand or from an account, read from
            # these small partial indexes alone (the unique index holds no flags: the filter read every
            # membership row of the group). The condition source, most members of the groups having one,
            # is served by the unique index: its matches come within the first rows read.
            models.Index(
                fields=["group", "contact"], condition=models.Q(via_manual=True), name="membership_manual_idx"
            ),
            models.Index(
                fields=["group", "contact"], condition=models.Q(via_account=True), name="membership_account_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.group}"

    @property
    def sources(self) -> list[str]:
        return [
            label
            for flag, label in (
                (self.via_manual, "Manual"),
                (self.via_account, "From account"),
                (self.via_condition, "Condition"),
            )
            if flag
        ]


class Source(models.IntegerChoices):
    """Why a contact is a member: one flag of Membership each (`field`)."""

    MANUAL = 1, "added by hand"
    ACCOUNT = 2, "from account"
    CONDITION = 3, "by the condition"

    @property
    def field(self) -> str:
        return f"via_{self.name.lower()}"


class EventKind(models.IntegerChoices):
    ENTERED = 1, "entered"
    LEFT = 2, "left"
    SOURCE_ADDED = 3, "source added"
    SOURCE_REMOVED = 4, "source removed"


class Cause(models.IntegerChoices):
    """What made a membership change (history, webhooks)."""

    REBUILD = 1, "rebuild"
    RECHECK = 2, "re-check after a change"
    MANUAL = 3, "by hand"
    ACCOUNT = 4, "account linked or unlinked"
    MERGE = 5, "contact merge"
    IMPORT = 6, "import"
    API = 7, "API"
    CAMPAIGN = 8, "campaign"
    COPY = 9, "group copy"
    IMPORT_UNDO = 10, "import undone"


class MembershipEvent(models.Model):
    """One change of one source of one contact's membership in one group (history).

    `kind` is ENTERED / LEFT when the change made or ended the membership, else SOURCE_ADDED /
    SOURCE_REMOVED. Written set-based in the statements that change the membership (segments.memberships);
    never updated. Deleting a contact or a group deletes its history; pruned after
    settings.MEMBERSHIP_HISTORY_DAYS.
    """

    # Indexes: (group, at) serves the History tab, the pruning (group by group) and a group's deletion;
    # (contact, at) a contact's timeline and deletion.
    # TRICKY: no database foreign keys. A first build writes one event per new member (300k rows for a
    # big group), and PostgreSQL checks a foreign key row by row; the writers take the ids from the
    # membership rows they change, and Django's collector still deletes a contact's or group's events.
    group = models.ForeignKey(
        ContactGroup, on_delete=models.CASCADE, related_name="events", db_constraint=False, db_index=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="membership_events", db_constraint=False, db_index=False
    )
    kind = models.PositiveSmallIntegerField(choices=EventKind.choices)
    source = models.PositiveSmallIntegerField(choices=Source.choices)
    cause = models.PositiveSmallIntegerField(choices=Cause.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["group", "at"], name="membershipevent_group_at_idx"),
            models.Index(fields=["contact", "at"], name="membershipevent_contact_at_idx"),
            models.Index(fields=["actor"], name="membershipevent_actor_idx", condition=models.Q(actor__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.get_kind_display()} {self.group_id} ({self.get_cause_display()})"

    @property
    def joined(self) -> bool:
        return self.kind in (EventKind.ENTERED, EventKind.SOURCE_ADDED)

    @property
    def verb(self) -> str:
        """What the contact did to the group: "Joined", "Left", "Now also in", "Still in"."""
        return {
            EventKind.ENTERED: "Joined",
            EventKind.LEFT: "Left",
            EventKind.SOURCE_ADDED: "Now also in",
            EventKind.SOURCE_REMOVED: "Still in",
        }[EventKind(self.kind)]

    @property
    def detail(self) -> str:
        """How or why, for people: "by the condition", "removed by hand", "no longer matches the condition"…"""
        source = Source(self.source)
        if self.cause == Cause.MERGE and not self.joined:
            return "merged into another contact"
        if self.joined:
            return {
                Source.MANUAL: "by hand",
                Source.ACCOUNT: "through the account",
                Source.CONDITION: "by the condition",
            }[source]
        lost = {
            Source.MANUAL: "removed by hand",
            Source.ACCOUNT: "the account was unlinked" if self.cause == Cause.ACCOUNT else "changed account",
            Source.CONDITION: "no longer matches the condition",
        }[source]
        return lost if self.kind == EventKind.LEFT else f"{lost}; stays through another source"

    @property
    def summary(self) -> str:
        """The change with the contact as subject: "joined by the condition", "left: removed by hand"…"""
        if self.kind == EventKind.LEFT:
            return f"left: {self.detail}"
        return self.detail if self.kind == EventKind.SOURCE_REMOVED else f"{self.verb.lower()} {self.detail}"

    @property
    def cause_note(self) -> str:
        """The cause when the detail does not already say it ("" for by hand and accounts)."""
        return "" if self.cause in (Cause.MANUAL, Cause.ACCOUNT) else self.get_cause_display()


class GroupAccount(models.Model):
    group = models.ForeignKey(ContactGroup, on_delete=models.CASCADE, related_name="group_accounts")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="group_accounts")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "account"], name="groupaccount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account} in {self.group}"


class RuleCatalogVersion(models.Model):
    """One row whose `version` changes with anything parsed conditions depend on.

    Invariant: every save or delete of a contact group or of a custom field (its type decides how a
    condition compares values) sets `version` to a new random number, in the same transaction
    (segments.apps connects the receivers). A number is never reused, not even after a rollback, which
    brings back the old number together with the old data. Re-checks keep their parsed conditions
    per process and read this one number instead of every group and field (segments.rechecks).
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"rule catalog version {self.version}"


class RecheckWake(models.Model):
    """One row: a re-check drain is queued and has not started yet (`pending`, since `queued_at`).

    Coalesces wake-ups (segments.rechecks): a committed change queues a drain only when none is pending,
    and a drain clears the flag, committed, before it reads the notes, so a change committed before the
    flag was seen set is read by that drain. A flag older than WAKE_STALE_AFTER (a lost task) is set again.
    """

    pending = models.BooleanField(default=False)
    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "re-check drain pending" if self.pending else "no re-check drain pending"


class PendingGroupRefresh(models.Model):
    """A change to too many contacts to re-check one by one: the groups reading `kinds` are rebuilt instead.

    Written in the transaction of the change (durable like PendingRecheck); a worker drains it.
    """

    kinds = models.JSONField()  # the kinds of change (segments.rules.Dependencies.kinds), a sorted list
    queued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"refresh groups reading {', '.join(self.kinds)}"


class PendingRecheck(models.Model):
    """A contact waiting to be re-checked against condition-based groups, for one kind of change.

    One row per change and kind, never merged into an earlier row: a drain that has claimed (row-locked) a
    contact's note judges the contact as it was when it read it, so a change committing meanwhile needs a note
    of its own that the drain does not delete (a unique row, written with ON CONFLICT DO NOTHING, let that
    change go unchecked). A drain batch groups its rows by contact, so a burst still costs one re-check.
    `contact_id` is a plain column (not a foreign key) so a deleted contact's row is simply skipped.
    """

    contact_id = models.BigIntegerField()
    kind = models.CharField(max_length=20)
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["queued_at"], name="pendingrecheck_queued_idx"),
            models.Index(fields=["contact_id"], name="pendingrecheck_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"re-check contact {self.contact_id} ({self.kind})"


class GroupSizeSnapshot(models.Model):
    """A group's member count on one day (taken nightly), for size-history charts."""

    group = models.ForeignKey(ContactGroup, on_delete=models.CASCADE, related_name="size_snapshots")
    date = models.DateField()
    member_count = models.PositiveIntegerField()

    class Meta:
        ordering = ["group", "date"]
        constraints = [models.UniqueConstraint(fields=["group", "date"], name="groupsizesnapshot_unique")]

    def __str__(self) -> str:
        return f"{self.group} on {self.date}: {self.member_count}"
