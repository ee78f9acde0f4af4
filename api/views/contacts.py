"""Contacts: list (the contact list's FilterSet, cursor pages), get, create, update, upsert by email, delete,
and the groups a contact is in. Every write is a `contacts.services` call."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import from_django_validation
from api.pagination import IdCursorPagination
from api.serializers.contacts import (
    ContactGroupMembershipSerializer,
    ContactSerializer,
    ContactUpsertResultSerializer,
    ContactUpsertSerializer,
)
from api.views.base import ApiGenericView, errors
from contacts import selectors, services
from contacts.filters import ContactFilterSet
from contacts.models import Contact
from contacts.services import CONTACT_FIELDS

VIEW = ("contacts.view_contact",)


def service_error(exc: ValidationError) -> Exception:
    """A contacts service's ValidationError with API paths: custom field codes become "custom.<code>"."""
    keys = getattr(exc, "error_dict", {})
    return from_django_validation(exc, paths={k: f"custom.{k}" for k in keys if k not in CONTACT_FIELDS})


def _save(*, data: dict[str, Any], contact: Contact | None = None) -> Contact:
    """Create (contact None) or update a contact through the services; ValidationError as a 400."""
    custom = data.pop("custom", None)
    try:
        if contact is None:
            return services.contact_create(custom=custom, **data)
        return services.contact_update(contact=contact, custom=custom, **data)
    except ValidationError as exc:
        raise service_error(exc) from None


def _contact(pk: int) -> Contact:
    return get_object_or_404(Contact.objects.select_related("account"), pk=pk)


class ContactListView(ApiGenericView):
    """GET: contacts filtered like the contact list page (same parameters), in cursor pages by id. POST: create."""

    permission_map = {"GET": VIEW, "POST": ("contacts.add_contact",)}
    serializer_class = ContactSerializer
    filterset_class = ContactFilterSet
    pagination_class = IdCursorPagination

    def get_queryset(self) -> QuerySet[Contact]:
        return selectors.contact_queryset(include_merged=True)

    @extend_schema(
        operation_id="contacts_list",
        summary="List contacts",
        description=(
            "The contact list's filters (q, country, account, created_after, created_before, score_min, score_max, "
            "include_merged, and cf_<code>… for custom fields). Merged contacts are left out unless "
            "include_merged=true. Ordered by id; follow `next` for the next page."
        ),
        responses={200: ContactSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(
        operation_id="contacts_create",
        summary="Create a contact",
        request=ContactSerializer,
        responses={201: ContactSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        serializer = ContactSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = _save(data=dict(serializer.validated_data))
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class ContactDetailView(ApiGenericView):
    permission_map = {"GET": VIEW, "PATCH": ("contacts.change_contact",), "DELETE": ("contacts.delete_contact",)}
    serializer_class = ContactSerializer

    @extend_schema(
        operation_id="contacts_retrieve", summary="Get a contact", responses={200: ContactSerializer, **errors(404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ContactSerializer(_contact(pk)).data)

    @extend_schema(
        operation_id="contacts_update",
        summary="Update a contact",
        description="Only the fields sent change; `custom` values are merged into the contact's (null clears one).",
        request=ContactSerializer,
        responses={200: ContactSerializer, **errors(400, 404, 413)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        contact = _contact(pk)
        serializer = ContactSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        contact = _save(data=dict(serializer.validated_data), contact=contact)
        return Response(ContactSerializer(contact).data)

    @extend_schema(
        operation_id="contacts_destroy",
        summary="Delete a contact",
        description="Also deletes the contacts merged into it (as the page does).",
        responses={204: OpenApiResponse(description="Deleted"), **errors(404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.contact_delete(contact=_contact(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactUpsertView(ApiGenericView):
    """Create or update one contact by its email (a merged contact's email updates the contact it was merged into)."""

    permission_map = {"POST": ("contacts.add_contact", "contacts.change_contact")}
    serializer_class = ContactUpsertSerializer

    @extend_schema(
        operation_id="contacts_upsert",
        summary="Create or update a contact by email",
        request=ContactUpsertSerializer,
        responses={200: ContactUpsertResultSerializer, 201: ContactUpsertResultSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        serializer = ContactUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        with transaction.atomic():
            found = selectors.contact_ids_by_email(emails=[data["email"]]).get(data["email"].strip().lower())
            contact = None
            if found is not None:
                contact = _contact(found[0])
                while contact.merged_into_id is not None:
                    contact = _contact(contact.merged_into_id)
                data.pop("email")  # the same address (perhaps in other case): left as stored
            contact = _save(data=data, contact=contact)
        outcome = "created" if found is None else "updated"
        body = {"outcome": outcome, "contact": ContactSerializer(contact).data}
        return Response(body, status=status.HTTP_201_CREATED if found is None else status.HTTP_200_OK)


class ContactGroupsView(ApiGenericView):
    """The groups a contact is in, with each membership's sources and since when."""

    permission_map = {"GET": ("contacts.view_contact", "segments.view_membership")}
    serializer_class = ContactGroupMembershipSerializer
    pagination_class = None
    queryset = Contact.objects.none()  # tells the schema what the URL's id names

    @extend_schema(
        operation_id="contacts_groups",
        summary="Groups of a contact",
        responses={200: ContactGroupMembershipSerializer(many=True), **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        memberships = selectors.contact_memberships(contact=_contact(pk))
        return Response(ContactGroupMembershipSerializer(memberships, many=True).data)
