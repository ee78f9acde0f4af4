"""Activities: record one (POST /activities/) or a batch of up to API_MAX_BATCH (POST /activities/batch/), how a
website or shop feeds behaviour in. All or nothing: any invalid item refuses the whole request (400, every
item's problems with paths like "activities[3].type") and nothing is recorded. Writes go through
`contacts.services.activities_record`, which keeps `last_activity_at` true and notes the contacts for the
group re-checks in the same transaction. An `Idempotency-Key` header makes a retry record nothing twice."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import flatten
from api.idempotency import PARAMETER, idempotent
from api.serializers.activities import (
    ActivityBatchResultSerializer,
    ActivityBatchSerializer,
    ActivityInSerializer,
    ActivitySerializer,
    activities_json,
)
from api.views.base import ApiGenericView, errors
from campaigns.models import Campaign
from contacts import selectors, services
from contacts.in_list import in_values
from contacts.models import Contact
from contacts.services import ActivityRow

PERMISSIONS = ("contacts.add_activity",)
Problem = tuple[str, str, str]  # (path, message, code)


def batch_limit() -> int:
    return int(getattr(settings, "API_MAX_BATCH", 1000))


def _refuse(problems: list[Problem]) -> exceptions.ValidationError:
    """Every problem as one 400 (the error handler lists them in `details`, the first in `message`)."""
    detail: dict[str, list[serializers.ErrorDetail]] = {}
    for path, message, code in problems:
        detail.setdefault(path, []).append(serializers.ErrorDetail(message, code=code))
    return exceptions.ValidationError(detail)


def _checked(items: list[Any], prefix: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Each item validated for shape and types (paths like "activities[3].type"; prefix "" for a single one).

    TRICKY: one serializer for the whole list (its fields are built and deep-copied once), not one per item:
    a serializer per item spent half of a 1,000-item batch copying field objects.
    """
    serializer = ActivityInSerializer(many=True, data=items)
    if serializer.is_valid():
        return [dict(item) for item in serializer.validated_data], []
    problems: list[Problem] = []
    errors: Any = serializer.errors  # by item index: a dict (DRF ≥ 3.20's form) or a list with {} for good items
    for index, item_errors in errors.items() if isinstance(errors, dict) else enumerate(errors):
        if item_errors:
            problems += list(flatten(item_errors, f"{prefix}[{index}]" if prefix else ""))
    return [], problems


def _contacts(items: list[dict[str, Any]], prefix: str) -> tuple[list[int], list[Problem]]:
    """The contact id each item names (by id or email; a merged contact's: the contact it was merged into)."""
    by_email = selectors.contact_ids_by_email(emails=[i["email"] for i in items if "email" in i])
    ids = {i["contact"] for i in items if "contact" in i}
    merged = dict(Contact.objects.filter(pk__in=in_values(ids)).values_list("pk", "merged_into_id"))
    wanted = {i["campaign"] for i in items if i.get("campaign")}
    campaigns = set(Campaign.objects.filter(pk__in=in_values(wanted)).values_list("pk", flat=True)) if wanted else set()
    result, problems = [], []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]." if prefix else ""
        if "email" in item:
            found = by_email.get(item["email"].strip().lower())
            if found is None:
                problems.append((f"{where}email", "No contact has this email address.", "not_found"))
                continue
            pk, into = found
        elif item["contact"] in merged:
            pk, into = item["contact"], merged[item["contact"]]
        else:
            problems.append((f"{where}contact", f"No contact with id {item['contact']}.", "not_found"))
            continue
        if item.get("campaign") and item["campaign"] not in campaigns:
            problems.append((f"{where}campaign", f"No campaign with id {item['campaign']}.", "not_found"))
        result.append(into or pk)
    return result, problems


def _record(items: list[Any], prefix: str) -> list[Any]:
    """Validate every item, then record them all in one transaction; a 400 naming every problem otherwise."""
    valid, problems = _checked(items, prefix)
    if problems:
        raise _refuse(problems)
    contact_ids, problems = _contacts(valid, prefix)
    if problems:
        raise _refuse(problems)
    now = timezone.now()
    rows = [
        ActivityRow(
            contact_id=contact_id,
            type=item["type"],
            occurred_at=item.get("occurred_at") or now,
            url=item.get("url", ""),
            title=item.get("title", ""),
            value=item.get("value"),
            data=item.get("data") or {},
            campaign_id=item.get("campaign"),
        )
        for contact_id, item in zip(contact_ids, valid, strict=True)
    ]
    return services.activities_record(rows=rows)


class ActivityCreateView(ApiGenericView):
    permission_map = {"POST": PERMISSIONS}
    serializer_class = ActivityInSerializer

    @extend_schema(
        operation_id="activities_create",
        summary="Record an activity",
        description=(
            "The contact by `contact` (id) or `email`; `type` one of the activity types. Send an "
            "`Idempotency-Key` header so that a retry records nothing twice."
        ),
        parameters=[PARAMETER],
        request=ActivityInSerializer,
        responses={201: ActivitySerializer, **errors(400, 409, 413)},
    )
    def post(self, request: Request) -> Response:
        def run() -> Response:
            if not isinstance(request.data, dict):
                raise _refuse([("", "Send one activity as a JSON object.", "invalid")])
            [activity] = _record([request.data], "")
            return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)

        return idempotent(request, run)


class ActivityBatchView(ApiGenericView):
    permission_map = {"POST": PERMISSIONS}
    serializer_class = ActivityBatchSerializer

    @extend_schema(
        operation_id="activities_batch",
        summary="Record a batch of activities",
        description=(
            "Up to API_MAX_BATCH (1,000) activities, all or nothing: one invalid item refuses the request (every "
            "problem listed, paths like `activities[3].type`) and nothing is recorded. Send an `Idempotency-Key` "
            "header so that a retry records nothing twice."
        ),
        parameters=[PARAMETER],
        request=inline_serializer("ActivityBatchRequest", {"activities": ActivityInSerializer(many=True)}),
        responses={201: ActivityBatchResultSerializer, **errors(400, 409, 413)},
    )
    def post(self, request: Request) -> Response:
        def run() -> Response:
            serializer = ActivityBatchSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            items = serializer.validated_data["activities"]
            if len(items) > batch_limit():
                raise _refuse([("activities", f"At most {batch_limit():,} activities per request.", "too_many")])
            activities = _record(items, "activities")
            body = {"recorded": len(activities), "activities": activities_json(activities)}
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, run)
