"""Contacts, accounts, activities, consents and the admin-defined custom contact fields.

Invariant: `contacts` never imports `segments` or `campaigns`; segments listen to changes here.
Custom field values live in `Contact.custom` keyed by `ContactField.code` and are validated in
exactly one place, `contacts.custom_fields`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Coalesce, Greatest, Lower, NullIf
from django.urls import reverse
from django.utils import timezone
from django_countries.fields import CountryField

# Stands in for "no activity ever" where last_activity_at is NULL, so one indexed comparison answers
# "no activity in the last N days" (segments.rules: the Kentico "inactive contacts" segment).
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
LAST_ACTIVITY_OR_NEVER = Coalesce("last_activity_at", models.Value(NEVER))


def newest_activity(prefix: str = "") -> NullIf:
    """SQL: a contact's exact newest activity time (NULL: none), the later of its column and its rise.

    `prefix` reaches the contact from another model ("contact__"). A LEFT JOIN of the narrow ActivityRise.
    """
    never = models.Value(NEVER)
    column, rise = Coalesce(f"{prefix}last_activity_at", never), Coalesce(f"{prefix}activity_rise__at", never)
    return NullIf(Greatest(column, rise), never)


# The name sort (contacts.selectors.CONTACT_SORTS, a group's members): contacts with a name first, by
# family name — or the given name when that is all there is — then given name. contact_name_cover_idx walks
# it either way, so the first page of a million contacts (or members) is read from the index.
NAME_MISSING = models.ExpressionWrapper(
    models.Q(first_name="") & models.Q(last_name=""), output_field=models.BooleanField()
)
FAMILY_OR_GIVEN_NAME = Coalesce(NullIf("last_name", models.Value("")), "first_name")

IDENTIFIER_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]{0,49}$",
    "Use lower-case letters, digits and underscores, starting with a letter (at most 50 characters).",
)


def no_double_underscore(value: str) -> None:
    """Refuse "__" in a custom field code: it is Django's lookup separator (`custom__a__b` means a lookup)."""
    if "__" in (value or ""):
        raise ValidationError(
            "A code cannot contain two underscores in a row (“__”); use a single “_”.", code="double_underscore"
        )


# Stored beside a name so two that only differ in case, accents or spacing cannot both exist.
NAME_KEY_MAX = 400


def name_key(text: str) -> str:
    """A name compared the way people read it: accents dropped, case folded, runs of spaces made one.

    "Inactivé  Contacts", "inactive contacts" and "INACTIVE CONTACTS" all give "inactive contacts".
    """
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", bare.casefold()).strip()[:NAME_KEY_MAX]


