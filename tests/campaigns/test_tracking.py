"""Open and click tracking: a sent email's links go through signed click redirects and it carries a signed
open pixel; each hit is an activity with the campaign (through contacts.services), so activity rules on the
campaign follow; forged or tampered tokens and links that were not in the message are refused."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core import mail, signing

from campaigns import sending, tracking
from campaigns.models import Delivery
from contacts.models import Activity, ActivityType
from segments import rechecks
from segments.models import Membership
from tests.campaigns.conftest import email_campaign
from tests.factories import ContactGroupFactory

pytestmark = pytest.mark.django_db
SITE = "https://mail.example.org"
BODY = (
    '<p>Hello {{ first_name }}, see <a href="https://shop.example.com/spring?a=1&amp;b=2">the sale</a> '
    "and <a href='http://blog.example.com/post'>the blog</a>.</p>"
)


@pytest.fixture
def sent(sync_worker, people, django_capture_on_commit_callbacks):
    campaign = email_campaign(people)
    campaign.body = BODY
    campaign.save()
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    html = {m.to[0]: m.alternatives[0][0] for m in mail.outbox}
    return campaign, html


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


def test_a_pixel_of_an_email_sent_before_tokens_named_the_contact_still_records_the_open(
    sent, people, client, django_capture_on_commit_callbacks
):
    campaign, _ = sent
    delivery = Delivery.objects.get(campaign=campaign, contact=people["ann"])
    old = tracking.open_token(delivery_id=delivery.pk)  # `<delivery id>:<signature>`
    assert tracking.open_target(token=old) == (delivery.pk, None, None)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(f"/t/o/{old}.gif").status_code == 200
    opened = Activity.objects.get(contact=people["ann"], type=ActivityType.EMAIL_OPEN)
    assert opened.campaign_id == campaign.pk


def test_a_click_redirects_to_the_original_link_and_records_it(
    sent, people, client, django_capture_on_commit_callbacks
):
    campaign, html = sent
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(links(html["bob@example.com"])[1])  # no sign-in
    assert response.status_code == 302 and response["Location"] == "http://blog.example.com/post"
    activity = Activity.objects.get()
    assert (activity.contact, activity.type, activity.campaign, activity.url) == (
        people["bob"],
        "email_click",
        campaign,
        "http://blog.example.com/post",
    )


def test_an_open_returns_the_pixel_records_it_and_moves_the_contact_into_a_group(
    sent, people, client, django_capture_on_commit_callbacks
):
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
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(pixel(html["cyd@example.com"]))
    rechecks.rechecks_drain()
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert len(response.content) == 43 and "no-store" in response["Cache-Control"]
    activity = Activity.objects.get()
    assert (activity.contact, activity.type, activity.campaign) == (people["cyd"], "email_open", campaign)
    people["cyd"].refresh_from_db()
    assert people["cyd"].newest_activity_at == activity.occurred_at
    assert list(Membership.objects.filter(group=opened).values_list("contact", "via_condition")) == [
        (people["cyd"].pk, True)
    ]


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
        f"{click}?next=https://evil.example",
    ]
    for path in refused[:-1]:
        assert client.get(path).status_code == 404, path
    # extra query parameters do not change where the signed link goes
    response = client.get(refused[-1])
    assert response.status_code == 302 and response["Location"] == "https://shop.example.com/spring?a=1&b=2"
    assert Activity.objects.filter(contact=people["ann"]).count() == 1  # only that genuine click


def test_a_link_not_in_the_message_cannot_be_built_from_a_genuine_token(sent, client):
    _campaign, html = sent
    token = links(html["ann@example.com"])[0].split("/")[3]
    payload, _, signature = token.rpartition(":")
    forged = signing.dumps([1, "https://evil.example"], salt=tracking.CLICK_SALT, compress=True).rpartition(":")[0]
    assert client.get(f"/t/c/{forged}:{signature}/").status_code == 404
    assert not Activity.objects.exists()


def test_the_plain_text_part_keeps_the_original_links(sent):
    ann = next(m for m in mail.outbox if m.to == ["ann@example.com"])
    assert "https://shop.example.com/spring?a=1&b=2" in ann.body and "/t/c/" not in ann.body


def test_an_open_of_a_deleted_contact_still_answers_and_records_nothing(sent, people, client):
    _campaign, html = sent
    people["eve"].delete()
    response = client.get(pixel(html["eve@example.com"]))
    assert response.status_code == 200 and len(response.content) == 43
    assert not Activity.objects.exists()


def test_the_pixel_costs_a_fixed_handful_of_statements(sent, client, django_assert_max_num_queries):
    _campaign, html = sent
    path = pixel(html["fay@example.com"])
    # Another recipient's open first: the roll-up's key of the (empty) URL exists from then on; the very
    # first activity at a URL costs two statements more (creating its ActivityUrl row).
    assert client.get(pixel(html["ann@example.com"])).status_code == 200
    # savepoint, (savepoint of the activity service), last activity + activity insert, the daily roll-up,
    # pending re-check, the webhooks' campaign event (campaigns.events, same transaction)
    with django_assert_max_num_queries(9):  # (with the releases of the two savepoints)
        assert client.get(path).status_code == 200
