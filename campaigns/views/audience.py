"""The live audience panel beside the campaign form (htmx): counts, reasons left out, group overlap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns import selectors
from campaigns.forms import AudienceForm
from campaigns.models import CampaignKind, Channel
from campaigns.selectors import AudienceSpec, Overlap


@dataclass(frozen=True)
class Circle:
    x: int
    y: int
    label: str
    colour: str
    text_x: int
    text_y: int


@dataclass(frozen=True)
class Label:
    x: int
    y: int
    count: int


# Euler diagram layouts for 1–3 groups: circle centres, where each group's name goes, and where each
# region's count goes (by bitmask: bit i = in group i).
SAMPLE = 5
R = 58
CENTRES = {1: [(150, 95)], 2: [(120, 95), (180, 95)], 3: [(122, 85), (178, 85), (150, 133)]}
NAME_AT = {1: [(150, 22)], 2: [(80, 22), (220, 22)], 3: [(70, 18), (230, 18), (150, 208)]}
COUNT_AT = {
    1: {1: (150, 100)},
    2: {1: (92, 100), 2: (208, 100), 3: (150, 100)},
    3: {1: (100, 72), 2: (200, 72), 4: (150, 165), 3: (150, 66), 5: (124, 124), 6: (176, 124), 7: (150, 102)},
}


def diagram(overlap: Overlap, excluded: set[int]) -> dict[str, Any] | None:
    """What the SVG draws (None for four groups: the region table says it all)."""
    n = len(overlap.groups)
    if not 1 <= n <= 3:
        return None
    circles = [
        Circle(x, y, g.name, "#dc3545" if g.pk in excluded else "#0d6efd", tx, ty)
        for (x, y), (tx, ty), g in zip(CENTRES[n], NAME_AT[n], overlap.groups, strict=True)
    ]
    labels = [Label(x, y, overlap.count(mask)) for mask, (x, y) in COUNT_AT[n].items()]
    return {"circles": circles, "labels": labels, "r": R, "height": 225 if n == 3 else 165}


@permission_required("campaigns.view_campaign", raise_exception=True)
def audience_panel_view(request: HttpRequest) -> HttpResponse:
    """GET with the campaign form's channel, include, exclude and required_consent → the panel."""
    form = AudienceForm(request.GET)
    if not form.is_valid():
        return render(request, "campaigns/_audience.html", {"errors": form.errors}, status=400)
    data = form.cleaned_data
    include = [g.pk for g in data["include"] or []]
    exclude = [g.pk for g in data["exclude"] or []]
    spec = AudienceSpec(
        channel=data["channel"] or Channel.EMAIL,
        include=tuple(include),
        exclude=tuple(g for g in exclude if g not in include),
        consent_id=data["required_consent"].pk if data["required_consent"] else None,
    )
    chosen = list(dict.fromkeys(include + exclude))
    overlap = selectors.group_overlap(group_ids=chosen)
    return render(
        request,
        "campaigns/_audience.html",
        {
            "breakdown": selectors.audience_breakdown(spec=spec) if include else None,
            "sample": list(selectors.audience_contacts(spec=spec).order_by("pk")[:SAMPLE]) if include else [],
            "email": spec.channel == Channel.EMAIL,
            "triggered": data.get("kind") == CampaignKind.TRIGGERED,
            "overlap": overlap,
            "diagram": diagram(overlap, set(exclude)),
            "excluded_ids": set(exclude),
            "more_groups": len(chosen) > selectors.MAX_GROUPS,
        },
    )


audience_panel_view.required_permissions = ("campaigns.view_campaign",)  # type: ignore[attr-defined]
