"""Open and click tracking: a sent email's links go through signed click redirects and it carries a signed
open pixel. A hit is appended to the tracking inbox and answered; a drain records it as an activity with the
campaign (through contacts.services) and a campaign event, exactly once, at the time of the request, so
activity rules on the campaign follow. Forged or tampered tokens and links that were not in the message are
refused and append nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core import mail, signing
from django.db import connection
from django_q.conf import Conf

from campaigns import inbox, sending, tracking
from campaigns.models import CampaignEvent, CampaignEventKind, Delivery, TrackingHit
from contacts.models import Activity, ActivityDay, ActivityType
from segments import rechecks
from segments.models import Membership
from tests.campaigns.conftest import email_campaign
from tests.factories import ContactGroupFactory
from tests.threads import together

pytestmark = pytest.mark.django_db
SITE = "https://mail.example.org"
BODY = (
    '<p>Hello {{ first_name }}, see <a href="https://shop.example.com/spring?a=1&amp;b=2">the sale</a> '
    "and <a href='http://blog.example.com/post'>the blog</a>.</p>"
)


@pytest.fixture
def sent(sync_worker, people, django_capture_on_commit_callbacks, monkeypatch):
    """A campaign sent to ann, bob, cyd, eve and fay; from then on the worker runs apart, as in production."""
    campaign = email_campaign(people)
    campaign.body = BODY
    campaign.save()
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    html = {m.to[0]: m.alternatives[0][0] for m in mail.outbox}
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(inbox, "_next_ask", 0.0)  # a web process that has not asked yet
    return campaign, html


@pytest.fixture
def queued(monkeypatch):
    """The tasks queued with the broker (none runs by itself: the test drains)."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a[0]))
    return calls


def drain():
    """What the woken worker does, minus its lingering (nothing else arrives)."""
    return inbox.hits_drain(linger=False)


def links(html):
    return [unescape(u).removeprefix(SITE) for u in re.findall(r"""href=["']([^"']+)["']""", html)]


def pixel(html):
    return unescape(re.search(r'<img src="([^"]+)"', html)[1]).removeprefix(SITE)


def test_sent_html_tracks_links_and_opens_but_not_the_unsubscribe_link(sent, people):
    campaign, html = sent
    ann = html["ann@example.com"]
    found = links(ann)
    assert found[0].startswith("/t/c/") and found[1].startswith("/t/c/") and found[2].startswith("/u/")
    assert "shop.example.com" not in ann and "blog.example.com" not in ann  # only the redirects are in the HTML
    assert pixel(ann).startswith("/t/o/") and pixel(ann).endswith(".gif")
    delivery = Delivery.objects.get(campaign=campaign, contact=people["ann"])
    assert tracking.click_target(token=found[0].split("/")[3]) == (
        delivery.pk,
        "https://shop.example.com/spring?a=1&b=2",
    )
    token = pixel(ann).split("/")[3].removesuffix(".gif")
    assert tracking.open_delivery_id(token=token) == delivery.pk
    assert tracking.open_target(token=token) == (delivery.pk, people["ann"].pk, campaign.pk)


def test_a_pixel_of_an_email_sent_before_tokens_named_the_contact_still_records_the_open(sent, people, client):
    campaign, _ = sent
    delivery = Delivery.objects.get(campaign=campaign, contact=people["ann"])
    old = tracking.open_token(delivery_id=delivery.pk)  # `<delivery id>:<signature>`
    assert tracking.open_target(token=old) == (delivery.pk, None, None)
    assert client.get(f"/t/o/{old}.gif").status_code == 200
    assert drain() == 1  # the drain reads the delivery's contact and campaign
    opened = Activity.objects.get(contact=people["ann"], type=ActivityType.EMAIL_OPEN)
    assert opened.campaign_id == campaign.pk


