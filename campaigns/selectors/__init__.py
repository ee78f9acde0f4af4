"""Every read of the campaigns app: audience (who and why not), overlap of groups, A/B buckets."""

from campaigns.selectors.audience import (
    AudienceSpec,
    Breakdown,
    Cell,
    Reason,
    assigned_audience,
    audience_breakdown,
    audience_contacts,
    audience_report,
    audience_sample,
    audience_spec,
    audience_split,
    campaign_arms,
    campaign_variants,
    candidates,
    preview_contacts,
)
from campaigns.selectors.overlap import MAX_GROUPS, Overlap, Region, group_overlap
from campaigns.selectors.split import arm_of, bucket

__all__ = [
    "MAX_GROUPS",
    "AudienceSpec",
    "Breakdown",
    "Cell",
    "Overlap",
    "Reason",
    "Region",
    "arm_of",
    "assigned_audience",
    "audience_breakdown",
    "audience_contacts",
    "audience_report",
    "audience_sample",
    "audience_spec",
    "audience_split",
    "bucket",
    "campaign_arms",
    "campaign_variants",
    "candidates",
    "group_overlap",
    "preview_contacts",
]
