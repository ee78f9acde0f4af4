"""Two workers handling a triggered campaign's entries at once (PostgreSQL: real concurrency) insert each
delivery once, count each skipped entry once and respect the daily cap."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services, triggers
from campaigns.models import CampaignKind, Channel, Delivery
from contacts.models import Contact
from health import queue
from segments.models import EventKind, MembershipEvent
from segments.selectors import history_safe_upper
from segments.services import group_add_contacts
from tests.factories import ContactGroupFactory
from tests.threads import together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent writers (SQLite serializes every write)")


@pytest.fixture
def queued(monkeypatch):
    """Record what would be queued for the worker (no batch is sent here)."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(queue, "task_queue", lambda func, pk: calls.append((func, pk)))  # at the commit
    monkeypatch.setattr(triggers, "CHUNK", 40)  # many small transactions, interleaved
    spec = triggers.audience_spec

    def slow_spec(**kwargs):  # widens the gap between reading the cursor and moving it
        time.sleep(0.03)
        return spec(**kwargs)

    monkeypatch.setattr(triggers, "audience_spec", slow_spec)
    insert = triggers._insert_deliveries

    def recorded_insert(**kwargs):  # who each worker chose to send to
        chosen.extend(kwargs["contact_ids"])
        return insert(**kwargs)

    monkeypatch.setattr(triggers, "_insert_deliveries", recorded_insert)
    return calls


chosen: list[int] = []


@pytest.fixture(autouse=True)
def no_choice_yet():
    chosen.clear()


def active_campaign(*, cap=None):
    hot, blocked = ContactGroupFactory(code="hot"), ContactGroupFactory(code="blocked")
    campaign = services.campaign_create(
        name="Welcome",
        channel=Channel.EMAIL,
        include=[hot],
        exclude=[blocked],
        kind=CampaignKind.TRIGGERED,
        daily_cap=cap,
        subject="Hi",
        body="<p>Hi</p>",
    )
    triggers.campaign_trigger_activate(campaign=campaign)
    Contact.objects.bulk_create([Contact(email=f"c{i}@example.com") for i in range(300)])
    contacts = Contact.objects.order_by("pk")
    first = list(contacts.values_list("pk", flat=True)[:20])
    group_add_contacts(group=blocked, contacts=Contact.objects.filter(pk__in=first))
    group_add_contacts(group=hot, contacts=contacts)
    return campaign


def race(campaign_id: int, upper: int) -> list[BaseException]:
    now = timezone.now()
    return together(lambda: triggers.trigger_process(campaign_id=campaign_id, upper=upper, now=now))[1]


def test_two_workers_racing_handle_every_entry_once(queued):
    campaign = active_campaign()
    upper = history_safe_upper()
    assert race(campaign.pk, upper) == []
    campaign.refresh_from_db()
    deliveries = list(Delivery.objects.filter(campaign=campaign).values_list("contact_id", flat=True))
    assert len(deliveries) == len(set(deliveries)) == 280 == campaign.recipients
    assert campaign.trigger_skips == {"excluded": 20}  # each entry judged by one worker only
    assert sorted(chosen) == sorted(deliveries)  # nobody was chosen by both workers
    assert campaign.trigger_cursor == upper
    assert {func for func, _ in queued} >= {"campaigns.tasks.send_batch"}


def test_two_workers_racing_respect_the_daily_cap(queued):
    campaign = active_campaign(cap=100)
    upper = history_safe_upper()
    assert race(campaign.pk, upper) == []
    campaign.refresh_from_db()
    assert Delivery.objects.filter(campaign=campaign).count() == 100 == campaign.recipients
    handled = list(
        MembershipEvent.objects.filter(kind=EventKind.ENTERED, group__code="hot", pk__lte=campaign.trigger_cursor)
        .order_by("pk")
        .values_list("contact_id", flat=True)
    )
    blocked = set(MembershipEvent.objects.filter(group__code="blocked").values_list("contact_id", flat=True))
    excluded = sum(1 for contact_id in handled if contact_id in blocked)
    assert campaign.trigger_skips == ({"excluded": excluded} if excluded else {})  # each judged once
    assert len(handled) == 100 + excluded  # the cursor stops at the 100th sent: the rest waits
    assert len(chosen) == len(set(chosen)) == 100
    assert campaign.trigger_cursor < upper