def test_a_click_redirects_at_once_and_the_drain_records_it_with_its_event(sent, people, client, queued):
    campaign, html = sent
    response = client.get(links(html["bob@example.com"])[1])  # no sign-in
    assert response.status_code == 302 and response["Location"] == "http://blog.example.com/post"
    hit = TrackingHit.objects.get()
    assert (hit.kind, hit.delivery_id, hit.contact_id, hit.url) == (
        "click",
        Delivery.objects.get(campaign=campaign, contact=people["bob"]).pk,
        None,  # a click token names the delivery and the link: the drain reads the rest
        "http://blog.example.com/post",
    )
    assert not Activity.objects.exists() and queued == [inbox.DRAIN_TASK]
    assert drain() == 1
    activity = Activity.objects.get()
    assert (activity.contact, activity.type, activity.campaign, activity.url, activity.occurred_at) == (
        people["bob"],
        "email_click",
        campaign,
        "http://blog.example.com/post",
        hit.at,  # the time of the click, not of the drain
    )
    event = CampaignEvent.objects.get(kind=CampaignEventKind.CLICKED)
    assert (event.contact_id, event.campaign_id, event.url, event.at) == (
        people["bob"].pk,
        campaign.pk,
        "http://blog.example.com/post",
        hit.at,
    )
    assert not TrackingHit.objects.exists() and drain() == 0  # recorded once


def test_an_open_answers_at_once_and_after_the_drain_moves_the_contact_into_a_group(sent, people, client, queued):
    campaign, html = sent
    opened = ContactGroupFactory(
        code="opened_spring",
        is_condition_based=True,
        condition={
            "version": 1,
            "root": {
                "type": "activity",
                "activity": "email_open",
                "where": [{"field": "campaign", "operator": "equals", "value": campaign.pk}],
            },
        },
    )
    assert not Membership.objects.filter(group=opened).exists()
    response = client.get(pixel(html["cyd@example.com"]))
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert len(response.content) == 43 and "no-store" in response["Cache-Control"]
    hit = TrackingHit.objects.get()
    assert not Activity.objects.exists() and queued == [inbox.DRAIN_TASK]  # recorded by the worker, woken once

    assert drain() == 1
    rechecks.rechecks_drain()  # the re-check the drain noted
    activity = Activity.objects.get()
    assert (activity.contact, activity.type, activity.campaign, activity.occurred_at) == (
        people["cyd"],
        "email_open",
        campaign,
        hit.at,
    )
    people["cyd"].refresh_from_db()
    assert people["cyd"].newest_activity_at == hit.at
    assert list(ActivityDay.objects.filter(contact=people["cyd"]).values_list("type", "n")) == [("email_open", 1)]
    event = CampaignEvent.objects.get(kind=CampaignEventKind.OPENED)
    assert (event.contact_id, event.campaign_id, event.at) == (people["cyd"].pk, campaign.pk, hit.at)
    assert list(Membership.objects.filter(group=opened).values_list("contact", "via_condition")) == [
        (people["cyd"].pk, True)
    ]
    assert not TrackingHit.objects.exists() and drain() == 0


def test_forged_or_tampered_tokens_and_links_not_in_the_message_are_refused(sent, people, client):
    campaign, html = sent
    ann_pixel = pixel(html["ann@example.com"])
    token = ann_pixel.split("/")[3].removesuffix(".gif")
    value, signature = token.split(":")
    delivery_id, contact_id, campaign_id = value.split(".")  # the token names the delivery, contact and campaign
    other = Delivery.objects.get(campaign=campaign, contact=people["bob"]).pk
    click = links(html["ann@example.com"])[0]
    click_token = click.split("/")[3]
    refused = [
        "/t/o/nonsense.gif",
        f"/t/o/{other}:{signature}.gif",  # another delivery with ann's signature
        f"/t/o/{delivery_id}.{people['bob'].pk}.{campaign_id}:{signature}.gif",  # another contact
        f"/t/o/{delivery_id}:{signature}.gif",  # the ids left out
        f"/t/o/{value}:{signature[:-1]}x.gif",
        f"/t/o/{tracking.open_token(delivery_id=int(delivery_id)).replace(':', '%3A')}x.gif",
        "/t/c/nonsense/",
        f"/t/c/{click_token[:-2]}xy/",  # the signature tampered with
        # a link that was not in the message, signed with another key or salt (what an attacker can make)
        f"/t/c/{signing.dumps([int(delivery_id), 'https://evil.example'], key='guess', salt=tracking.CLICK_SALT)}/",
        f"/t/c/{signing.dumps([int(delivery_id), 'https://evil.example'], salt='campaigns.unsubscribe')}/",
        f"/t/c/{tracking.open_token(delivery_id=int(delivery_id))}/",  # a pixel token is no click token
    ]
    for path in refused:
        assert client.get(path).status_code == 404, path
    assert not TrackingHit.objects.exists()  # nothing appended
    # extra query parameters do not change where the signed link goes
    response = client.get(f"{click}?next=https://evil.example")
    assert response.status_code == 302 and response["Location"] == "https://shop.example.com/spring?a=1&b=2"
    assert drain() == 1
    assert Activity.objects.filter(contact=people["ann"]).count() == 1  # only that genuine click


