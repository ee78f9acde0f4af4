"""Import and export pages, under /imports/ and /exports/ (see config/urls.py)."""

from django.urls import path

from transfers.views import imports

app_name = "transfers"

urlpatterns: list = [
    path("imports/", imports.ImportListView.as_view(), name="import_list"),
    path("imports/new/", imports.ImportUploadView.as_view(), name="import_upload"),
    path("imports/<int:pk>/", imports.ImportDetailView.as_view(), name="import_detail"),
    path("imports/<int:pk>/mapping/", imports.ImportMappingView.as_view(), name="import_mapping"),
    path("imports/<int:pk>/preview/", imports.ImportPreviewView.as_view(), name="import_preview"),
    path("imports/<int:pk>/report.csv", imports.ImportReportCsvView.as_view(), name="import_report_csv"),
]
