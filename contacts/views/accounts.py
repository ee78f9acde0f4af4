"""Account pages: list, detail with its contacts, create/edit/delete, add/remove contacts, search."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView

from contacts import selectors, services
from contacts.filters import AccountFilterSet
from contacts.forms import AccountForm, AddContactsForm
from contacts.models import Account, Contact
from contacts.pagination import CappedPaginator
from contacts.views.base import FilteredListView

ACCOUNT_CONTACTS_PAGE_SIZE = 25


class AccountListView(PermissionRequiredMixin, FilteredListView):
    permission_required = "contacts.view_account"
    template_name = "contacts/account_list.html"
    filterset_class = AccountFilterSet
    sorts = selectors.ACCOUNT_SORTS
    default_sort = selectors.ACCOUNT_DEFAULT_SORT
    paginate_by = 50

    def base_queryset(self) -> QuerySet[Account]:
        return selectors.account_queryset()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["sort_columns"] = [(key, label) for key, (label, _) in self.sorts.items()]
        return context


class AccountDetailView(PermissionRequiredMixin, DetailView):
    model = Account
    permission_required = "contacts.view_account"
    template_name = "contacts/account_detail.html"

    def get_queryset(self) -> QuerySet[Account]:
        return selectors.account_queryset()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        paginator = CappedPaginator(selectors.account_contacts(account=self.object), ACCOUNT_CONTACTS_PAGE_SIZE)
        page = paginator.get_page(self.request.GET.get("page"))
        context.update(
            page_obj=page,
            contacts=page.object_list,
            add_form=AddContactsForm(account=self.object),
        )
        return context


class AccountFormView(FormView):
    form_class = AccountForm
    template_name = "contacts/account_form.html"
    account: Account | None = None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        if self.account is not None:
            kwargs["instance"] = Account.objects.get(pk=self.account.pk)
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(account=self.account, **kwargs)

    def form_valid(self, form: AccountForm) -> HttpResponse:
        data = {name: form.cleaned_data[name] for name in AccountForm.Meta.fields}
        try:
            if self.account is None:
                account = services.account_create(**data)
            else:
                account = services.account_update(account=self.account, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Account “{account}” saved.")
        return redirect(account)


class AccountCreateView(PermissionRequiredMixin, AccountFormView):
    permission_required = "contacts.add_account"


class AccountUpdateView(PermissionRequiredMixin, AccountFormView):
    model = Account
    permission_required = "contacts.change_account"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.account = get_object_or_404(Account, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)


class AccountDeleteView(PermissionRequiredMixin, DetailView):
    model = Account
    permission_required = "contacts.delete_account"
    template_name = "contacts/account_confirm_delete.html"

    def get_queryset(self) -> QuerySet[Account]:
        return selectors.account_queryset()

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = get_object_or_404(Account, pk=pk)
        name = str(account)
        unlinked = services.account_delete(account=account)
        kept = f" Its {unlinked:,} contact{'s were' if unlinked != 1 else ' was'} kept, without an account."
        messages.success(request, f"Account “{name}” deleted.{kept if unlinked else ''}")
        return redirect("contacts:account_list")


class AccountAddContactsView(PermissionRequiredMixin, View):
    model = Account
    permission_required = ("contacts.change_account", "contacts.change_contact")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = get_object_or_404(Account, pk=pk)
        form = AddContactsForm(request.POST, account=account)
        if not form.is_valid():
            errors = form.errors.get("contacts") or ["Choose contacts to add."]
            messages.error(request, " ".join(str(e) for e in errors))
        else:
            ids = [c.pk for c in form.cleaned_data["contacts"]]
            added = services.account_add_contacts(account=account, contact_ids=ids)
            messages.success(request, f"{added:,} contact{'s' if added != 1 else ''} added to {account}.")
        return redirect(reverse("contacts:account_detail", args=[account.pk]) + "#contacts")


class AccountRemoveContactView(PermissionRequiredMixin, View):
    model = Account
    permission_required = ("contacts.change_account", "contacts.change_contact")

    def post(self, request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
        account = get_object_or_404(Account, pk=pk)
        contact = get_object_or_404(Contact, pk=contact_pk)
        if services.account_remove_contact(account=account, contact=contact):
            messages.success(request, f"{contact} removed from {account}; the contact itself is kept.")
        else:
            messages.warning(request, f"{contact} did not belong to {account}.")
        return redirect(reverse("contacts:account_detail", args=[account.pk]) + "#contacts")


class AccountSearchView(PermissionRequiredMixin, View):
    """JSON for pickers: {"results": [{"id": .., "text": ..}]}, at most 20."""

    permission_required = "contacts.view_account"

    def get(self, request: HttpRequest) -> JsonResponse:
        accounts = selectors.account_search(query=request.GET.get("q", "")[:200])
        return JsonResponse({"results": [{"id": a.pk, "text": selectors.account_picker_label(a)} for a in accounts]})
