from django.urls import path

from audit import views

app_name = "audit"

# Read only: there is no URL that changes or deletes an entry.
urlpatterns = [
    path("", views.AuditLogView.as_view(), name="entry_list"),
    path("export.csv", views.AuditExportView.as_view(), name="entry_export"),
    path("<int:pk>/", views.AuditEntryDetailView.as_view(), name="entry_detail"),
]
