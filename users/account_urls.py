"""/account/: a signed-in user's own sign-in settings, and the invitation's set-password link."""

from django.urls import path

from users import account_views

app_name = "account"

urlpatterns = [
    path("password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("logout-everywhere/", account_views.logout_everywhere_view, name="logout_everywhere"),
    path("set-password/<uidb64>/<token>/", account_views.PasswordSetView.as_view(), name="password_set"),
]
