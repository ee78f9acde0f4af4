from django.urls import path

from contacts import field_views

app_name = "fields"

urlpatterns = [
    path("", field_views.FieldListView.as_view(), name="field_list"),
]
