"""Contact groups and their memberships.

Invariant: a Membership row exists iff at least one of its source flags (manual, account, condition)
is true, and only unmerged contacts are members. Writes go through `segments.services`.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils import timezone

from contacts.models import IDENTIFIER_VALIDATOR, Account, Contact


class RebuildStatus(models.TextChoices):
    NEVER = "never", "Never rebuilt"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Up to date"
    FAILED = "failed", "Failed"


class ContactGroup(models.Model):
    code = models.CharField(max_length=50, unique=True, validators=[IDENTIFIER_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_condition_based = models.BooleanField(default=False)
    condition = models.JSONField(null=True, blank=True)
    scheduled_rebuild = models.BooleanField(default=False)
    # Bumped on every condition change: a rebuild started for an older version never overwrites a newer.
    condition_version = models.PositiveIntegerField(default=0)
    rebuild_status = models.CharField(max_length=20, choices=RebuildStatus.choices, default=RebuildStatus.NEVER)
    rebuild_error = models.TextField(blank=True)
    last_rebuild_started_at = models.DateTimeField(null=True, blank=True)
    last_rebuild_finished_at = models.DateTimeField(null=True, blank=True)
    last_rebuild_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_rebuild_added = models.PositiveIntegerField(null=True, blank=True)
    last_rebuild_removed = models.PositiveIntegerField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("segments:group_detail", args=[self.pk])

    @property
    def is_rebuilding(self) -> bool:
        """A rebuild is queued or running (the status badge polls meanwhile)."""
        return self.rebuild_status in (RebuildStatus.QUEUED, RebuildStatus.RUNNING)


class Membership(models.Model):
    group = models.ForeignKey(ContactGroup, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    via_manual = models.BooleanField(default=False)
    via_account = models.BooleanField(default=False)
    via_condition = models.BooleanField(default=False)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
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
    per process and read this one number instead of every group and field (segments.recheck).
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"rule catalog version {self.version}"


class PendingRecheck(models.Model):
    """A contact waiting to be re-checked against condition-based groups, for one kind of change.

    Rows coalesce bursts: many changes to one contact leave one row per kind until a re-check drains it.
    `contact_id` is a plain column (not a foreign key) so a deleted contact's row is simply skipped.
    """

    contact_id = models.BigIntegerField()
    kind = models.CharField(max_length=20)
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact_id", "kind"], name="pendingrecheck_unique")]
        indexes = [models.Index(fields=["queued_at"], name="pendingrecheck_queued_idx")]

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
