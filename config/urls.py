from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from campaigns.views.sms_inbound import sms_inbound_view
from campaigns.views.tracking import click_view, open_view
from campaigns.views.unsubscribe import unsubscribe_view
from segments.views.dashboard import DashboardView


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico (asked for by browsers and tools that do not read the page's <link rel="icon">)."""
    return redirect(static("img/favicon.ico"))


# The app's error page (503 while the database is away); 403/404 use Django's handlers with our templates.
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", DashboardView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("contacts/", include("contacts.urls")),
    path("settings/fields/", include("contacts.field_urls")),
    path("groups/", include("segments.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("u/<str:token>/", unsubscribe_view, name="unsubscribe"),  # a sent message's unsubscribe link (no sign-in)
    path("t/o/<str:token>.gif", open_view, name="track_open"),  # open pixel of a sent email (no sign-in)
    path("t/c/<str:token>/", click_view, name="track_click"),  # click redirect of a sent email (no sign-in)
    path("sms/inbound/", sms_inbound_view, name="sms_inbound"),  # the SMS provider's webhook: STOP replies (secret)
    path("", include("transfers.urls")),
    path("api/", include("api.urls")),
    path("account/api-tokens/", include("api.token_urls")),
    path("users/", include("users.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("audit/", include("audit.urls")),
    path("account/", include("users.account_urls")),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("", include("health.urls")),  # /healthz, /readyz (no sign-in)
]