def test_a_link_not_in_the_message_cannot_be_built_from_a_genuine_token(sent, client):
    _campaign, html = sent
    token = links(html["ann@example.com"])[0].split("/")[3]
    payload, _, signature = token.rpartition(":")
    forged = signing.dumps([1, "https://evil.example"], salt=tracking.CLICK_SALT, compress=True).rpartition(":")[0]
    assert client.get(f"/t/c/{forged}:{signature}/").status_code == 404
    assert not TrackingHit.objects.exists()


def test_the_plain_text_part_keeps_the_original_links(sent):
    ann = next(m for m in mail.outbox if m.to == ["ann@example.com"])
    assert "https://shop.example.com/spring?a=1&b=2" in ann.body and "/t/c/" not in ann.body


def test_a_hit_of_a_contact_deleted_before_the_drain_is_dropped_and_logged(sent, people, client, caplog):
    _campaign, html = sent
    assert client.get(pixel(html["eve@example.com"])).status_code == 200
    assert client.get(links(html["eve@example.com"])[0]).status_code == 302
    assert client.get(pixel(html["fay@example.com"])).status_code == 200
    people["eve"].delete()  # between the answers and the drain
    assert drain() == 3  # taken: fay's recorded, eve's two dropped — no error
    assert list(Activity.objects.values_list("contact", flat=True)) == [people["fay"].pk]
    assert not TrackingHit.objects.exists()
    assert "2 hit(s) dropped" in caplog.text
    # deleted before the answer: the pixel still answers (the drain drops it the same way)
    assert client.get(pixel(html["eve@example.com"])).status_code == 200 and drain() == 1
    assert Activity.objects.count() == 1


def test_a_hit_of_a_deleted_campaign_is_dropped(sent, client):
    campaign, html = sent
    assert client.get(pixel(html["ann@example.com"])).status_code == 200
    assert client.get(links(html["bob@example.com"])[0]).status_code == 302
    campaign.deliveries.all().delete()
    campaign.delete()
    assert drain() == 2 and not Activity.objects.exists() and not TrackingHit.objects.exists()


def test_the_pixel_costs_one_insert_and_a_burst_asks_the_database_once(
    sent, client, queued, django_assert_num_queries, monkeypatch
):
    _campaign, html = sent
    paths = [pixel(html[f"{name}@example.com"]) for name in ("ann", "bob", "cyd", "eve", "fay")]
    with django_assert_num_queries(2):  # the hit, then the promise of a drain (which queues it)
        assert client.get(paths[0]).status_code == 200
    for path in paths[1:]:
        with django_assert_num_queries(1):  # the hit only: this process asked a moment ago
            assert client.get(path).status_code == 200
    assert queued == [inbox.DRAIN_TASK]
    # Other web processes ask too (each once per TRACKING_WAKE_SECONDS): the drain promised is ahead, nothing queued.
    for path in paths:
        monkeypatch.setattr(inbox, "_next_ask", 0.0)
        assert client.get(path).status_code == 200
    assert queued == [inbox.DRAIN_TASK] and TrackingHit.objects.count() == 10
    assert (
        drain() == 10 and Activity.objects.count() == 10 and CampaignEvent.objects.filter(kind="opened").count() == 10
    )


