from django.urls import path

from users import views

app_name = "users"

urlpatterns = [
    path("", views.UserListView.as_view(), name="user_list"),
    path("invite/", views.UserInviteView.as_view(), name="user_invite"),
    path("<int:pk>/", views.UserDetailView.as_view(), name="user_detail"),
    path("unlock/", views.LockoutUnlockView.as_view(), name="lockout_unlock"),
]
