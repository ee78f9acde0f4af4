"""Handing a batch's messages to the backend: each delivery's email (both parts, tracked links, unsubscribe
link and headers) and the connection, opened ahead of each message that needs one so that a refused
connection (nothing handed over: retried later) is told apart from a failure mid-message."""

from __future__ import annotations

import logging
import random
import sys
from email.policy import Compat32
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.html import escape

from campaigns.compiled import CompiledContent, Urls
from campaigns.compose import Message
from campaigns.links import unsubscribe_token, unsubscribe_url
from campaigns.models import Campaign, Channel, Delivery
from campaigns.sms_backends import SmsMessage, sms_backend
from campaigns.tracking import html_tracked

logger = logging.getLogger(__name__)


class _FoldCache(Compat32):
    """compat32 (what Django's emails use), remembering how it folded the header lines every message repeats.

    Folding is a pure function of the header's name and value and the policy's line length, line separator
    and transfer encoding, so a remembered line is the line compat32 would write.
    """

    _UNIQUE = frozenset({"to", "cc", "date", "message-id", "list-unsubscribe"})  # different in every message
    _lines: dict[tuple[str, str, str, int | None, str], bytes] = {}

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not isinstance(value, str) or name.lower() in self._UNIQUE:
            return super().fold_binary(name, value)
        key = (name, value, self.linesep, self.max_line_length, self.cte_type)
        line = self._lines.get(key)
        if line is None:
            if len(self._lines) >= 1024:
                self._lines.clear()
            line = self._lines[key] = super().fold_binary(name, value)
        return line


FOLDING = _FoldCache()


class CampaignEmail(EmailMultiAlternatives):
    """A campaign's email: the MIME message Django builds, with the generator's two costly steps done once.

    The bytes equal Django's for the same message (tests/campaigns/test_handover.py) but for the boundary,
    which is random either way: chosen here the way the email package chooses it and checked against the
    parts' text with a plain substring test (the package compiles a regular expression per message), and the
    header lines folded by FOLDING.
    """

    def message(self, *args: Any, **kwargs: Any) -> Any:
        msg = super().message(*args, **kwargs)
        msg.policy = FOLDING
        texts = [self.body, *(str(content) for content, _ in self.alternatives)]
        counter = 0
        while True:
            boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
            if counter:
                boundary += f".{counter}"
            if not any(boundary in text for text in texts):
                break
            counter += 1
        msg.set_boundary(boundary)
        return msg


def email_for(*, campaign: Campaign, delivery: Delivery, message: Message) -> EmailMultiAlternatives:
    """The email of one delivery: both parts, the unsubscribe link in each and the RFC 8058 headers; the
    HTML's links go through the click redirect and it carries the open pixel (campaigns.tracking)."""
    return _email(
        campaign=campaign,
        address=delivery.address,
        message=message,
        tracked=html_tracked(
            html=message.html, delivery_id=delivery.pk, contact_id=delivery.contact_id, campaign_id=campaign.pk
        ),
        unsubscribe=unsubscribe_url(delivery_id=delivery.pk),
    )


def _email(
    *, campaign: Campaign, address: str, message: Message, tracked: str, unsubscribe: str
) -> EmailMultiAlternatives:
    preheader = (
        f'<div style="display:none;max-height:0;overflow:hidden">{escape(message.preheader)}</div>\n'
        if message.preheader
        else ""
    )
    html = (
        f"{preheader}{tracked}\n"
        '<p style="font-size:12px;color:#6c757d">Do not want these emails? '
        f'<a href="{escape(unsubscribe)}">Unsubscribe</a>.</p>'
    )
    text = f"{message.text}\n\n--\nUnsubscribe: {unsubscribe}\n"
    email = CampaignEmail(
        subject=message.subject,
        body=text,
        from_email=campaign.sender or settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    email.attach_alternative(html, "text/html")
    return email


class Sender:
    """One batch's backend: an email connection opened ahead of each message that needs it (so a refused
    connection is told apart from a failure mid-message), or the SMS backend."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.email = get_connection() if campaign.channel == Channel.EMAIL else None
        self.sms = sms_backend() if campaign.channel == Channel.SMS else None
        self.urls = Urls()
        self.open = False

    def send(self, *, content: CompiledContent, delivery: Delivery, message: Message, values: dict[str, str]) -> int:
        """1 when the backend accepted the message; raises Connecting(exc) when no connection could be opened."""
        if self.email is None:
            assert self.sms is not None
            return self.sms.send_messages([SmsMessage(self.campaign.sender, delivery.address, message.text)])
        if not self.open:
            try:
                self.email.open()
            except Exception as exc:
                raise Connecting(exc) from exc
            self.open = True
        tracked = content.html_tracked(
            html=message.html, values=values, delivery=delivery, campaign_id=self.campaign.pk, urls=self.urls
        )
        unsubscribe = (
            f"{self.urls.unsubscribe[0]}{unsubscribe_token(delivery_id=delivery.pk)}{self.urls.unsubscribe[1]}"
        )
        email = _email(
            campaign=self.campaign, address=delivery.address, message=message, tracked=tracked, unsubscribe=unsubscribe
        )
        return self.email.send_messages([email])

    def close(self) -> None:
        if self.email is not None and self.open:
            _close_quietly(self.email)
        self.open = False


class Connecting(Exception):
    """The email connection could not be opened: nothing was handed over."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _close_quietly(email_connection: object) -> None:
    try:
        email_connection.close()  # type: ignore[attr-defined]
    except Exception:
        logger.debug("closing the email connection failed", exc_info=True)
