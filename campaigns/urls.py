from django.urls import path

from campaigns import views
from campaigns.views.contact import ContactMessagesView, ContactResubscribeView
from campaigns.views.report import CampaignClicksExportView, CampaignReportView, GroupCampaignsView

app_name = "campaigns"

urlpatterns = [
    path("", views.CampaignListView.as_view(), name="campaign_list"),
    path("new/", views.CampaignCreateView.as_view(), name="campaign_create"),
    path("audience/", views.audience_panel_view, name="audience_panel"),
    path("<int:pk>/", views.CampaignDetailView.as_view(), name="campaign_detail"),
    path("<int:pk>/edit/", views.CampaignUpdateView.as_view(), name="campaign_update"),
    path("<int:pk>/delete/", views.CampaignDeleteView.as_view(), name="campaign_delete"),
    path("<int:pk>/variants/", views.CampaignVariantsView.as_view(), name="campaign_variants"),
    path("<int:pk>/variants/remove/", views.CampaignVariantDeleteView.as_view(), name="campaign_variant_delete"),
    path("<int:pk>/split/", views.CampaignSplitView.as_view(), name="campaign_split"),
    path("<int:pk>/preview/", views.CampaignPreviewView.as_view(), name="campaign_preview"),
    path(
        "<int:pk>/preview/<int:contact_pk>/message/",
        views.CampaignPreviewMessageView.as_view(),
        name="campaign_preview_message",
    ),
    path("<int:pk>/sending/", views.CampaignSendingView.as_view(), name="campaign_sending"),
    path("<int:pk>/send/", views.CampaignSendView.as_view(), name="campaign_send"),
    path("<int:pk>/trigger/", views.CampaignTriggerView.as_view(), name="campaign_trigger"),
    path("<int:pk>/test-send/", views.CampaignTestSendView.as_view(), name="campaign_test_send"),
    path("<int:pk>/report/", CampaignReportView.as_view(), name="campaign_report"),
    path("<int:pk>/report/clicks/", CampaignClicksExportView.as_view(), name="campaign_clicks_export"),
    # a contact group's Campaigns tab (campaigns reads segments, never the reverse)
    path("groups/<int:pk>/", GroupCampaignsView.as_view(), name="group_campaigns"),
    # a contact page's Messages card (loaded into it) and opting a contact back in
    path("contacts/<int:pk>/messages/", ContactMessagesView.as_view(), name="contact_messages"),
    path("contacts/<int:pk>/resubscribe/", ContactResubscribeView.as_view(), name="contact_resubscribe"),
]