def test_a_lingering_drain_records_a_hit_appended_while_its_process_did_not_ask(
    sent, client, queued, settings, monkeypatch
):
    """The promise: a process that skips asking relies on the drain it woke reading once more after `until`."""
    settings.TRACKING_WAKE_SECONDS = 0.5  # the drain lingers 1.5 s after the last hit it finds
    monkeypatch.setattr(inbox, "POLL", 0.1)
    _campaign, html = sent
    assert client.get(pixel(html["ann@example.com"])).status_code == 200  # asks: a drain is queued
    assert queued == [inbox.DRAIN_TASK]
    late = pixel(html["bob@example.com"])
    real_sleep = inbox.time.sleep
    appended = []

    def sleep(seconds):  # while the drain waits between reads, another request comes
        if not appended:
            monkeypatch.setattr(inbox, "_next_ask", inbox.time.monotonic() + 60)  # this process does not ask now
            appended.append(client.get(late).status_code)
        real_sleep(seconds)

    monkeypatch.setattr(inbox.time, "sleep", sleep)
    assert inbox.hits_drain() == 2  # the woken drain, lingering
    assert appended == [200] and queued == [inbox.DRAIN_TASK]  # the late hit queued nothing and was recorded
    assert Activity.objects.count() == 2 and not TrackingHit.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_drains_racing_record_every_hit_once(sync_worker, people, monkeypatch):
    """Two workers draining at once take disjoint hits (SKIP LOCKED) and record each once."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL: SQLite has one writer at a time")
    campaign = email_campaign(people)
    sending.campaign_send(campaign=campaign)
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    deliveries = list(Delivery.objects.filter(campaign=campaign).values_list("pk", "contact_id"))
    for _ in range(40):
        for pk, contact_id in deliveries:
            inbox.hit_append(kind="open", delivery_id=pk, contact_id=contact_id, campaign_id=campaign.pk)
    hits = TrackingHit.objects.count()
    assert hits == 40 * len(deliveries)
    taken, errors = together(lambda: inbox.hits_drain(batch=7, linger=False))
    assert not errors and sum(taken) == hits
    assert Activity.objects.filter(type=ActivityType.EMAIL_OPEN).count() == hits
    assert CampaignEvent.objects.filter(kind=CampaignEventKind.OPENED).count() == hits
    assert not TrackingHit.objects.exists()
    assert len(taken) == 2 and all(taken), taken  # both took part


def test_without_a_worker_an_open_is_recorded_in_its_request(sent, people, client, monkeypatch):
    campaign, html = sent
    monkeypatch.setattr(Conf, "SYNC", True)  # Q_SYNC: tasks run in the web process
    for _ in range(2):  # each request drains: no gate without a worker
        assert client.get(pixel(html["ann@example.com"])).status_code == 200
    assert Activity.objects.filter(contact=people["ann"], campaign=campaign).count() == 2
    assert not TrackingHit.objects.exists()


def test_the_endpoints_skip_the_page_middleware_but_keep_the_protections(
    sent, client, settings, staff_user, queued, django_assert_num_queries
):
    """campaigns.middleware: no session, sign-in or CSRF work; the host check, the headers and the 404 page stay."""
    _campaign, html = sent
    settings.SECURE_HSTS_SECONDS = 3600
    client.force_login(staff_user)  # someone signed in opens a sent email in the same browser
    with django_assert_num_queries(2):  # the hit and the ask — the session and the user are never read
        response = client.get(pixel(html["ann@example.com"]), secure=True)
    assert response.status_code == 200 and not response.cookies
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"].startswith("max-age=3600") and response["X-Request-ID"]
    click = client.get(links(html["ann@example.com"])[0])
    assert click.status_code == 302 and click["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in click
    bad = client.get("/t/o/nonsense.gif")  # Django's 404 page, with its headers
    assert bad.status_code == 404 and bad["Content-Type"].startswith("text/html")
    assert bad["X-Frame-Options"] == "DENY" and "default-src 'self'" in bad["Content-Security-Policy"]
    assert client.get("/t/o/").status_code == 404  # under the prefix but no tracking view: the full chain
    assert client.post(pixel(html["ann@example.com"])).status_code == 405  # GET only
    assert client.get(pixel(html["ann@example.com"]), HTTP_HOST="evil.example").status_code == 400  # ALLOWED_HOSTS
    assert TrackingHit.objects.count() == 2  # the open and the click


def test_a_drain_that_ran_long_enough_hands_over_to_a_new_task(sent, client, queued, monkeypatch):
    _campaign, html = sent
    for name in ("ann", "bob", "cyd"):
        assert client.get(pixel(html[f"{name}@example.com"])).status_code == 200
    assert queued == [inbox.DRAIN_TASK]
    monkeypatch.setattr(inbox, "DRAIN_MAX_SECONDS", 0.0)
    assert inbox.hits_drain(batch=2) == 2  # a full batch, time is up: the rest is the next task's
    assert queued == [inbox.DRAIN_TASK] * 2 and TrackingHit.objects.count() == 1
    assert drain() == 1
