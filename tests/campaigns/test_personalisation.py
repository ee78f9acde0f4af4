"""Personalisation tokens: rendering with fallbacks and HTML escaping; save-time errors naming the token;
the sandbox (no template tags, no attributes beyond the whitelist); the plain-text part; SMS counts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from campaigns import services
from campaigns.compose import message_for
from campaigns.models import Channel
from campaigns.personalisation import TokenError, allowed_tokens, contact_values, render, tokens_check
from campaigns.plaintext import html_to_text
from campaigns.sms import sms_count
from contacts.models import Contact, ContactField
from tests.factories import AccountFactory, ContactFactory, ContactFieldFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact():
    ContactFieldFactory(code="plan", type="choice", choices=[{"code": "pro", "label": "Pro plan"}])
    return ContactFactory(
        first_name="Jana",
        last_name="<Nováková>",
        city="",
        job_title="",
        account=AccountFactory(name="Acme & Co"),
        custom={"plan": "pro"},
    )


def test_tokens_render_with_values_and_fallbacks(contact):
    values = contact_values(contact)
    text = 'Hi {{ first_name }} {{last_name}} of {{ account.name }} ({{ custom.plan }}), {{ city|default:"friend" }}'
    assert render(text, values=values) == "Hi Jana <Nováková> of Acme & Co (Pro plan), friend"
    assert render(text, values=values, html=True) == "Hi Jana &lt;Nováková&gt; of Acme &amp; Co (Pro plan), friend"
    assert render("{{ job_title|default:'there' }}", values=values) == "there"


@pytest.mark.parametrize(
    "text, named",
    [
        ("{% load static %}", "{% load static %}"),
        ("{% if 1 %}x{% endif %}", "{% if 1 %}"),
        ("{{ contact.delete }}", "{{ contact.delete }}"),
        ("{{ account.name.upper }}", "{{ account.name.upper }}"),
        ("{{ account.__class__ }}", "{{ account.__class__ }}"),
        ("{{ first_name|upper }}", "{{ first_name|upper }}"),
        ("{{ favourite_colour }}", "favourite_colour"),
        ("{{ custom.retired }}", "custom.retired"),
        ("Hello {{ first_name", "without its other half"),
        ("{# note #}", "{# note #}"),
    ],
)
def test_anything_but_an_allowed_token_is_a_save_time_error_naming_it(text, named):
    ContactFieldFactory(code="retired", is_active=False)
    with pytest.raises(TokenError) as exc:
        tokens_check(f"Dear reader, {text}")
    assert named in str(exc.value)
    group = ContactGroupFactory(code="g")
    with pytest.raises(TokenError):
        services.campaign_create(name="X", channel=Channel.EMAIL, include=[group], body=text)
    assert not services.Campaign.objects.exists()


def test_the_sandbox_reaches_only_the_whitelisted_values(contact):
    values = contact_values(contact)
    assert set(values) == set(allowed_tokens())
    assert all(isinstance(v, str) for v in values.values())
    # nothing is called or looked up on the contact at render time: a deleted contact renders the same
    rendered = render("{{ first_name }} {{ email }}", values=values)
    Contact.objects.filter(pk=contact.pk).delete()
    assert render("{{ first_name }} {{ email }}", values=values) == rendered


def test_a_retired_field_after_saving_is_an_error_at_render_time(contact):
    group = ContactGroupFactory(code="g")
    campaign = services.campaign_create(name="X", channel=Channel.EMAIL, include=[group], body="{{ custom.plan }}")
    ContactField.objects.filter(code="plan").update(is_active=False)
    with pytest.raises(TokenError, match="custom.plan"):
        message_for(campaign=campaign, contact=contact)


def test_email_message_has_html_and_a_generated_text_part(contact):
    group = ContactGroupFactory(code="g")
    campaign = services.campaign_create(
        name="X",
        channel=Channel.EMAIL,
        include=[group],
        subject="Hi {{ first_name }}",
        body='<h1>Hello {{ last_name }}</h1><p>See <a href="https://x.test/p">our plans</a>.</p>',
    )
    message = message_for(campaign=campaign, contact=contact)
    assert message.subject == "Hi Jana"
    assert "Hello &lt;Nováková&gt;" in message.html
    assert message.text == "Hello <Nováková>\n\nSee our plans (https://x.test/p)."


def test_html_to_text():
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<p>One&nbsp;&amp;   two<br>three</p><ul><li>a</li><li>b</li></ul>"
        '<p><a href="https://x.test">https://x.test</a> <a href="#top">top</a></p>'
        "<script>alert(1)</script></body></html>"
    )
    assert html_to_text(html) == "One\xa0& two\nthree\n\n- a\n- b\n\nhttps://x.test top"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ("GSM-7", 0, 0)),
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("a" * 306, ("GSM-7", 306, 2)),
        ("a" * 307, ("GSM-7", 307, 3)),
        ("€" * 80, ("GSM-7", 160, 1)),
        ("[" * 81, ("GSM-7", 162, 2)),
        ("ř" * 70, ("UCS-2", 70, 1)),
        ("ř" * 71, ("UCS-2", 71, 2)),
        ("a" * 134 + "ř", ("UCS-2", 135, 3)),
        ("😀" * 35, ("UCS-2", 70, 1)),
    ],
)
def test_sms_count(text, expected):
    count = sms_count(text)
    assert (count.encoding, count.units, count.segments) == expected


def test_the_browser_counts_sms_like_the_server():
    """static/js/sms-count.js gives the same answers as campaigns/sms.py (run with node)."""
    module = Path(__file__).resolve().parents[2] / "static" / "js" / "sms-count.js"
    samples = ["", "a" * 161, "€" * 80, "[" * 81, "ř" * 71, "a" * 134 + "ř", "😀" * 36, "Ahoj {{ first_name }}!"]
    script = (
        f"import {{ smsCount }} from {json.dumps(module.as_uri())};"
        f"console.log(JSON.stringify({json.dumps(samples)}.map((t) => smsCount(t))));"
    )
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        pytest.skip("node is not installed")
    browser = json.loads(out.stdout)
    for text, js in zip(samples, browser, strict=True):
        py = sms_count(text)
        assert (js["encoding"], js["units"], js["segments"]) == (py.encoding, py.units, py.segments), text
