from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.ContactListView.as_view(), name="contact_list"),
    path("accounts/", views.ContactListView.as_view(), name="account_list"),
]
