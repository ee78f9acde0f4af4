"""User management for Admins: the users page, invitations, roles, deactivation and sign-in lockouts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from users import selectors, services
from users.forms import InviteForm, RoleForm

VIEW = "auth.view_user"
ADD = "auth.add_user"
CHANGE = "auth.change_user"


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _actor(request: HttpRequest) -> User:
    """The signed-in user (every view here needs a permission, so never anonymous)."""
    assert isinstance(request.user, User)
    return request.user


def _message_of(error: ValidationError) -> str:
    return " ".join(error.messages)


class UserListView(PermissionRequiredMixin, TemplateView):
    permission_required = VIEW
    template_name = "users/user_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            rows=selectors.user_rows(),
            locked=selectors.locked_sign_ins(),
            failure_limit=settings.AXES_FAILURE_LIMIT,
            cool_off=selectors.cool_off_text(),
            **kwargs,
        )


class UserInviteView(PermissionRequiredMixin, FormView):
    permission_required = ADD
    template_name = "users/user_invite.html"
    form_class = InviteForm

    def form_valid(self, form: InviteForm) -> HttpResponse:
        try:
            invitation = services.user_invite(
                actor=_actor(self.request), base_url=_base_url(self.request), **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        return render(self.request, "users/user_invited.html", {"invitation": invitation})


class UserDetailView(PermissionRequiredMixin, View):
    """One user: their role (a form), sessions, lockout and activation; each action posts back here."""

    permission_required = CHANGE
    model = User
    actions = ("role", "deactivate", "reactivate", "unlock", "sessions_end", "invite_resend")

    def page(self, request: HttpRequest, user: Any, *, form: RoleForm | None = None, error: str = "") -> HttpResponse:
        role = selectors.user_role(user=user)
        context = {
            "subject": user,
            "role": role,
            "form": form or RoleForm(initial={"role": role.value if role else None}),
            "error": error,
            "locked": [row for row in selectors.locked_sign_ins() if row.username == user.get_username()],
            "invited_pending": not user.has_usable_password(),
            "is_self": user.pk == request.user.pk,
        }
        return render(request, "users/user_detail.html", context, status=400 if error or form else 200)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page(request, get_object_or_404(User, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = get_object_or_404(User, pk=pk)
        action = request.POST.get("action", "")
        if action not in self.actions:
            return self.page(request, user, error="Unknown action: nothing was changed.")
        actor = _actor(request)
        form = RoleForm(request.POST)
        try:
            if action == "role":
                if not form.is_valid():
                    return self.page(request, user, form=form)
                services.user_role_set(user=user, role=form.cleaned_data["role"], actor=actor)
                messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role'].value}.")
            elif action == "deactivate":
                services.user_deactivate(user=user, actor=actor)
                messages.success(request, f"{user.get_username()} is deactivated and signed out everywhere.")
            elif action == "reactivate":
                services.user_reactivate(user=user, actor=actor)
                messages.success(request, f"{user.get_username()} can sign in again.")
            elif action == "unlock":
                services.user_unlock(username=user.get_username(), actor=actor)
                messages.success(request, f"{user.get_username()} may try signing in again.")
            elif action == "sessions_end":
                services.sessions_end_all(user=user, actor=actor)
                messages.success(request, f"{user.get_username()} is signed out on every device.")
            else:
                invitation = services.invite_resend(user=user, actor=actor, base_url=_base_url(request))
                return render(request, "users/user_invited.html", {"invitation": invitation})
        except ValidationError as error:
            if action == "role":
                form.add_error(None, error)  # {"role": …} lands on the role field
                return self.page(request, user, form=form)
            return self.page(request, user, error=_message_of(error))
        return redirect(reverse("users:user_detail", args=[user.pk]))


class LockoutUnlockView(PermissionRequiredMixin, View):
    """Unlock a username from the users page's list of locked-out sign-ins (also names no user has)."""

    permission_required = CHANGE

    def post(self, request: HttpRequest) -> HttpResponse:
        username = request.POST.get("username", "").strip()
        try:
            removed = services.user_unlock(username=username, actor=_actor(request))
        except ValidationError as error:
            messages.error(request, _message_of(error))
        else:
            if removed:
                messages.success(request, f"“{username}” may try signing in again.")
            else:
                messages.info(request, f"“{username}” was not locked out.")
        return redirect("users:user_list")
