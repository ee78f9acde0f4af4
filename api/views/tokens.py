"""The API tokens page (user menu → API tokens): create (the token is shown once), list and revoke.

Everyone manages their own tokens; Admins (api.manage_all_tokens) see and revoke everyone's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from api.forms import TokenForm
from api.models import ApiToken
from api.tokens import token_create, token_revoke, tokens_visible


class TokenListView(PermissionRequiredMixin, View):
    permission_required = ("api.view_apitoken", "api.add_apitoken")
    model = ApiToken
    template_name = "api/token_list.html"

    def render_page(self, request: HttpRequest, form: TokenForm, **extra: Any) -> HttpResponse:
        context = {
            "form": form,
            "tokens": tokens_visible(user=request.user),
            "all_users": request.user.has_perm("api.manage_all_tokens"),
            **extra,
        }
        response = render(request, self.template_name, context)
        response["Cache-Control"] = "no-store"  # the page may hold a new token's text
        return response

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_page(request, TokenForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TokenForm(request.POST)
        if not form.is_valid():
            return self.render_page(request, form)
        token, text = token_create(user=request.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"])
        return self.render_page(request, TokenForm(), new_token=token, new_token_text=text)


class TokenRevokeView(PermissionRequiredMixin, View):
    permission_required = "api.change_apitoken"
    model = ApiToken

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(tokens_visible(user=request.user), pk=pk)
        if token_revoke(token=token):
            messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
        else:
            messages.info(request, f"Token “{token.name}” was revoked already.")
        return redirect("tokens:token_list")
