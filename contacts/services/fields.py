"""The typed fields services accept, and what the service modules share."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypedDict

from contacts.models import (
    Account,
)

# Standard contact fields a service may set (`custom`, `merged_into` and timestamps are handled apart).
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "country", "city", "job_title", "lead_score", "account")
# Fields copied from a merged contact into its parent when the parent's own value is empty.
MERGE_FILL_FIELDS = ("first_name", "last_name", "phone", "country", "city", "job_title", "account")
ACCOUNT_FIELDS = ("name", "domain", "industry", "country", "employees")


class ContactFields(TypedDict, total=False):
    """The standard contact fields a service may set (CONTACT_FIELDS), typed."""

    email: str | None
    first_name: str
    last_name: str
    phone: str
    country: str
    city: str
    job_title: str
    lead_score: int
    account: Account | None


class AccountFields(TypedDict, total=False):
    """The account fields a service may set (ACCOUNT_FIELDS), typed."""

    name: str
    domain: str
    industry: str
    country: str
    employees: int | None


class ActivityFields(TypedDict, total=False):
    """What one recorded activity may carry besides its contact and type."""

    occurred_at: dt.datetime
    url: str
    title: str
    value: Decimal | None
    campaign_id: int | None
    data: dict[str, Any]


DUPLICATE_EMAIL_MESSAGE = "Another contact already uses this email address."


class MergeError(ValueError):
    """A merge that must not happen (the message says why, for the user)."""
