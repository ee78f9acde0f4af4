"""Views for contact groups: thin, they validate with forms and call services and selectors."""

from segments.views.accounts import GroupAccountsAddView, GroupAccountsRemoveView, GroupAccountsView
from segments.views.builder import catalog_view, contact_filter_view, save_as_group_view
from segments.views.groups import (
    GroupCopyView,
    GroupCreateView,
    GroupDeleteView,
    GroupListView,
    GroupRebuildView,
    GroupStatusView,
    GroupUpdateView,
)
from segments.views.history import GroupHistoryView, GroupRebuildChangesView
from segments.views.members import (
    GroupMembersAddView,
    GroupMembersCountView,
    GroupMembersRemoveView,
    GroupMembersView,
    GroupMemberWhyView,
)
from segments.views.preview import preview_view

__all__ = [
    "GroupAccountsAddView",
    "GroupAccountsRemoveView",
    "GroupAccountsView",
    "GroupCopyView",
    "GroupCreateView",
    "GroupDeleteView",
    "GroupHistoryView",
    "GroupRebuildChangesView",
    "GroupListView",
    "GroupMemberWhyView",
    "GroupMembersAddView",
    "GroupMembersCountView",
    "GroupMembersRemoveView",
    "GroupMembersView",
    "GroupRebuildView",
    "GroupStatusView",
    "GroupUpdateView",
    "catalog_view",
    "contact_filter_view",
    "preview_view",
    "save_as_group_view",
]
