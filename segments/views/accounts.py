"""The Accounts tab: the accounts whose contacts belong to the group; add and remove them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import ListView

from contacts.models import Account
from contacts.pagination import NearestPageMixin
from segments import services
from segments.forms import AccountsPickForm
from segments.models import GroupAccount
from segments.views.base import GroupMixin


class GroupAccountsView(GroupMixin, NearestPageMixin, ListView):
    permission_required = "segments.view_groupaccount"
    template_name = "segments/group_accounts.html"
    paginate_by = 50
    tab = "accounts"

    def get_queryset(self) -> QuerySet[GroupAccount]:
        # contact_count: what the remove confirmation says leaves (50 accounts a page, one count each)
        return (
            GroupAccount.objects.filter(group=self.group)
            .select_related("account")
            .annotate(contact_count=Count("account__contacts", filter=Q(account__contacts__merged_into__isnull=True)))
            .order_by("account__name")
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **self.group_context(), "add_form": AccountsPickForm()}


class GroupAccountsAddView(GroupMixin, View):
    permission_required = "segments.add_groupaccount"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = AccountsPickForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Pick at least one account to add.")
        else:
            accounts = Account.objects.filter(pk__in=[a.pk for a in form.cleaned_data["accounts"]])
            change = services.group_add_accounts(group=self.group, accounts=accounts, actor_id=request.user.pk)
            messages.success(
                request,
                f"{(n := accounts.count()):,} account{'' if n == 1 else 's'} added; "
                f"{change.added:,} of their contacts joined the group.",
            )
        return redirect(self.back("segments:group_accounts"))


class GroupAccountsRemoveView(GroupMixin, View):
    permission_required = "segments.delete_groupaccount"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = get_object_or_404(Account, pk=kwargs["account_pk"])
        change = services.group_remove_accounts(
            group=self.group, accounts=Account.objects.filter(pk=account.pk), actor_id=request.user.pk
        )
        messages.success(request, f"“{account.name}” removed; {change.removed} of its contacts left the group.")
        return redirect(self.back("segments:group_accounts"))
