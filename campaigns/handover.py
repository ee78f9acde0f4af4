"""Handing a batch's messages to the backend: each delivery's email (both parts, tracked links, unsubscribe
link and headers) and the connection, opened ahead of each message that needs one so that a refused
connection (nothing handed over: retried later) is told apart from a failure mid-message."""

from __future__ import annotations

import logging

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
    email = EmailMultiAlternatives(
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
