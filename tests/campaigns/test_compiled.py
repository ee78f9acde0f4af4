"""Content compiled once per (variant, arm) renders exactly what the reference code renders per contact:
compose.message_for's subject, preheader, HTML and plain text, and tracking.html_tracked's links and pixel
— on random templates (tokens next to tags, quotes, entities, links, scripts) and random values."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core import signing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.compiled import CompiledContent, Urls
from campaigns.models import Campaign, Channel, Delivery
from campaigns.personalisation import render
from campaigns.plaintext import html_to_text
from campaigns.tracking import html_tracked

NAMES = ["first_name", "last_name", "city"]
PIECES = [
    "<p>", "</p>", "<h1>", "</h1>", "<br>", "<ul>", "<li>", "</li>", "</ul>", "<div>", "</div>",
    '<a href="https://shop.example.com/a?b=1&amp;c=2">', '<a href="https://docs.example.com/">', "</a>",
    "<a href='https://x.example/q'>", "<script>var a = 1;</script>", "<style>p {}</style>", "<!-- note -->",
    "Hello ", "  ", "\n", "\t", "&amp;", "&", "&am", "&#", '"', "'", "href=", '"https://y.example/"', "=",
    "x", "Dear", ",", ".", "(", ")", "<img src=\"https://img.example/i.png\" alt=\"\">", "<p class=",
    ">", "https://z.example/", "\xa0",
]  # fmt: skip
TOKENS = ["{{ first_name }}", '{{ last_name|default:"Friend" }}', "{{ city|default:'  pad ' }}", "{{first_name}}"]
VALUES = st.lists(
    st.sampled_from(list("ab <>&\"'=:/#;\n\t\xa0xhref.") + ["https://", "href=", "&amp;", "amp;", " \n "]),
    max_size=8,
).map("".join)


def reference(campaign, values, delivery_id):
    html = render(campaign.body, values=values, html=True)
    return (
        render(campaign.subject, values=values),
        render(campaign.preheader, values=values),
        html,
        html_to_text(html),
        html_tracked(html=html, delivery_id=delivery_id, contact_id=delivery_id + 1, campaign_id=3),
    )


def compiled(campaign, values, delivery_id):
    content = CompiledContent(campaign=campaign, variant=None, arm=None, allowed=NAMES)
    message = content.message(values)
    delivery = Delivery(pk=delivery_id, contact_id=delivery_id + 1)
    tracked = content.html_tracked(html=message.html, values=values, delivery=delivery, campaign_id=3, urls=Urls())
    return (message.subject, message.preheader, message.html, message.text, tracked), content


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch, settings):
    settings.SITE_URL = "https://mail.example.org"
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: "1xZVsX")  # the same second


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(TOKENS)), max_size=14).map("".join),
    subject=st.lists(st.one_of(st.sampled_from(["Hi ", "!", " "]), st.sampled_from(TOKENS)), max_size=4).map("".join),
    values=st.fixed_dictionaries(dict.fromkeys(NAMES, VALUES)),
    delivery_id=st.integers(min_value=1, max_value=10**9),
)
def test_compiled_content_renders_what_the_reference_renders(body, subject, values, delivery_id):
    campaign = Campaign(channel=Channel.EMAIL, subject=subject, preheader="For {{ city }}", body=body)
    mine, _ = compiled(campaign, values, delivery_id)
    assert mine == reference(campaign, values, delivery_id)


def test_the_fast_paths_are_taken_for_ordinary_content_and_left_where_a_value_could_change_the_markup():
    plain = Campaign(
        channel=Channel.EMAIL,
        body='<h1>Hi {{ first_name }},</h1><p>See <a href="https://shop.example.com/">the shop</a>.</p>',
    )
    content = CompiledContent(campaign=plain, variant=None, arm=None, allowed=NAMES)
    assert content.text_plan is not None and content.link_plan is not None
    for body in (
        '<a href="https://shop.example.com/{{ city }}">shop</a>',  # a token in a link
        '<p title="{{ first_name }}">x</p>',  # in an attribute
        "<p>&am{{ city }}</p>",  # completing a character reference
        '<p>{{ first_name }}"https://x.example/"</p>',  # a value could make an href="…" in the text
    ):
        content = CompiledContent(
            campaign=Campaign(channel=Channel.EMAIL, body=body), variant=None, arm=None, allowed=NAMES
        )
        assert content.text_plan is None or content.link_plan is None, body
        values = {"first_name": "href=", "last_name": "", "city": "x&amp;y"}
        assert compiled(content.campaign, values, 7)[0] == reference(content.campaign, values, 7)


def test_a_retired_token_fails_the_whole_variant_with_the_reference_error():
    campaign = Campaign(channel=Channel.EMAIL, subject="Hi", body="<p>{{ custom.gone }}</p>")
    content = CompiledContent(campaign=campaign, variant=None, arm=None, allowed=NAMES)
    assert content.error is not None and "custom.gone" in str(content.error)


def test_sms_content_is_the_rendered_text():
    campaign = Campaign(channel=Channel.SMS, body="Hi {{ first_name|default:'there' }} & co")
    content = CompiledContent(campaign=campaign, variant=None, arm=None, allowed=NAMES)
    text = content.message({"first_name": "<Ann>", "last_name": "", "city": ""}).text
    assert (
        text == f"Hi <Ann> & co\n{django_settings.SMS_OPT_OUT_TEXT}"
    )  # not escaped; the opt-out line as every SMS has
