"""Webhooks delivered to a real HTTP receiver on 127.0.0.1: signature, batching, order, retries, disabling."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone

from contacts.models import Contact
from segments.models import MembershipEvent
from segments.services import group_add_contacts, group_remove_contacts
from tests.factories import ContactFactory, ContactGroupFactory
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.tasks import run_webhooks

pytestmark = pytest.mark.django_db
README = Path(__file__).resolve().parents[2] / "README.md"


def documented_verify():
    """The verification snippet exactly as the README documents it."""
    text = README.read_text()
    section = text[text.index("## Webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's Webhooks section shows a Python verification snippet"
    namespace: dict = {}
    exec(code.group(1), namespace)
    return namespace["verify"]


def endpoint_for(receiver, **kwargs) -> Endpoint:
    groups = kwargs.pop("groups", [])
    endpoint = Endpoint.objects.create(url=receiver.url, events=kwargs.pop("events", ["entered", "left"]), **kwargs)
    endpoint.groups.set(groups)
    return endpoint


def add(group, contacts):
    group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))


def remove(group, contacts):
    group_remove_contacts(group=group, contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))


def test_a_signed_delivery_reaches_the_receiver(receiver):
    group = ContactGroupFactory(code="vip", name="VIP")
    endpoint = endpoint_for(receiver)
    contacts = ContactFactory.create_batch(3)
    add(group, contacts)

    assert run_webhooks() == (1, 1)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    verify = documented_verify()
    timestamp, sig = request.headers["x-segments-timestamp"], request.headers["x-segments-signature"]
    assert verify(endpoint.secret, timestamp, request.body, sig)
    assert not verify("whsec_wrong", timestamp, request.body, sig)
    assert not verify(endpoint.secret, timestamp, request.body + b" ", sig)
    assert not verify(endpoint.secret, str(int(timestamp) - 3600), request.body, sig)  # replayed later
    events = request.json["events"]
    assert [e["contact"]["email"] for e in events] == [c.email for c in contacts]
    assert {e["type"] for e in events} == {"membership.entered"}
    assert events[0]["group"] == {"code": "vip", "name": "VIP"}
    assert events[0]["source"] == "added by hand" and events[0]["cause"] == "by hand"
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.last_response_ms is not None
    assert run_webhooks() == (0, 0)  # nothing new: nothing sent again
    assert len(receiver.requests) == 1


def test_250_events_go_in_three_requests_with_unique_ids_in_order(receiver):
    group = ContactGroupFactory()
    endpoint_for(receiver)
    add(group, ContactFactory.create_batch(250))

    run_webhooks()

    sizes = [len(r.json["events"]) for r in receiver.requests]
    assert sizes == [100, 100, 50]
    ids = [e["id"] for r in receiver.requests for e in r.json["events"]]
    assert len(set(ids)) == 250
    numbers = [int(i.removeprefix("mev_")) for i in ids]
    assert numbers == sorted(numbers)


def test_event_ids_are_the_same_for_every_endpoint_and_on_resend(receiver):
    group = ContactGroupFactory()
    first, second = endpoint_for(receiver), endpoint_for(receiver)
    add(group, ContactFactory.create_batch(2))
    run_webhooks()
    by_secret = {}
    for request in receiver.requests:
        for secret in (first.secret, second.secret):
            if documented_verify()(
                secret, request.headers["x-segments-timestamp"], request.body, request.headers["x-segments-signature"]
            ):
                by_secret[secret] = [e["id"] for e in request.json["events"]]
    assert by_secret[first.secret] == by_secret[second.secret]

    from webhooks.services import delivery_resend

    delivery_resend(delivery=first.deliveries.get())
    run_webhooks()
    assert len(receiver.requests) == 3
    assert [e["id"] for e in receiver.requests[2].json["events"]] == by_secret[first.secret]


def test_retry_after_500_with_backoff(receiver):
    group = ContactGroupFactory()
    endpoint_for(receiver)
    add(group, ContactFactory.create_batch(2))
    receiver.plan.extend(["500", "500"])
    now = timezone.now()

    run_webhooks(now=now)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.next_attempt_at == now + dt.timedelta(minutes=1)

    run_webhooks(now=now + dt.timedelta(seconds=30))  # not due yet
    assert len(receiver.requests) == 1

    run_webhooks(now=now + dt.timedelta(minutes=1))
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at == now + dt.timedelta(minutes=3)  # 1 + 2 min

    run_webhooks(now=now + dt.timedelta(minutes=3))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert receiver.requests[0].body == receiver.requests[2].body  # the same events, the same ids


def test_retry_after_timeout(receiver):
    group = ContactGroupFactory()
    endpoint_for(receiver)
    add(group, ContactFactory.create_batch(1))
    receiver.plan.append("sleep")
    now = timezone.now()

    run_webhooks(now=now)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code is None and "timed out" in delivery.last_error.lower()

    run_webhooks(now=now + dt.timedelta(minutes=1))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 2


def test_a_later_delivery_waits_for_an_earlier_one(receiver):
    group = ContactGroupFactory()
    endpoint_for(receiver)
    contact = ContactFactory()
    receiver.plan.append("500")
    now = timezone.now()
    add(group, [contact])
    run_webhooks(now=now)  # "entered" fails once
    remove(group, [contact])
    run_webhooks(now=now + dt.timedelta(seconds=10))  # "left" is dispatched but must not overtake
    assert Delivery.objects.count() == 2
    assert len(receiver.requests) == 1

    run_webhooks(now=now + dt.timedelta(minutes=2))

    types = [e["type"] for r in receiver.requests for e in r.json["events"]]
    assert types == ["membership.entered", "membership.entered", "membership.left"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}


def test_groups_and_event_types_filter_what_is_sent(receiver):
    wanted, other = ContactGroupFactory(), ContactGroupFactory()
    endpoint_for(receiver, groups=[wanted], events=["left"])
    contacts = ContactFactory.create_batch(2)
    add(wanted, contacts)
    add(other, contacts)
    remove(other, contacts)
    run_webhooks()
    assert receiver.requests == []
    remove(wanted, contacts[:1])
    run_webhooks()
    [request] = receiver.requests
    assert [(e["type"], e["group"]["code"]) for e in request.json["events"]] == [("membership.left", wanted.code)]


def test_repeated_failures_give_up_after_24_hours_and_disable_the_endpoint(receiver, settings):
    settings.WEBHOOKS_DISABLE_AFTER = 2
    group = ContactGroupFactory()
    endpoint = endpoint_for(receiver)
    receiver.plan.extend(["500"] * 100)
    now = timezone.now()
    add(group, ContactFactory.create_batch(1))
    run_webhooks(now=now)
    run_webhooks(now=now + dt.timedelta(hours=25))
    first = Delivery.objects.get()
    assert first.status == DeliveryStatus.FAILED and first.attempts == 2
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failure_count == 1

    add(group, ContactFactory.create_batch(1))
    run_webhooks(now=now + dt.timedelta(hours=26))
    run_webhooks(now=now + dt.timedelta(hours=51))
    endpoint.refresh_from_db()
    assert not endpoint.active and "2 deliveries in a row failed" in endpoint.disabled_reason

    sent = len(receiver.requests)
    add(group, ContactFactory.create_batch(1))
    run_webhooks(now=now + dt.timedelta(hours=52))
    assert len(receiver.requests) == sent  # disabled: nothing is sent


def test_a_private_address_is_refused_unless_allowed(receiver, settings):
    group = ContactGroupFactory()
    endpoint = endpoint_for(receiver)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    add(group, ContactFactory.create_batch(1))
    run_webhooks()
    assert receiver.requests == []
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and "private or local network" in delivery.last_error

    from webhooks.forms import EndpointForm

    for url in (receiver.url, "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]:8000/"):
        form = EndpointForm(data={"url": url, "events": ["entered"]})
        assert not form.is_valid() and "private or local network" in str(form.errors["url"]), url
    assert Endpoint.objects.count() == 1 and endpoint.pk


def test_the_minutely_schedule_is_registered():
    from django_q.models import Schedule

    from webhooks.schedules import DISPATCH, schedules_register

    schedules_register()
    schedule = Schedule.objects.get(name=DISPATCH)
    assert schedule.func == "webhooks.tasks.run_webhooks" and schedule.minutes == 1


def test_events_of_a_transaction_still_open_are_never_skipped(settings):
    """PostgreSQL: while another transaction is writing history, the cursor does not move past it."""
    import threading

    from django.db import connection, connections, transaction

    from segments.selectors import history_safe_upper as safe_upper

    if connection.vendor != "postgresql":
        pytest.skip("SQLite commits one writer at a time, in id order")
    earlier = MembershipEvent.objects.create(group_id=1, contact_id=1, kind=1, source=1, cause=1)
    inserted, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                MembershipEvent.objects.create(group_id=1, contact_id=1, kind=1, source=1, cause=1)
                inserted.set()
                release.wait(5)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inserted.wait(5)
        assert safe_upper() is None  # busy: this run waits, nothing is skipped
    finally:
        release.set()
        thread.join()
    assert safe_upper() == earlier.pk  # the writer is gone (rolled back): the bound is known again


def test_a_redirect_is_not_followed(receiver):
    group = ContactGroupFactory()
    endpoint_for(receiver)
    add(group, ContactFactory.create_batch(1))
    receiver.plan.append("redirect")
    run_webhooks()
    delivery = Delivery.objects.get()
    assert len(receiver.requests) == 1  # the 302's Location was not asked
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
