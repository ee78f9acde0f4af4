"""The message one contact gets: its variant's content (else the campaign's), its A/B arm's overrides,
personalised in the sandbox (campaigns.personalisation). Used by the preview, the test send and
the sending task (campaigns.sending: one Delivery row per contact records the variant and arm)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from campaigns.models import Campaign, Channel, ContentVariant, SplitArm
from campaigns.personalisation import contact_values, render
from campaigns.plaintext import html_to_text
from campaigns.sms import SmsCount, sms_count, with_opt_out
from contacts.models import Contact, ContactField


@dataclass(frozen=True)
class Content:
    subject: str
    preheader: str
    body: str


@dataclass(frozen=True)
class Message:
    subject: str
    preheader: str
    html: str  # email only
    text: str  # the plain-text part (email) or the SMS
    variant: ContentVariant | None
    arm: str | None

    @property
    def sms(self) -> SmsCount:
        return sms_count(self.text)


def content_for(*, campaign: Campaign, variant: ContentVariant | None, arm: SplitArm | None) -> Content:
    """Unrendered content: the variant's fields (blank inherits the campaign's), then the arm's overrides."""
    subject, preheader, body = campaign.subject, campaign.preheader, campaign.body
    for layer in (variant, arm):
        if layer is not None:
            subject = layer.subject or subject
            preheader = layer.preheader or preheader
            body = layer.body or body
    return Content(subject=subject, preheader=preheader, body=body)


def message_for(
    *,
    campaign: Campaign,
    contact: Contact,
    variant: ContentVariant | None = None,
    arm: SplitArm | None = None,
    fields: Iterable[ContactField] | None = None,
) -> Message:
    """The personalised message; TokenError when the content uses a token that no longer exists.

    `fields`: the active custom fields, when the caller renders many messages (read once, not per contact).
    """
    content = content_for(campaign=campaign, variant=variant, arm=arm)
    values = contact_values(contact, fields=fields)
    if campaign.channel == Channel.SMS:
        text = with_opt_out(render(content.body, values=values))  # every SMS says how to opt out
        return Message("", "", "", text, variant, arm.label if arm else None)
    html = render(content.body, values=values, html=True)
    return Message(
        subject=render(content.subject, values=values),
        preheader=render(content.preheader, values=values),
        html=html,
        text=html_to_text(html),
        variant=variant,
        arm=arm.label if arm else None,
    )
