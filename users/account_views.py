"""Pages every signed-in user has for their own sign-in: password, log out everywhere; and the invitation link."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from users import services


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's own password; every other session of the user ends (Django's session hash)."""

    template_name = "users/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password is changed. Your other sessions are signed out.")
        return response


@method_decorator(login_not_required, name="dispatch")
class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The one-time link from an invitation: choose a password, then sign in."""

    template_name = "users/password_set.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, f"Your password is set. Sign in as {form.user.get_username()}.")
        return response


@require_POST
def logout_everywhere_view(request: HttpRequest) -> HttpResponse:
    """End every session of the signed-in user, this one included."""
    user = request.user
    assert isinstance(user, User)  # login required
    services.sessions_end_all(user=user, actor=user)
    logout(request)
    messages.success(request, "You are signed out on every device.")
    return redirect("login")