class Account(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    country = CountryField(blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="account_name_idx")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("contacts:account_detail", args=[self.pk])


class ContactQuerySet(models.QuerySet["Contact"]):
    def unmerged(self) -> ContactQuerySet:
        return self.filter(merged_into__isnull=True)


class Contact(models.Model):
    email = models.EmailField(max_length=254, null=True, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    country = CountryField(blank=True)
    city = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=150, blank=True)
    lead_score = models.IntegerField(default=0)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    # A merged contact points at its parent; deleting the parent deletes what was merged into it.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="merged_contacts"
    )
    custom = models.JSONField(default=dict, blank=True)
    # The newest activity time as of the last fold (contacts.services.last_activity): never later than the
    # true newest, which is the later of this and the contact's ActivityRise (`newest_activity_at`). Indexed
    # for "no activity in N days"; an activity writes the narrow ActivityRise row, not this wide row.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="contact_email_ci_unique"),
        ]
        indexes = [
            # TRICKY: the name sort's keys with the columns the name sort and the search read, so a walk in name
            # order (a group's members, a deep page, a search of many) reads this index alone (an index-only
            # scan): PostgreSQL counts a column used inside an index expression as missing from the index.
            # (The same keys without INCLUDE, contact_name_idx, were redundant beside it: dropped in 0011.)
            models.Index(
                NAME_MISSING,
                FAMILY_OR_GIVEN_NAME,
                "first_name",
                "id",
                name="contact_name_cover_idx",
                include=["last_name", "email"],
            ),
            models.Index(Lower("email"), "id", name="contact_email_lower_idx"),
            models.Index(fields=["country", "id"], name="contact_country_idx"),
            # Unmerged contacts only, for the rule engine's counts from the index alone: "country is X"
            # (bench.preview (a) at 3M: 1.1 s → 0.1 s), and the probe "is this contact id unmerged" after an
            # activity count (b: 30k heap probes, 400 ms at 1M → 30 ms).
            models.Index(
                fields=["country"], name="contact_live_country_idx", condition=models.Q(merged_into__isnull=True)
            ),
            models.Index(fields=["id"], name="contact_live_idx", condition=models.Q(merged_into__isnull=True)),
            models.Index(fields=["lead_score", "id"], name="contact_lead_score_idx"),
            models.Index(fields=["created_at", "id"], name="contact_created_idx"),
            models.Index(fields=["updated_at"], name="contact_updated_idx"),
            # Unmerged contacts by newest activity (as of the last fold): "no activity in N days" from the index.
            models.Index(
                LAST_ACTIVITY_OR_NEVER,
                name="contact_inactive_idx",
                condition=models.Q(merged_into__isnull=True),
                # PostgreSQL answers from the index alone (index-only scan) only if the columns are in it: the
                # id for the anti-join with the rises not folded yet (contacts migration 0012).
                include=["last_activity_at", "id"],
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("contacts:contact_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email or f"Anonymous contact #{self.pk}"

    @property
    def is_anonymous(self) -> bool:
        return not self.email

    @property
    def newest_activity_at(self) -> dt.datetime | None:
        """The newest activity time, exact: the later of `last_activity_at` and a rise not folded yet (a query)."""
        rise = ActivityRise.objects.filter(contact_id=self.pk).values_list("at", flat=True).first()
        if rise is None or (self.last_activity_at is not None and self.last_activity_at >= rise):
            return self.last_activity_at
        return rise


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / no"
    CHOICE = "choice", "Choice (one of a list)"
    MULTI_CHOICE = "multi_choice", "Multiple choice"
    EMAIL = "email", "Email address"
    URL = "url", "Web address (URL)"
    PHONE = "phone", "Phone number"


class ContactFieldQuerySet(models.QuerySet["ContactField"]):
    def active(self) -> ContactFieldQuerySet:
        return self.filter(is_active=True)


class ContactField(models.Model):
    """An admin-defined custom contact field. `choices` is a list of {"code": ..., "label": ...}."""

    code = models.CharField(max_length=50, unique=True, validators=[IDENTIFIER_VALIDATOR, no_double_underscore])
    label = models.CharField(max_length=100)
    # name_key(label), kept by save(): labels equal but for case, accents or spacing are one label.
    label_key = models.CharField(max_length=NAME_KEY_MAX, editable=False)
    type = models.CharField(max_length=20, choices=FieldType.choices)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=200, blank=True)
    order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ContactFieldQuerySet.as_manager()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["label_key"],
                name="contactfield_label_key_unique",
                violation_error_message="Another field already has this label (ignoring case and accents).",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.label_key = name_key(self.label)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "label" in update_fields:
            kwargs["update_fields"] = {*update_fields, "label_key"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.label_key = name_key(self.label)

    @property
    def picker_label(self) -> str:
        """The label with the code beside it, for pickers where two similar labels could be confused."""
        return f"{self.label} ({self.code})"

    @property
    def has_choices(self) -> bool:
        return self.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE)

    @property
    def choice_codes(self) -> list[str]:
        return [c["code"] for c in self.choices or []]

    @property
    def choice_labels(self) -> dict[str, str]:
        return {c["code"]: c.get("label") or c["code"] for c in self.choices or []}


class ActivityType(models.TextChoices):
    PAGE_VISIT = "page_visit", "Page visit"
    FORM_SUBMISSION = "form_submission", "Form submission"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    EMAIL_SENT = "email_sent", "Email sent"
    SMS_SENT = "sms_sent", "SMS sent"
    PURCHASE = "purchase", "Purchase"
    CUSTOM = "custom", "Custom activity"


class Activity(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="activities")
    type = models.CharField(max_length=30, choices=ActivityType.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    url = models.CharField(max_length=2000, blank=True)
    title = models.CharField(max_length=300, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            # TRICKY: `type` included so that a per-contact probe ("did this contact …": re-checks, explanations)
            # reads this index alone. A re-check's prepared generic plan cannot see its window; in a small monthly
            # partition (the current month's first days) it otherwise preferred scanning activity_type_time_idx
            # for the whole window of the type: re-check of one contact × 100 groups 11 ms → 47 ms.
            models.Index(fields=["contact", "-occurred_at"], name="activity_contact_time_idx", include=["type"]),
            models.Index(fields=["type", "occurred_at", "contact"], name="activity_type_time_idx"),
            models.Index(fields=["occurred_at"], name="activity_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class ActivityRise(models.Model):
    """A contact's newest activity time while it is later than `Contact.last_activity_at` (until it is folded).

    Invariant: the newest occurred_at of a contact's activities is the later of Contact.last_activity_at and
    its ActivityRise.at (no row: the column alone; both NULL/absent: no activity). An activity raises this
    narrow row (a HOT update of two columns) instead of rewriting the wide contact row into its 16 indexes;
    the worker folds the rises into the contact rows in bulk (contacts.services.last_activity). Written only
    there, under the contact's row lock.
    """

    contact = models.OneToOneField(Contact, primary_key=True, on_delete=models.CASCADE, related_name="activity_rise")
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"newest activity {self.at:%Y-%m-%d %H:%M}"


class ActivityUrl(models.Model):
    """One distinct `Activity.url` text (the roll-up's URL key): a condition on `url` is decided here once per URL.

    `digest` (SHA-256 of the text, hex) is the unique key: a btree cannot hold every 2,000-character URL.
    The text is stored exactly (no normalisation), so any condition on it is exact; rows are never deleted.
    """

    url = models.CharField(max_length=2000, blank=True)
    digest = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.url or "(no URL)"


class ActivityDay(models.Model):
    """The daily roll-up of activities: how many a contact had on one UTC day, of one type, at one URL.

    Invariant: for every key, `n` = the number of the contact's activities with that type and URL whose
    `occurred_at` falls on `day` in UTC (no row: none). Kept in the writing transaction by
    contacts.services (the only writers of activities); read by the rule engine (segments.rules.rollup)
    for the whole days of a window. UTC days: the roll-up never depends on TIME_ZONE or on daylight saving.
    """

    # The key, also upkeep's upsert target and the per-contact lookups (merges, deletes): no surrogate id.
    pk = models.CompositePrimaryKey("contact", "day", "type", "url")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    type = models.CharField(max_length=30, choices=ActivityType.choices)
    url = models.ForeignKey(ActivityUrl, on_delete=models.PROTECT, related_name="+", db_index=False)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [
            # The compiler's reads: per URL id and type, a range of days, answered from the index alone.
            models.Index(fields=["url", "type", "day"], name="activityday_url_idx", include=["contact", "n"]),
        ]

    def __str__(self) -> str:
        return f"{self.n} × {self.type} on {self.day}"


class Consent(models.Model):
    code = models.CharField(max_length=50, unique=True, validators=[IDENTIFIER_VALIDATOR])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactConsent(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="contact_consents")
    agreed_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "consent"], name="contact_consent_unique"),
        ]
        indexes = [models.Index(fields=["consent", "contact"], name="contactconsent_consent_idx")]

    def __str__(self) -> str:
        return f"{self.contact} – {self.consent}"

    @property
    def is_agreed(self) -> bool:
        return self.revoked_at is None
