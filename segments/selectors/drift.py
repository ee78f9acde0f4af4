"""Drift: a group's stored members against a fresh evaluation of its condition and accounts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from contacts.models import Contact
from segments.models import (
    ContactGroup,
    GroupAccount,
    Membership,
)


@dataclass(frozen=True)
class Drift:
    """How a group's stored sources differ from a fresh evaluation (all 0 when it is true)."""

    condition_missing: int  # match the condition but lack the condition source
    condition_extra: int  # hold the condition source but no longer match
    account_missing: int  # in a linked account but lack the account source
    account_extra: int  # hold the account source without a linked account

    @property
    def total(self) -> int:
        return self.condition_missing + self.condition_extra + self.account_missing + self.account_extra


def group_drift(*, group: ContactGroup, now: dt.datetime | None = None) -> Drift:
    """Compare `group`'s condition and account sources with the rule and accounts as they are now (4 counts in SQL)."""
    from segments.rules import matching_contacts, validate

    def holders(field: str) -> QuerySet[Contact]:
        return Contact.objects.filter(
            Exists(Membership.objects.filter(group=group, contact=OuterRef("pk"), **{field: True}))
        )

    if group.is_condition_based and group.condition:
        should = matching_contacts(validate(group.condition, group=group), now=now)
    else:
        should = Contact.objects.filter(pk__isnull=True)
    linked = Contact.objects.filter(
        merged_into__isnull=True, account__in=GroupAccount.objects.filter(group=group).values("account")
    )
    return Drift(
        condition_missing=should.exclude(pk__in=holders("via_condition").values("pk")).count(),
        condition_extra=holders("via_condition").exclude(pk__in=should.values("pk")).count(),
        account_missing=linked.exclude(pk__in=holders("via_account").values("pk")).count(),
        account_extra=holders("via_account").exclude(pk__in=linked.values("pk")).count(),
    )
