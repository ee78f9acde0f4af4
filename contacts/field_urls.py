from django.urls import path

from contacts import field_views

app_name = "fields"

urlpatterns = [
    path("", field_views.FieldListView.as_view(), name="field_list"),
    path("add/", field_views.FieldCreateView.as_view(), name="field_create"),
    path("reorder/", field_views.FieldReorderView.as_view(), name="field_reorder"),
    path("<slug:code>/", field_views.FieldUpdateView.as_view(), name="field_update"),
    path("<slug:code>/retire/", field_views.FieldRetireView.as_view(), name="field_retire"),
    path("<slug:code>/restore/", field_views.FieldRestoreView.as_view(), name="field_restore"),
]
