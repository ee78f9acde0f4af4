"""seed_demo's campaigns: sent, with deliveries, opens and clicks (activities with the campaign), and a group
whose condition uses the spring campaign's clicks; idempotent and deterministic."""

import pytest
from django.core.management import call_command

from campaigns.demo import CLICKED_SPRING, SPRING
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from contacts.models import Activity
from segments.models import ContactGroup, Membership

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        sorted(Campaign.objects.values_list("name", "status", "recipients")),
        sorted(Activity.objects.exclude(campaign=None).values_list("contact__email", "type", "occurred_at", "url")),
    )


def test_seed_demo_adds_sent_campaigns_with_opens_clicks_and_a_clicked_group():
    call_command("seed_demo", contacts=300, now="2026-05-01T10:00:00", verbosity=0)
    campaigns = list(Campaign.objects.all())
    assert len(campaigns) == 3 and {c.status for c in campaigns} == {CampaignStatus.SENT}
    for campaign in campaigns:
        deliveries = Delivery.objects.filter(campaign=campaign)
        assert deliveries.count() == campaign.recipients > 0
        statuses = set(deliveries.values_list("status", flat=True))
        assert DeliveryStatus.SENT in statuses and statuses <= {DeliveryStatus.SENT, DeliveryStatus.FAILED}
        tracked = Activity.objects.filter(campaign=campaign)
        opened = set(tracked.filter(type="email_open").values_list("contact", flat=True))
        assert 0 < len(opened) < campaign.recipients  # some opened, not everyone
        sent = deliveries.filter(status=DeliveryStatus.SENT)
        assert opened <= set(sent.values_list("contact", flat=True))  # a failed message is never opened
        assert all(o >= campaign.sent_at for o in tracked.values_list("occurred_at", flat=True))
    spring = Campaign.objects.get(name=SPRING)
    assert spring.arms.count() == 2 and spring.variants.count() == 1  # the report has A/B and variant rows
    assert set(Delivery.objects.filter(campaign=spring).values_list("arm", flat=True)) == {"A", "B"}
    clickers = set(Activity.objects.filter(campaign=spring, type="email_click").values_list("contact", flat=True))
    group = ContactGroup.objects.get(code=CLICKED_SPRING)
    assert group.condition["root"]["where"][0]["value"] == spring.pk
    assert clickers and set(Membership.objects.filter(group=group).values_list("contact", flat=True)) == clickers
    assert group.member_count == len(clickers)

    before = snapshot()
    call_command("seed_demo", contacts=300, now="2026-05-01T10:00:00", verbosity=0)
    assert snapshot() == before  # idempotent
    call_command("seed_demo", contacts=300, now="2026-05-01T10:00:00", reset=True, verbosity=0)
    assert snapshot()[0] == before[0]  # deterministic: regenerated contacts get the same campaigns' numbers
    assert Delivery.objects.filter(contact=None).count() == 0
