"""SMS opt-out: every SMS ends with the opt-out instruction (unless it already says STOP; counted in the SMS
length, in Python and in the browser alike), and a STOP reply through the provider's webhook (secret or HMAC
signature required) or `manage.py sms_inbound` unsubscribes the contacts with that number from SMS; a START
reply opts them back in."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from campaigns import selectors, services
from campaigns.compose import message_for
from campaigns.models import Campaign, CampaignEvent, CampaignEventKind, CampaignStatus, Channel, Delivery, Unsubscribe
from campaigns.sms import with_opt_out
from campaigns.sms_optout import is_start, is_stop, same_number, sms_inbound_record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
URL = "/sms/inbound/"
SECRET = "s3cret-for-tests"


@pytest.fixture
def inbound(settings):
    settings.SMS_INBOUND_SECRET = SECRET
    settings.SMS_OPT_OUT_TEXT = "Reply STOP to opt out"


# --- the instruction in every SMS ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi Ann, 20% off", "Hi Ann, 20% off\nReply STOP to opt out"),
        ("Spring sale!  \n", "Spring sale!\nReply STOP to opt out"),
        ("20% off. Text STOP to 7575 to opt out", "20% off. Text STOP to 7575 to opt out"),
        ("Stop by our shop", "Stop by our shop\nReply STOP to opt out"),  # not the keyword: capitals only
        ("NONSTOP deals", "NONSTOP deals\nReply STOP to opt out"),  # a word, not part of one
        ("", ""),
    ],
)
def test_every_sms_ends_with_the_opt_out_unless_it_says_stop(text, expected):
    assert with_opt_out(text, "Reply STOP to opt out") == expected


def test_an_empty_setting_adds_nothing_and_the_message_counts_the_line(settings):
    contact = ContactFactory(first_name="Ann", phone="+420601000001")
    campaign = Campaign(name="Text", channel=Channel.SMS, body="Hi {{ first_name }}, 20% off")
    settings.SMS_OPT_OUT_TEXT = "Reply STOP to opt out"
    message = message_for(campaign=campaign, contact=contact)
    assert message.text == "Hi Ann, 20% off\nReply STOP to opt out" and message.sms.units == 15 + 22
    settings.SMS_OPT_OUT_TEXT = ""
    assert message_for(campaign=campaign, contact=contact).text == "Hi Ann, 20% off"


def test_the_browser_appends_the_opt_out_like_the_server():
    """static/js/sms-count.js withOptOut gives the same text as campaigns/sms.py with_opt_out (run with node)."""
    module = Path(__file__).resolve().parents[2] / "static" / "js" / "sms-count.js"
    samples = ["Hi", "Hi  \n", "Text STOP to end", "Stop by", "NONSTOP", "ÉSTOP now", "", "  ", "STOP_IT"]
    script = (
        f"import {{ withOptOut }} from {json.dumps(module.as_uri())};"
        f"console.log(JSON.stringify({json.dumps(samples)}.map((t) => withOptOut(t, 'Reply STOP to opt out'))));"
    )
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        pytest.skip("node is not installed")
    assert json.loads(out.stdout) == [with_opt_out(t, "Reply STOP to opt out") for t in samples]


def test_the_campaign_form_tells_the_counter_what_is_appended(marketer_client, settings):
    settings.SMS_OPT_OUT_TEXT = "Reply STOP to opt out"
    html = marketer_client.get(reverse("campaigns:campaign_create")).content.decode()
    assert 'data-sms-opt-out="Reply STOP to opt out"' in html


# --- STOP replies --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["STOP", "stop", "  Stop \n", "STOPALL", "unsubscribe", "Cancel", "END", "quit"])
def test_opt_out_keywords(text):
    assert is_stop(text)


@pytest.mark.parametrize("text", ["", "STOP please", "Please stop", "stopp", "END!", "yes"])
def test_other_replies_are_not_opt_outs(text):
    assert not is_stop(text)


@pytest.mark.parametrize(
    ("stored", "sender", "same"),
    [
        ("+420 601 234 567", "+420601234567", True),
        ("+420-601-234-567", "00420601234567", True),
        ("601 234 567", "+420601234567", True),  # national, as typed for a Czech contact
        ("07700 900123", "+447700900123", True),  # national with the trunk 0
        ("(0)7700 900123", "+44 7700 900123", True),
        ("+420 601 234 567 ext. 12", "+420601234567", True),
        ("+421 601 234 567", "+420601234567", False),  # another country
        ("+420 601 234 568", "+420601234567", False),
        ("234 567", "+420601234567", False),  # too short to tell
        ("", "+420601234567", False),
    ],
)
def test_phone_numbers_are_compared_by_their_digits(stored, sender, same):
    assert same_number(stored, sender) is same
    assert same_number(sender, stored) is same


def post(client, data, *, secret=SECRET, json_body=False, signature=None):
    headers = {}
    if secret is not None:
        headers["HTTP_X_SMS_SECRET"] = secret
    if json_body:
        body = json.dumps(data).encode()
        if signature is not None:
            headers = {"HTTP_X_SMS_SIGNATURE": signature(body)}
        return client.post(URL, body, content_type="application/json", **headers)
    return client.post(URL, data, **headers)


def test_a_stop_reply_unsubscribes_every_contact_with_that_number(client, inbound):
    ann = ContactFactory(phone="+420 601 234 567")
    ann_work = ContactFactory(phone="601-234-567")
    other = ContactFactory(phone="+420 601 234 568")
    response = post(client, {"From": "+420601234567", "Body": " Stop "})
    assert response.status_code == 200 and response.json() == {
        "stop": True,
        "unsubscribed": 2,
        "start": False,
        "resubscribed": 0,
    }
    assert set(Unsubscribe.objects.filter(channel=Channel.SMS).values_list("contact_id", flat=True)) == {
        ann.pk,
        ann_work.pk,
    }
    assert not other.unsubscribes.exists() and not Unsubscribe.objects.filter(channel=Channel.EMAIL).exists()
    again = post(client, {"msisdn": "420601234567", "text": "STOP"})  # Vonage-style, no "+": national digits
    assert again.json()["stop"] is True and Unsubscribe.objects.count() == 2  # idempotent


def test_an_opted_out_contact_leaves_every_sms_audience(client, inbound, people):
    campaign = services.campaign_create(name="Text", channel=Channel.SMS, include=[people["vip"]], body="Hi")
    spec = selectors.audience_spec(campaign=campaign)
    assert people["ann"].pk in set(selectors.audience_contacts(spec=spec).values_list("pk", flat=True))
    post(client, {"From": people["ann"].phone, "Body": "STOP"})
    assert people["ann"].pk not in set(selectors.audience_contacts(spec=spec).values_list("pk", flat=True))


def test_the_number_an_sms_was_sent_to_counts_and_names_the_campaign(client, inbound):
    contact = ContactFactory(phone="+420 777 000 111")
    campaign = Campaign.objects.create(name="Autumn", channel=Channel.SMS, status=CampaignStatus.SENT)
    Delivery.objects.create(campaign=campaign, contact=contact, channel=Channel.SMS, address="+420 601 000 222")
    response = post(client, {"from": "+420601000222", "text": "STOP"}, json_body=True)
    assert response.json() == {"stop": True, "unsubscribed": 1, "start": False, "resubscribed": 0}
    record = Unsubscribe.objects.get()
    assert (record.contact, record.channel, record.campaign) == (contact, Channel.SMS, campaign)


def test_other_replies_record_nothing(client, inbound):
    ContactFactory(phone="+420601234567")
    response = post(client, {"From": "+420601234567", "Body": "Thanks!"})
    assert response.status_code == 200 and response.json() == {
        "stop": False,
        "unsubscribed": 0,
        "start": False,
        "resubscribed": 0,
    }
    assert not Unsubscribe.objects.exists()


def test_the_webhook_refuses_without_the_secret(client, settings):
    ContactFactory(phone="+420601234567")
    settings.SMS_INBOUND_SECRET = ""
    refused = post(client, {"From": "+420601234567", "Body": "STOP"})
    assert refused.status_code == 403 and "SMS_INBOUND_SECRET" in refused.json()["error"]
    settings.SMS_INBOUND_SECRET = SECRET
    for wrong in (None, "", "guess"):
        assert post(client, {"From": "+420601234567", "Body": "STOP"}, secret=wrong).status_code == 403
    assert not Unsubscribe.objects.exists()
    assert client.get(URL, HTTP_X_SMS_SECRET=SECRET).status_code == 405


def test_a_signed_body_is_accepted_and_a_tampered_one_refused(client, inbound):
    ContactFactory(phone="+420601234567")

    def signed(body):
        return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    def forged(body):
        return "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()

    data = {"from": "+420601234567", "text": "STOP"}
    assert post(client, data, json_body=True, signature=forged).status_code == 403
    assert not Unsubscribe.objects.exists()
    assert post(client, data, json_body=True, signature=signed).json()["unsubscribed"] == 1


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ({"Body": "STOP"}, None, "from: required"),
        ({"From": "+420601234567"}, None, "text: required"),
        ("[1, 2]", "application/json", "expected a form or a JSON object"),
        ("{not json", "application/json", "expected a form or a JSON object"),
    ],
)
def test_bad_requests_are_400_with_the_reason(client, inbound, body, content_type, error):
    if content_type:
        response = client.post(URL, body, content_type=content_type, HTTP_X_SMS_SECRET=SECRET)
    else:
        response = client.post(URL, body, HTTP_X_SMS_SECRET=SECRET)
    assert response.status_code == 400 and error in response.json()["error"]
    assert not Unsubscribe.objects.exists()


def test_the_management_command_handles_a_reply_like_the_webhook(inbound):
    contact = ContactFactory(phone="+44 7700 900123")
    out = StringIO()
    call_command("sms_inbound", "--from", "+447700900123", "hello", stdout=out)
    assert "nothing recorded" in out.getvalue() and not Unsubscribe.objects.exists()
    call_command("sms_inbound", "--from", "+447700900123", "STOP", stdout=out)
    assert "Unsubscribed from SMS: 1 contact with the number +447700900123." in out.getvalue()
    assert Unsubscribe.objects.get().contact == contact


def test_the_service_returns_the_contacts(inbound):
    contact = ContactFactory(phone="00420 601 234 567")
    result = sms_inbound_record(sender="+420601234567", text="quit")
    assert result.stop and result.contact_ids == [contact.pk]


# --- START replies --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["START", "start", " Unstop\n", "YES"])
def test_opt_in_keywords(text):
    assert is_start(text) and not is_stop(text)


@pytest.mark.parametrize("text", ["STOP", "START now", "yes please", "restart", ""])
def test_other_replies_are_not_opt_ins(text):
    assert not is_start(text)


def test_a_start_reply_opts_the_number_back_in_and_only_from_sms(client, inbound):
    ann = ContactFactory(phone="+420 601 234 567")
    other = ContactFactory(phone="+420 601 234 568")
    post(client, {"From": "+420601234567", "Body": "STOP"})
    post(client, {"From": "+420601234568", "Body": "STOP"})
    services.unsubscribe_record(contact=ann, channel=Channel.EMAIL)
    response = post(client, {"From": "+420601234567", "Body": "start"})
    assert response.status_code == 200
    assert response.json() == {"stop": False, "unsubscribed": 0, "start": True, "resubscribed": 1}
    # Ann is back on SMS only; her email opt-out and the other number's SMS opt-out stay.
    assert set(Unsubscribe.objects.values_list("contact_id", "channel")) == {
        (ann.pk, Channel.EMAIL),
        (other.pk, Channel.SMS),
    }
    kinds = list(CampaignEvent.objects.filter(contact=ann).order_by("pk").values_list("kind", "channel"))
    assert kinds[-1] == (CampaignEventKind.RESUBSCRIBED, Channel.SMS)
    again = post(client, {"From": "+420601234567", "Body": "START"})  # nothing left to undo: nothing written
    assert again.json()["resubscribed"] == 0
    assert CampaignEvent.objects.filter(kind=CampaignEventKind.RESUBSCRIBED).count() == 1


def test_an_opted_back_in_contact_is_in_the_sms_audience_again(client, inbound, people):
    campaign = services.campaign_create(name="Text", channel=Channel.SMS, include=[people["vip"]], body="Hi")
    spec = selectors.audience_spec(campaign=campaign)
    post(client, {"From": people["ann"].phone, "Body": "STOP"})
    assert people["ann"].pk not in set(selectors.audience_contacts(spec=spec).values_list("pk", flat=True))
    post(client, {"From": people["ann"].phone, "Body": "Start"})
    assert people["ann"].pk in set(selectors.audience_contacts(spec=spec).values_list("pk", flat=True))


def test_the_management_command_reports_an_opt_in(inbound):
    contact = ContactFactory(phone="+44 7700 900123")
    services.unsubscribe_record(contact=contact, channel=Channel.SMS)
    out = StringIO()
    call_command("sms_inbound", "--from", "+447700900123", "UNSTOP", stdout=out)
    assert "Opted back in to SMS: 1 contact with the number +447700900123." in out.getvalue()
    assert not Unsubscribe.objects.exists()
