from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("", views.GroupListView.as_view(), name="group_list"),
    path("<int:pk>/", views.GroupDetailView.as_view(), name="group_detail"),
]
