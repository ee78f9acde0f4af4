"""A campaign's email (campaigns.handover.CampaignEmail) is byte for byte the email Django builds for the same
message — headers folded and encoded alike (non-ASCII, long lines, both line separators, generated again
from remembered folds) — with a boundary of the email package's own form that appears in no part."""

from __future__ import annotations

import re

import pytest
from django.core.mail import EmailMultiAlternatives

from campaigns.handover import CampaignEmail

UNSUBSCRIBE = "https://mail.example.org/u/123456.789.12:C2pzIw1NF8W3Dcdep0eUUWs5BvxRHoC8kLX_oEHd32U/"
CASES = [
    ("Hi Ann", "Hello Ann\n", "<p>Hello Ann</p>"),
    ("Ahoj Jiří, jarní výprodej končí — jen pro vás", "Dobrý den, Jiří\n", "<p>Dobrý den, <b>Jiří</b></p>"),
    ("A very long subject line " * 6, "x" * 1200 + "\n", "<p>" + "y " * 700 + "</p>"),
    ("=?utf-8?q?looks_encoded?= and a colon: here", "=============== not a boundary ==\n", "<p>ok</p>"),
]


def build(cls, subject, text, html):
    email = cls(
        subject=subject,
        body=text,
        from_email="Shop Šťastný <shop@example.com>",
        to=["jiri.novak@example.cz"],
        headers={
            "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Date": "Fri, 04 Dec 2026 16:11:29 -0000",
            "Message-ID": "<179640068934.22519.5779182676110895822@localhost>",
        },
    )
    email.attach_alternative(html, "text/html")
    return email


@pytest.mark.parametrize(("subject", "text", "html"), CASES)
@pytest.mark.parametrize("linesep", ["\n", "\r\n"])
def test_the_bytes_are_djangos(subject, text, html, linesep):
    for _ in range(2):  # the second time from remembered folds
        mine = build(CampaignEmail, subject, text, html).message()
        boundary = mine.get_boundary()
        reference = build(EmailMultiAlternatives, subject, text, html).message()
        reference.set_boundary(boundary)  # the one random part, made equal
        assert mine.as_bytes(linesep=linesep) == reference.as_bytes(linesep=linesep)
        assert mine.as_string() == reference.as_string()


def test_the_boundary_has_the_email_packages_form_and_is_in_no_part():
    subject, text, html = CASES[3]
    boundaries = {build(CampaignEmail, subject, text, html).message().get_boundary() for _ in range(20)}
    assert len(boundaries) == 20
    for boundary in boundaries:
        assert re.fullmatch(r"={15}\d{19}==(\.\d+)?", boundary)
        assert boundary not in text and boundary not in html


def test_repeated_header_lines_are_remembered_and_unique_ones_are_not():
    from campaigns.handover import FOLDING

    FOLDING._lines.clear()
    build(CampaignEmail, *CASES[0]).message().as_bytes()
    names = {key[0].lower() for key in FOLDING._lines}
    assert {"from", "list-unsubscribe-post", "content-type", "mime-version"} <= names
    assert not names & {"to", "date", "message-id", "list-unsubscribe"}
