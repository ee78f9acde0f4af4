"""Contact groups: list, get, create, update, delete, rebuild and its status, and the Why? explanation.

Every write is a `segments.services` / `segments.rebuilds` call, with the refusals the pages show; a bad
rule tree is a 400 whose path names the node ("condition.root.children[2].value"), the builder's message.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError, from_django_validation
from api.pagination import IdCursorPagination
from api.serializers.groups import ExplainSerializer, GroupSerializer, GroupUpdateSerializer, RebuildStatusSerializer
from api.views.base import ApiGenericView, errors
from contacts.models import Contact
from segments import rebuilds, services
from segments.filters import GroupFilterSet
from segments.models import GROUP_CODE_VALIDATOR, ContactGroup, GroupAccount, Membership
from segments.rules import RuleError

VIEW = ("segments.view_contactgroup",)

CONFLICT = OpenApiResponse(description="Refused: the group is used elsewhere, or is not condition-based")


def is_group_code(code: str) -> bool:
    """True when `code` has the form of a group code (letters, digits, underscores: never a NUL character)."""
    try:
        GROUP_CODE_VALIDATOR(code)
    except ValidationError:
        return False
    return True


def group_for(code: str) -> ContactGroup:
    """The group with this code; 404 for a code no group can have (never sent to the database as is)."""
    if not is_group_code(code):
        raise Http404("No group has this code.")
    return get_object_or_404(ContactGroup, code=code)


def rule_error(error: RuleError, *, prefix: str = "condition") -> ApiError:
    """The rule engine's error (the builder's path and message) as a 400."""
    path = f"{prefix}.{error.path}" if prefix else error.path
    return ApiError(f"{path}: {error.message}", code="invalid_rule", path=path)


def _write(call: Any, **kwargs: Any) -> ContactGroup:
    try:
        return call(**kwargs)
    except RuleError as error:
        raise rule_error(error) from None
    except ValidationError as exc:
        raise from_django_validation(exc) from None


class GroupListView(ApiGenericView):
    permission_map = {"GET": VIEW, "POST": ("segments.add_contactgroup",)}
    serializer_class = GroupSerializer
    filterset_class = GroupFilterSet
    pagination_class = IdCursorPagination

    def get_queryset(self) -> QuerySet[ContactGroup]:
        return ContactGroup.objects.all()

    @extend_schema(
        operation_id="groups_list",
        summary="List groups",
        description="The group list's filters (q, kind=static|condition). Ordered by id; follow `next`.",
        responses={200: GroupSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(GroupSerializer(page, many=True).data)

    @extend_schema(
        operation_id="groups_create",
        summary="Create a group",
        description="With a `condition` (a rule tree) the group is condition-based and its first rebuild is queued.",
        request=GroupSerializer,
        responses={201: GroupSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        serializer = GroupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        group = _write(
            services.group_create,
            code=data["code"],
            name=data["name"],
            description=data["description"],
            is_condition_based=data["condition"] is not None,
            condition=data["condition"],
            scheduled_rebuild=data["scheduled_rebuild"],
        )
        group.refresh_from_db()  # the queued rebuild's status is written by an UPDATE
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupDetailView(ApiGenericView):
    permission_map = {
        "GET": VIEW,
        "PATCH": ("segments.change_contactgroup",),
        "DELETE": ("segments.delete_contactgroup",),
    }
    serializer_class = GroupSerializer

    @extend_schema(
        operation_id="groups_retrieve",
        summary="Get a group",
        description="With its rule tree (`condition`) and the tree as a sentence (`summary`).",
        responses={200: GroupSerializer, **errors(404)},
    )
    def get(self, request: Request, code: str) -> Response:
        return Response(GroupSerializer(group_for(code)).data)

    @extend_schema(
        operation_id="groups_update",
        summary="Update a group",
        description="Only the fields sent change. A changed condition queues a rebuild; `condition: null` makes "
        "the group static.",
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **errors(400, 404, 413)},
    )
    def patch(self, request: Request, code: str) -> Response:
        group = group_for(code)
        serializer = GroupUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        condition = data.get("condition", group.condition)
        is_condition_based = condition is not None if "condition" in data else group.is_condition_based
        group = _write(
            services.group_update,
            group=group,
            name=data.get("name", group.name),
            description=data.get("description", group.description),
            is_condition_based=is_condition_based,
            condition=condition,
            scheduled_rebuild=data.get("scheduled_rebuild", group.scheduled_rebuild),
        )
        return Response(GroupSerializer(group_for(group.code)).data)

    @extend_schema(
        operation_id="groups_destroy",
        summary="Delete a group",
        description="Refused (409, code group_in_use) while another group's condition or a campaign uses it.",
        responses={204: OpenApiResponse(description="Deleted"), 409: CONFLICT, **errors(404)},
    )
    def delete(self, request: Request, code: str) -> Response:
        try:
            services.group_delete(group=group_for(code))
        except services.GroupInUse as exc:
            raise ApiError(str(exc), code="group_in_use", status_code=status.HTTP_409_CONFLICT) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


def rebuild_status(group: ContactGroup) -> dict[str, Any]:
    group.refresh_from_db()
    return {
        "code": group.code,
        "rebuild_status": group.rebuild_state,
        "rebuilding": group.is_rebuilding,
        "rebuild_error": group.rebuild_error,
        "last_rebuild_finished_at": group.last_rebuild_finished_at,
        "last_rebuild_added": group.last_rebuild_added,
        "last_rebuild_removed": group.last_rebuild_removed,
        "member_count": group.member_count,
        "status_url": reverse("api:group_status", args=[group.code]),
    }


class GroupRebuildView(ApiGenericView):
    """Queue a rebuild, as the Rebuild button does; poll the status URL until `rebuilding` is false."""

    permission_map = {"POST": ("segments.change_contactgroup",)}
    serializer_class = RebuildStatusSerializer

    @extend_schema(
        operation_id="groups_rebuild",
        summary="Queue a rebuild",
        request=None,
        responses={202: RebuildStatusSerializer, 409: CONFLICT, **errors(404)},
    )
    def post(self, request: Request, code: str) -> Response:
        group = group_for(code)
        if not group.is_condition_based:
            raise ApiError(
                "Only condition-based groups can be rebuilt.",
                code="not_condition_based",
                status_code=status.HTTP_409_CONFLICT,
            )
        rebuilds.group_rebuild_request(group=group)
        body = rebuild_status(group)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


class GroupStatusView(ApiGenericView):
    permission_map = {"GET": VIEW}
    serializer_class = RebuildStatusSerializer

    @extend_schema(
        operation_id="groups_status",
        summary="Rebuild status",
        responses={200: RebuildStatusSerializer, **errors(404)},
    )
    def get(self, request: Request, code: str) -> Response:
        return Response(rebuild_status(group_for(code)))


class GroupExplainView(ApiGenericView):
    """Why is this contact in (or not in) this group: the Why? page as JSON."""

    permission_map = {"GET": ("segments.view_membership",)}
    serializer_class = ExplainSerializer

    @extend_schema(
        operation_id="groups_explain",
        summary="Why is a contact (not) a member",
        description="Its sources, since when, the linked account, and the condition's verdict node by node.",
        responses={200: ExplainSerializer, **errors(404)},
    )
    def get(self, request: Request, code: str, contact_id: int) -> Response:
        group = group_for(code)
        contact = get_object_or_404(Contact, pk=contact_id)
        membership = Membership.objects.filter(group=group, contact=contact).first()
        linked = (
            contact.account_id
            if contact.account_id and GroupAccount.objects.filter(group=group, account_id=contact.account_id).exists()
            else None
        )
        explanation = services.group_explain(group=group, contact=contact)
        sources = [s for s in ("manual", "account", "condition") if membership and getattr(membership, f"via_{s}")]
        return Response(
            ExplainSerializer(
                {
                    "group": group.code,
                    "contact_id": contact.pk,
                    "member": membership is not None,
                    "sources": sources,
                    "member_since": membership.added_at if membership else None,
                    "linked_account": linked,
                    "condition": explanation.to_dict() if explanation is not None else None,
                }
            ).data
        )
