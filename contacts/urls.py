from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.ContactListView.as_view(), name="contact_list"),
    path("new/", views.ContactCreateView.as_view(), name="contact_create"),
    path("search/", views.ContactSearchView.as_view(), name="contact_search"),
    path("bulk/", views.ContactBulkView.as_view(), name="contact_bulk"),
    path("<int:pk>/", views.ContactDetailView.as_view(), name="contact_detail"),
    path("<int:pk>/edit/", views.ContactUpdateView.as_view(), name="contact_update"),
    path("<int:pk>/delete/", views.ContactDeleteView.as_view(), name="contact_delete"),
    path("<int:pk>/activities/", views.ContactActivitiesView.as_view(), name="contact_activities"),
    path("<int:pk>/consents/<int:consent_pk>/", views.ContactConsentView.as_view(), name="contact_consent"),
    path("<int:pk>/merge/", views.ContactMergeView.as_view(), name="contact_merge"),
    path("accounts/", views.AccountListView.as_view(), name="account_list"),
    path("accounts/new/", views.AccountCreateView.as_view(), name="account_create"),
    path("accounts/search/", views.AccountSearchView.as_view(), name="account_search"),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<int:pk>/edit/", views.AccountUpdateView.as_view(), name="account_update"),
    path("accounts/<int:pk>/delete/", views.AccountDeleteView.as_view(), name="account_delete"),
    path("accounts/<int:pk>/contacts/add/", views.AccountAddContactsView.as_view(), name="account_add_contacts"),
    path(
        "accounts/<int:pk>/contacts/<int:contact_pk>/remove/",
        views.AccountRemoveContactView.as_view(),
        name="account_remove_contact",
    ),
]
