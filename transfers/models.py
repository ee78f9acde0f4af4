"""Import jobs, their reports and the contacts or accounts they wrote, and saved column mappings.

An ImportJob keeps the uploaded file itself (`data`), so the web server and the worker need no shared
disk; its `ImportIssue` rows are the report (one per bad cell or row), and its `ImportedContact` rows
say which contacts it created or updated, when, what they replaced and whether the import added them to its
group (the group add and the undo read them). A job imports
contacts or accounts (`kind`); `ImportedAccount` rows say which accounts it created or updated (an
account import's rows, and the accounts a contact import created from a company column).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Not started"  # uploaded; mapping and preview still open
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


class ImportKind(models.TextChoices):
    """What an import brings in (transfers.imports.kinds describes each)."""

    CONTACTS = "contacts", "Contacts"
    ACCOUNTS = "accounts", "Accounts"


class ImportJob(models.Model):
    kind = models.CharField(max_length=10, choices=ImportKind.choices, default=ImportKind.CONTACTS)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveIntegerField(default=0)
    data = models.BinaryField()
    read_as = models.CharField(max_length=200, blank=True)  # "CSV, UTF-8, semicolon-separated"
    # One target per column ("" ignored; "email", "custom.<code>" …) and the header it was made for.
    header = models.JSONField(default=list)
    mapping = models.JSONField(default=list)
    # date_format, allow_anonymous, group_id (an existing static group), new_group (name of a new one),
    # create_accounts (a company column may create accounts).
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.DRAFT)
    phase = models.CharField(max_length=100, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running job's last sign of life
    error = models.TextField(blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    merged_duplicates = models.PositiveIntegerField(default=0)
    group = models.ForeignKey("segments.ContactGroup", null=True, blank=True, on_delete=models.SET_NULL)
    group_added = models.PositiveIntegerField(default=0)
    accounts_created = models.PositiveIntegerField(default=0)  # a contact import's new accounts (company column)
    # An undo (transfers.imports.undo): deleted what the import created, restored what it updated.
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_recorded = models.BooleanField(default=True)  # False: ran before undo existed (no written_at to compare)
    undo_queued_at = models.DateTimeField(null=True, blank=True)  # a big undo waits for / runs in the worker
    undo_error = models.TextField(blank=True)  # why the last undo in the worker changed nothing

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import of {self.file_name}"

    def get_absolute_url(self) -> str:
        if self.status == ImportStatus.DRAFT:
            return reverse("transfers:import_mapping", args=[self.pk])
        return reverse("transfers:import_detail", args=[self.pk])

    @property
    def is_busy(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None

    @property
    def saved(self) -> int:
        """Rows written so far (every committed slice counts them; exact also for a failed import)."""
        return self.created + self.updated + self.unchanged

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.SUCCEEDED:
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0


class ImportIssue(models.Model):
    """One line of an import's report: a row (and column) that was not imported, or a note about it."""

    class Level(models.TextChoices):
        ERROR = "error", "Skipped"
        NOTE = "note", "Note"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="issues")
    line = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    value = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.ERROR)

    class Meta:
        ordering = ["line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="importissue_job_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportedContact(models.Model):
    """A contact an import created or updated, and (updated) the values it replaced."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        UNCHANGED = "unchanged", "Unchanged"

    # No index of its own: importedcontact_unique (job, contact_id) serves every lookup by job (one index
    # fewer to write per imported contact).
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    contact_id = models.BigIntegerField()  # a plain column: deleting a contact later keeps the record
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    previous = models.JSONField(null=True, blank=True)
    # The contact's updated_at as the import wrote it (created / updated): a different one now means the
    # contact changed since, which blocks an undo. Null for unchanged contacts (and imports before undo existed).
    written_at = models.DateTimeField(null=True, blank=True)
    added_to_group = models.BooleanField(default=False)  # the import gave it the manual source in job.group

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "contact_id"], name="importedcontact_unique")]

    def __str__(self) -> str:
        return f"{self.outcome} contact {self.contact_id}"


class ImportedAccount(models.Model):
    """An account an import created or updated, and (updated) the values it replaced."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="accounts")
    account_id = models.BigIntegerField()  # a plain column: deleting an account later keeps the record
    outcome = models.CharField(max_length=10, choices=ImportedContact.Outcome.choices)
    previous = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "account_id"], name="importedaccount_unique")]

    def __str__(self) -> str:
        return f"{self.outcome} account {self.account_id}"


class SavedMapping(models.Model):
    """A mapping kept for the next file from the same tool: header (compared loosely) → target."""

    name = models.CharField(max_length=100, unique=True)
    columns = models.JSONField(default=dict)
    date_format = models.CharField(max_length=10, default="auto")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
