from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("", views.GroupListView.as_view(), name="group_list"),
    path("new/", views.GroupCreateView.as_view(), name="group_create"),
    path("builder/catalog/", views.catalog_view, name="builder_catalog"),
    path("builder/save/", views.save_as_group_view, name="builder_save_group"),
    path("filter/", views.contact_filter_view, name="contact_filter"),
    path("preview/", views.preview_view, name="rule_preview"),
    path("<int:pk>/", views.GroupMembersView.as_view(), name="group_detail"),
    path("<int:pk>/edit/", views.GroupUpdateView.as_view(), name="group_update"),
    path("<int:pk>/delete/", views.GroupDeleteView.as_view(), name="group_delete"),
    path("<int:pk>/members/count/", views.GroupMembersCountView.as_view(), name="group_members_count"),
    path("<int:pk>/members/add/", views.GroupMembersAddView.as_view(), name="group_members_add"),
    path("<int:pk>/members/remove/", views.GroupMembersRemoveView.as_view(), name="group_members_remove"),
    path("<int:pk>/members/<int:contact_pk>/why/", views.GroupMemberWhyView.as_view(), name="group_member_why"),
    path("<int:pk>/accounts/", views.GroupAccountsView.as_view(), name="group_accounts"),
    path("<int:pk>/history/", views.GroupHistoryView.as_view(), name="group_history"),
    path(
        "<int:pk>/history/last-rebuild/<str:kind>/",
        views.GroupRebuildChangesView.as_view(),
        name="group_rebuild_changes",
    ),
    path("<int:pk>/accounts/add/", views.GroupAccountsAddView.as_view(), name="group_accounts_add"),
    path(
        "<int:pk>/accounts/<int:account_pk>/remove/",
        views.GroupAccountsRemoveView.as_view(),
        name="group_accounts_remove",
    ),
    path("<int:pk>/copy/", views.GroupCopyView.as_view(), name="group_copy"),
    path("<int:pk>/rebuild/", views.GroupRebuildView.as_view(), name="group_rebuild"),
    path("<int:pk>/status/", views.GroupStatusView.as_view(), name="group_status"),
]
