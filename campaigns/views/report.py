"""Report tab of a sent campaign (summary, breakdowns, opens over time, links, who clicked) and the
"who clicked" export; the group page's Campaigns tab (how the group's recipients responded)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.text import slugify
from django.views import View
from django.views.generic import TemplateView

from campaigns.models import LOCKED_STATUSES
from campaigns.selectors.clicks import (
    EXPORT_HEADER,
    clickers_page,
    clicks_export_count,
    clicks_export_rows,
)
from campaigns.selectors.group_report import group_campaigns_page
from campaigns.selectors.report import campaign_links, campaign_report, campaign_timeline
from campaigns.views.base import CampaignMixin
from segments.views.base import GroupMixin
from transfers.exports.writers import EXCEL_MAX_ROWS, csv_chunks, xlsx_chunks

CLICKERS_PER_PAGE = 25
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CampaignReportView(CampaignMixin, TemplateView):
    """GET: the results of a sent (or sending) campaign; before the send, a note that there is nothing yet."""

    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_report.html"
    tab = "report"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        campaign = self.campaign
        context = {**super().get_context_data(**kwargs), **self.campaign_context()}
        if campaign.status not in LOCKED_STATUSES:
            return context
        report = campaign_report(campaign=campaign)
        context["report"] = report
        if campaign.is_email:
            timeline = campaign_timeline(campaign=campaign)
            page_obj, clickers = clickers_page(
                campaign=campaign, page=self.request.GET.get("page"), per_page=CLICKERS_PER_PAGE
            )
            context |= {
                "timeline": timeline,
                "timezone_name": timezone.get_current_timezone_name(),
                "chart_data": timeline.chart_data(),
                "links": campaign_links(campaign=campaign),
                "page_obj": page_obj,
                "clickers": clickers,
            }
        return context


class CampaignClicksExportView(CampaignMixin, View):
    """GET ?format=csv|xlsx: the contacts who clicked, one row per contact and link, streamed as it is read."""

    permission_required = "campaigns.view_campaign"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        campaign = self.campaign
        kind = request.GET.get("format", "csv")
        if kind not in ("csv", "xlsx"):
            return HttpResponse("format: choose csv or xlsx.", status=400, content_type="text/plain")
        batches = clicks_export_rows(campaign=campaign)
        if kind == "xlsx":
            rows = clicks_export_count(campaign=campaign)
            if rows > EXCEL_MAX_ROWS - 1:
                message = f"{rows:,} rows do not fit in an Excel sheet: export CSV instead."
                return HttpResponse(message, status=400, content_type="text/plain")
            chunks = xlsx_chunks(header=EXPORT_HEADER, batches=batches, sheet_name="Clicks")
            response = StreamingHttpResponse(chunks, content_type=XLSX)
        else:
            chunks = csv_chunks(header=EXPORT_HEADER, batches=batches, bom=request.GET.get("bom") == "1")
            response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
        name = f"clicks-{slugify(campaign.name) or campaign.pk}-{timezone.localdate():%Y-%m-%d}.{kind}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class GroupCampaignsView(GroupMixin, TemplateView):
    """The group's Campaigns tab: the campaigns that included it, with its recipients' results."""

    permission_required = ("segments.view_contactgroup", "campaigns.view_campaign")
    template_name = "campaigns/group_campaigns.html"
    tab = "campaigns"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page_obj, rows = group_campaigns_page(group=self.group, page=self.request.GET.get("page"))
        return {
            **super().get_context_data(**kwargs),
            **self.group_context(),
            "page_obj": page_obj,
            "rows": rows,
            "unrecorded": any(not row.recorded for row in rows),
        }
