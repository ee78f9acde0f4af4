"""Import and export pages, under /imports/ and /exports/ (see config/urls.py)."""

from django.urls import path

from transfers.views import exports

app_name = "transfers"

urlpatterns: list = []

# --- exports (contacts, group members, group definitions) ----------------------------------------
urlpatterns += [
    path("exports/contacts/", exports.ContactExportView.as_view(), name="export_contacts"),
    path("exports/groups/<int:pk>/", exports.GroupExportView.as_view(), name="export_group"),
    path("exports/group-definitions/", exports.GroupDefinitionsExportView.as_view(), name="group_definitions"),
    path("exports/group-definitions/<int:pk>/", exports.GroupDefinitionExportView.as_view(), name="group_definition"),
    path(
        "exports/group-definitions/import/",
        exports.GroupDefinitionsImportView.as_view(),
        name="group_definitions_import",
    ),
]
