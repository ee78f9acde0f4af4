"""Writes to contacts, accounts, activities and consents (HackSoft-style services), one module per concern.

Every function is keyword-only and atomic. Nothing here imports `segments`: contact groups learn of
changes through `contacts.signals.contacts_changed`, sent inside the changing transaction with every
affected id. Custom field values are validated by `contacts.custom_fields` (the one place that knows their
types). Callers import from `contacts.services`; the modules below are its parts.
"""

from contacts.services.accounts import (
    AccountUpsert,
    account_add_contacts,
    account_create,
    account_delete,
    account_remove_contact,
    account_update,
    accounts_match_lock,
    accounts_upsert,
    contacts_link_accounts,
)
from contacts.services.activities import (
    ACTIVITY_BATCH,
    ActivityRow,
    activities_delete_all,
    activities_load,
    activities_record,
    activity_record,
)
from contacts.services.activity_days import activity_days_rebuild
from contacts.services.consents import (
    consent_agree,
    consent_revoke,
)
from contacts.services.contacts import (
    UPSERT_BATCH,
    UPSERT_FIELDS,
    ContactUpsert,
    UpsertOutcome,
    contact_create,
    contact_delete,
    contact_update,
    contacts_assign_account,
    contacts_delete,
    contacts_restore,
    contacts_upsert,
)
from contacts.services.fields import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    DUPLICATE_EMAIL_MESSAGE,
    MERGE_FILL_FIELDS,
    AccountFields,
    ActivityFields,
    ContactFields,
    MergeError,
)
from contacts.services.last_activity import activity_rises_fold, contacts_refresh_last_activity
from contacts.services.merging import (
    contact_merge,
    contact_merge_check,
    contact_merge_plan,
)

__all__ = [
    "ACCOUNT_FIELDS",
    "ACTIVITY_BATCH",
    "AccountFields",
    "AccountUpsert",
    "ActivityFields",
    "ActivityRow",
    "CONTACT_FIELDS",
    "ContactFields",
    "ContactUpsert",
    "DUPLICATE_EMAIL_MESSAGE",
    "MERGE_FILL_FIELDS",
    "MergeError",
    "UPSERT_BATCH",
    "UPSERT_FIELDS",
    "UpsertOutcome",
    "account_add_contacts",
    "account_create",
    "account_delete",
    "account_remove_contact",
    "account_update",
    "accounts_match_lock",
    "accounts_upsert",
    "activities_delete_all",
    "activities_load",
    "activities_record",
    "activity_days_rebuild",
    "activity_record",
    "consent_agree",
    "consent_revoke",
    "contact_create",
    "contact_delete",
    "contact_merge",
    "contact_merge_check",
    "contact_merge_plan",
    "contact_update",
    "contacts_assign_account",
    "contacts_delete",
    "contacts_link_accounts",
    "contacts_refresh_last_activity",
    "activity_rises_fold",
    "contacts_restore",
    "contacts_upsert",
]
