from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import ListView

from campaigns.models import Campaign


class CampaignListView(PermissionRequiredMixin, ListView):
    permission_required = "campaigns.view_campaign"
    model = Campaign
    paginate_by = 50
    template_name = "campaigns/campaign_list.html"
