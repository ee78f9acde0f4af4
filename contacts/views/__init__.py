"""Views for contacts and accounts: thin, they call selectors and services."""

from contacts.views.accounts import (
    AccountAddContactsView,
    AccountCreateView,
    AccountDeleteView,
    AccountDetailView,
    AccountListView,
    AccountRemoveContactView,
    AccountSearchView,
    AccountUpdateView,
)
from contacts.views.contacts import (
    ContactActivitiesView,
    ContactBulkView,
    ContactConsentView,
    ContactCreateView,
    ContactDeleteView,
    ContactDetailView,
    ContactListView,
    ContactMergeView,
    ContactSearchView,
    ContactUpdateView,
)

__all__ = [
    "AccountAddContactsView",
    "AccountCreateView",
    "AccountDeleteView",
    "AccountDetailView",
    "AccountListView",
    "AccountRemoveContactView",
    "AccountSearchView",
    "AccountUpdateView",
    "ContactActivitiesView",
    "ContactBulkView",
    "ContactConsentView",
    "ContactCreateView",
    "ContactDeleteView",
    "ContactDetailView",
    "ContactListView",
    "ContactMergeView",
    "ContactSearchView",
    "ContactUpdateView",
]
