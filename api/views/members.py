"""A group's members (the Members tab's filters and selector, in cursor pages by contact id) and the
members and accounts added or removed by hand (`segments.services`, history cause "api")."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api.serializers.common import IdListSerializer
from api.serializers.groups import MemberChangeSerializer, MemberSerializer, MembersPageSerializer
from api.views.base import ApiGenericView, errors
from api.views.groups import group_for
from contacts.models import Account, Contact
from segments import services
from segments.filters import MembershipFilterSet
from segments.memberships import SourceChange
from segments.models import Cause, Membership
from segments.selectors import members_page

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _positive(request: Request, name: str, default: int | None, maximum: int) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise exceptions.ValidationError({name: [f"A whole number from 1 to {maximum:,}."]})
    return int(value)


class GroupMembersView(ApiGenericView):
    """GET: members with their sources and member since. POST: add contacts by hand."""

    permission_map = {"GET": ("segments.view_membership",), "POST": ("segments.add_membership",)}
    serializer_class = MemberSerializer

    @extend_schema(
        operation_id="groups_members_list",
        summary="Members of a group",
        description="Filtered like the Members tab (q: a search of names and emails; source). Ordered by contact "
        "id; `next` is the next page's URL (cursor: the last contact id of the previous page).",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Search names and emails"),
            OpenApiParameter("source", OpenApiTypes.STR, enum=["manual", "account", "condition"]),
            OpenApiParameter("cursor", OpenApiTypes.INT, description="Members after this contact id"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1 to {MAX_PAGE_SIZE} (default {PAGE_SIZE})"),
        ],
        responses={200: MembersPageSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, code: str) -> Response:
        group = group_for(code)
        filterset = MembershipFilterSet(request.query_params, queryset=Membership.objects.filter(group=group))
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        source, search = filterset.cleaned()
        size = _positive(request, "page_size", PAGE_SIZE, MAX_PAGE_SIZE) or PAGE_SIZE
        after = _positive(request, "cursor", None, 2**63 - 1)
        rows = members_page(
            group=group,
            ordering=[F("id").asc()],
            offset=0,
            limit=size + 1,
            source=source,
            search=search,
            after=[after] if after is not None else None,
        )
        more = len(rows) > size
        rows = rows[:size]
        next_url = (
            replace_query_param(request.build_absolute_uri(), "cursor", rows[-1].contact_id) if more and rows else None
        )
        return Response({"next": next_url, "results": MemberSerializer(rows, many=True).data})

    @extend_schema(
        operation_id="groups_members_add",
        summary="Add contacts by hand",
        request=IdListSerializer,
        responses={200: MemberChangeSerializer, **errors(400, 404, 413)},
    )
    def post(self, request: Request, code: str) -> Response:
        return _changed(request, code, Contact, lambda group, found, actor_id: services.group_add_contacts(
            group=group, contacts=found, actor_id=actor_id, cause=Cause.API
        ))  # fmt: skip


class GroupMembersRemoveView(ApiGenericView):
    permission_map = {"POST": ("segments.delete_membership",)}
    serializer_class = MemberChangeSerializer

    @extend_schema(
        operation_id="groups_members_remove",
        summary="Remove contacts added by hand",
        description="Takes the manual source away; contacts also in through their account or the condition stay.",
        request=IdListSerializer,
        responses={200: MemberChangeSerializer, **errors(400, 404, 413)},
    )
    def post(self, request: Request, code: str) -> Response:
        return _changed(request, code, Contact, lambda group, found, actor_id: services.group_remove_contacts(
            group=group, contacts=found, actor_id=actor_id, cause=Cause.API
        ))  # fmt: skip


class GroupAccountsView(ApiGenericView):
    permission_map = {"POST": ("segments.add_groupaccount",)}
    serializer_class = MemberChangeSerializer

    @extend_schema(
        operation_id="groups_accounts_add",
        summary="Link accounts",
        description="All their contacts become members from account, now and later.",
        request=IdListSerializer,
        responses={200: MemberChangeSerializer, **errors(400, 404, 413)},
    )
    def post(self, request: Request, code: str) -> Response:
        return _changed(request, code, Account, lambda group, found, actor_id: services.group_add_accounts(
            group=group, accounts=found, actor_id=actor_id
        ))  # fmt: skip


class GroupAccountsRemoveView(ApiGenericView):
    permission_map = {"POST": ("segments.delete_groupaccount",)}
    serializer_class = MemberChangeSerializer

    @extend_schema(
        operation_id="groups_accounts_remove",
        summary="Unlink accounts",
        description="Their contacts lose the account source (other sources stay).",
        request=IdListSerializer,
        responses={200: MemberChangeSerializer, **errors(400, 404, 413)},
    )
    def post(self, request: Request, code: str) -> Response:
        return _changed(request, code, Account, lambda group, found, actor_id: services.group_remove_accounts(
            group=group, accounts=found, actor_id=actor_id
        ))  # fmt: skip


def _changed(
    request: Request, code: str, model: type[Contact] | type[Account], change: Callable[..., SourceChange]
) -> Response:
    """Apply `change(group=, found=, actor_id=)` to the listed ids of `model` that exist; report what happened."""
    group = group_for(code)
    ids = _ids(request)
    found = model.objects.filter(pk__in=ids)
    return Response(_report(ids, found, change(group=group, found=found, actor_id=request.user.pk)))


def _ids(request: Request) -> list[int]:
    serializer = IdListSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return sorted(set(serializer.validated_data["ids"]))


def _report(ids: list[int], found: object, change: SourceChange) -> dict[str, object]:
    existing = set(found.values_list("pk", flat=True))  # type: ignore[attr-defined]
    return {
        "requested": len(ids),
        "missing": [pk for pk in ids if pk not in existing],
        "added": change.added,
        "removed": change.removed,
    }
