"""Open and click tracking of sent emails: signed tokens and link rewriting (recording: campaigns.inbox).

- The open pixel `/t/o/<token>.gif`: the token is `<delivery id>.<contact id>.<campaign id>:<signature>`
  (salt "campaigns.open"), so an open is recorded without reading the delivery; tokens of emails sent
  before they carried the ids (`<delivery id>:<signature>`) still work (the drain reads the delivery).
- A click `/t/c/<token>/`: the token signs the pair (delivery id, original URL) (salt "campaigns.click"),
  so only links the sender put in that message redirect — no open redirect, no enumeration; a forged or
  tampered token (another delivery, another URL) is refused and records nothing.

Only the HTML part of a SENT email is rewritten (campaigns.sending.email_for): previews and test sends
keep the original links, the plain-text part keeps them too, and the unsubscribe link (added after the
rewrite) is never tracked. Every open and click is recorded (an email_open / email_click activity with the
campaign, by the drain of the tracking inbox: campaigns.inbox); reports count unique opens (distinct
contacts), so a mail client fetching the pixel twice does not inflate them.
"""

from __future__ import annotations

import re
from html import escape, unescape

from django.conf import settings
from django.core import signing
from django.urls import reverse

OPEN_SALT = "campaigns.open"
CLICK_SALT = "campaigns.click"

# href="http(s)://…" (or single-quoted) in the message's HTML; the value is HTML-escaped there.
_HREF = re.compile(r"""(?P<pre>\bhref\s*=\s*)(?P<q>["'])(?P<url>https?://[^"'<>\s]+)(?P=q)""", re.IGNORECASE)


def open_value(*, delivery_id: int, contact_id: int | None = None, campaign_id: int | None = None) -> str:
    """What a pixel token signs: the delivery, with its contact and campaign when both are given."""
    if contact_id is None or campaign_id is None:
        return str(delivery_id)
    return f"{delivery_id}.{contact_id}.{campaign_id}"


def open_token(*, delivery_id: int, contact_id: int | None = None, campaign_id: int | None = None) -> str:
    value = open_value(delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id)
    return signing.Signer(salt=OPEN_SALT).sign(value)


def open_target(*, token: str) -> tuple[int, int | None, int | None] | None:
    """(delivery, contact, campaign) a pixel token names (contact and campaign None in an older token);
    None when it is forged, tampered with or malformed."""
    try:
        parts = [int(p) for p in signing.Signer(salt=OPEN_SALT).unsign(token).split(".")]
    except (signing.BadSignature, ValueError):
        return None
    if len(parts) == 1:
        return parts[0], None, None
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None


def open_delivery_id(*, token: str) -> int | None:
    """The delivery a pixel token names; None when it is forged or tampered with."""
    target = open_target(token=token)
    return None if target is None else target[0]


def click_token(*, delivery_id: int, url: str) -> str:
    return signing.dumps([delivery_id, url], salt=CLICK_SALT, compress=True)


def click_target(*, token: str) -> tuple[int, str] | None:
    """(delivery id, original URL) a click token signs; None when forged, tampered or malformed."""
    try:
        delivery_id, url = signing.loads(token, salt=CLICK_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(delivery_id, int) or not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    return delivery_id, url


def open_url(*, delivery_id: int, contact_id: int | None = None, campaign_id: int | None = None) -> str:
    token = open_token(delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id)
    return settings.SITE_URL + reverse("track_open", args=[token])


def click_url(*, delivery_id: int, url: str) -> str:
    return settings.SITE_URL + reverse("track_click", args=[click_token(delivery_id=delivery_id, url=url)])


def html_tracked(*, html: str, delivery_id: int, contact_id: int | None = None, campaign_id: int | None = None) -> str:
    """The HTML with each http(s) link sent through the click redirect and the open pixel appended."""

    def rewrite(match: re.Match[str]) -> str:
        tracked = click_url(delivery_id=delivery_id, url=unescape(match["url"]))
        return f"{match['pre']}{match['q']}{escape(tracked)}{match['q']}"

    pixel = (
        f'<img src="{escape(open_url(delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id))}" '
        'width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )
    return _HREF.sub(rewrite, html) + "\n" + pixel
