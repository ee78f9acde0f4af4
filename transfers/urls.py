"""Import and export pages, under /imports/ and /exports/ (see config/urls.py)."""

from django.urls import path

from transfers.views import exports, imports

app_name = "transfers"

urlpatterns: list = [
    # --- imports (contacts, accounts) ------------------------------------------------------------------------
    path("imports/", imports.ImportListView.as_view(), name="import_list"),
    path("imports/new/", imports.ImportUploadView.as_view(), name="import_upload"),
    path("imports/new/accounts/", imports.AccountImportUploadView.as_view(), name="import_upload_accounts"),
    path("imports/<int:pk>/", imports.ImportDetailView.as_view(), name="import_detail"),
    path("imports/<int:pk>/mapping/", imports.ImportMappingView.as_view(), name="import_mapping"),
    path("imports/<int:pk>/preview/", imports.ImportPreviewView.as_view(), name="import_preview"),
    path("imports/<int:pk>/undo/", imports.ImportUndoView.as_view(), name="import_undo"),
    path("imports/<int:pk>/report.csv", imports.ImportReportCsvView.as_view(), name="import_report_csv"),
    # --- exports (contacts, group members, group definitions) --------------------------------------
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
