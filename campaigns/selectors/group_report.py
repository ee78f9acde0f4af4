"""How a group's members responded to the campaigns that included the group (the group's Campaigns tab).

"Members" means the recipients who were in the group when the campaign's audience was frozen
(Delivery.included_groups), not today's members; for deliveries frozen before that was recorded, today's
members stand in (the row says so). Each campaign also gets its overall figures, to compare with.
One statement for a page of campaigns: their deliveries, grouped by campaign and "in the group".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from campaigns.models import Campaign, CampaignStatus, Delivery, GroupRole, Unsubscribe
from campaigns.selectors.report import (
    Stats,
    db_table,
    engagement_cte,
    engagement_joins,
    fetch_all,
    included_group_bits,
    stats_columns,
    stats_of,
)
from segments.models import ContactGroup, Membership

SENT_STATUSES = (CampaignStatus.SENDING, CampaignStatus.SENT, CampaignStatus.FAILED)


@dataclass
class GroupCampaignRow:
    campaign: Campaign
    group: Stats  # the recipients who were in the group
    overall: Stats  # every recipient of the campaign
    recorded: bool = True  # False: "in the group" is today's membership (deliveries frozen before it was kept)


def group_campaigns(*, group: ContactGroup) -> QuerySet[Campaign]:
    """The campaigns that included the group and have been sent (or are sending), latest send first."""
    return (
        Campaign.objects.filter(group_links__group=group, group_links__role=GroupRole.INCLUDE, status__in=SENT_STATUSES)
        .distinct()
        .order_by("-send_started_at", "-id")
    )


def group_campaign_stats(*, group: ContactGroup, campaigns: list[Campaign]) -> list[GroupCampaignRow]:
    """Each campaign's figures for the group's recipients and overall: ONE statement over their deliveries."""
    if not campaigns:
        return []
    ids = [c.pk for c in campaigns]
    bits = {
        pk: next((bit for g, bit in links if g.pk == group.pk), None)
        for pk, links in included_group_bits(campaign_ids=ids).items()
    }
    recorded = [(pk, bit) for pk, bit in bits.items() if bit is not None]
    in_ids = ", ".join(["%s"] * len(ids))
    member = f"EXISTS (SELECT 1 FROM {db_table(Membership)} m WHERE m.group_id = %s AND m.contact_id = d.contact_id)"
    if recorded:
        whens = " ".join(f"WHEN {int(pk)} THEN {1 << bit}" for pk, bit in recorded)
        with_bits = ", ".join(str(int(pk)) for pk, _ in recorded)
        in_group = (
            f"CASE WHEN d.included_groups IS NULL OR d.campaign_id NOT IN ({with_bits})"
            f" THEN (CASE WHEN {member} THEN 1 ELSE 0 END)"
            f" ELSE (CASE WHEN (d.included_groups & (CASE d.campaign_id {whens} ELSE 0 END)) <> 0"
            " THEN 1 ELSE 0 END) END"
        )
    else:
        in_group = f"CASE WHEN {member} THEN 1 ELSE 0 END"
    sql = f"""
    WITH {engagement_cte(campaign_filter=f"a.campaign_id IN ({in_ids})")},
    u AS (SELECT DISTINCT campaign_id, contact_id FROM {db_table(Unsubscribe)} WHERE campaign_id IN ({in_ids}))
    SELECT d.campaign_id, {in_group}, SUM(CASE WHEN d.included_groups IS NULL THEN 1 ELSE 0 END), {stats_columns()}
    FROM {db_table(Delivery)} d
    {engagement_joins(by_campaign=True)}
    LEFT JOIN u ON u.campaign_id = d.campaign_id AND u.contact_id = d.contact_id
    WHERE d.campaign_id IN ({in_ids})
    GROUP BY 1, 2
    """
    fetched = fetch_all(sql, [*ids, *ids, *ids, group.pk, *ids])
    rows = {c.pk: GroupCampaignRow(c, Stats(), Stats(), recorded=bits[c.pk] is not None) for c in campaigns}
    for campaign_id, inside, unrecorded, *values in fetched:
        row = rows[campaign_id]
        stats = stats_of(values)
        row.overall.add(stats)
        if inside:
            row.group.add(stats)
        if unrecorded:
            row.recorded = False
    return list(rows.values())


def group_campaigns_page(*, group: ContactGroup, page: Any, per_page: int = 5) -> tuple[Page[Any], list[Any]]:
    """A page of the campaigns that included the group, with their figures."""
    page_obj = Paginator(group_campaigns(group=group), per_page).get_page(page)
    return page_obj, group_campaign_stats(group=group, campaigns=list(page_obj.object_list))
