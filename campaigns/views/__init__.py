"""Campaign pages, one module per concern."""

from campaigns.views.audience import audience_panel_view
from campaigns.views.campaigns import (
    CampaignCreateView,
    CampaignDeleteView,
    CampaignDetailView,
    CampaignListView,
    CampaignUpdateView,
)
from campaigns.views.preview import CampaignPreviewMessageView, CampaignPreviewView, CampaignTestSendView
from campaigns.views.sending import CampaignSendingView, CampaignSendView
from campaigns.views.triggers import CampaignTriggerView
from campaigns.views.variants import CampaignSplitView, CampaignVariantDeleteView, CampaignVariantsView

__all__ = [
    "CampaignCreateView",
    "CampaignDeleteView",
    "CampaignDetailView",
    "CampaignListView",
    "CampaignPreviewMessageView",
    "CampaignPreviewView",
    "CampaignSendView",
    "CampaignSendingView",
    "CampaignSplitView",
    "CampaignTestSendView",
    "CampaignTriggerView",
    "CampaignUpdateView",
    "CampaignVariantDeleteView",
    "CampaignVariantsView",
    "audience_panel_view",
]
