"""Accounts: list (the account list's FilterSet, cursor pages), get, create, update, delete (`contacts.services`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import from_django_validation
from api.pagination import IdCursorPagination
from api.serializers.contacts import AccountSerializer
from api.views.base import ApiGenericView, errors
from contacts import selectors, services
from contacts.filters import AccountFilterSet
from contacts.models import Account


def _account(pk: int) -> Account:
    return get_object_or_404(selectors.account_queryset(), pk=pk)


class AccountListView(ApiGenericView):
    permission_map = {"GET": ("contacts.view_account",), "POST": ("contacts.add_account",)}
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    pagination_class = IdCursorPagination

    def get_queryset(self) -> QuerySet[Account]:
        return selectors.account_queryset()

    @extend_schema(
        operation_id="accounts_list",
        summary="List accounts",
        description="The account list's filters (q, country, industry). Ordered by id; follow `next`.",
        responses={200: AccountSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AccountSerializer(page, many=True).data)

    @extend_schema(
        operation_id="accounts_create",
        summary="Create an account",
        request=AccountSerializer,
        responses={201: AccountSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        serializer = AccountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            account = services.account_create(**serializer.validated_data)
        except ValidationError as exc:
            raise from_django_validation(exc) from None
        return Response(AccountSerializer(_account(account.pk)).data, status=status.HTTP_201_CREATED)


class AccountDetailView(ApiGenericView):
    permission_map = {
        "GET": ("contacts.view_account",),
        "PATCH": ("contacts.change_account",),
        "DELETE": ("contacts.delete_account",),
    }
    serializer_class = AccountSerializer

    @extend_schema(
        operation_id="accounts_retrieve", summary="Get an account", responses={200: AccountSerializer, **errors(404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(AccountSerializer(_account(pk)).data)

    @extend_schema(
        operation_id="accounts_update",
        summary="Update an account",
        request=AccountSerializer,
        responses={200: AccountSerializer, **errors(400, 404, 413)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        account = _account(pk)
        serializer = AccountSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            services.account_update(account=account, **serializer.validated_data)
        except ValidationError as exc:
            raise from_django_validation(exc) from None
        return Response(AccountSerializer(_account(pk)).data)

    @extend_schema(
        operation_id="accounts_destroy",
        summary="Delete an account",
        description="Its contacts are kept, unlinked (as the page does).",
        responses={204: OpenApiResponse(description="Deleted"), **errors(404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.account_delete(account=_account(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
