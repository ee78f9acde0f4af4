"""A campaign sent through real SMTP (Django's smtp backend) to a local server started on 127.0.0.1
(aiosmtpd), read back as the recipient's mail server got it: envelope, headers, both parts, tokens."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from campaigns import sending, services
from campaigns.models import Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(settings, sync_worker):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def test_campaign_goes_through_smtp_with_headers_both_parts_and_tokens(
    smtp_server, sync_worker, people, django_capture_on_commit_callbacks
):
    campaign = services.campaign_create(
        name="Through SMTP",
        channel=Channel.EMAIL,
        include=[people["vip"]],  # ann, bob, eve
        sender="Shop Ltd <shop@example.com>",
        subject="Hi {{ first_name }}, 20 % off",
        preheader="Only for {{ first_name }}",
        body="<h1>Hello {{ first_name }}</h1><p>Your code: <b>{{ email }}</b></p>",
    )
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)

    assert Campaign.objects.get().status == CampaignStatus.SENT
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert len(smtp_server.messages) == 3
    seen = set()
    for rcpt, raw in smtp_server.messages:
        message = message_from_bytes(raw, policy=policy.default)
        name = rcpt[0].split("@")[0]
        first = name.capitalize()
        seen.add(rcpt[0])
        assert message["To"] == rcpt[0]
        assert message["From"] == "Shop Ltd <shop@example.com>"
        assert message["Subject"] == f"Hi {first}, 20 % off"
        assert message.get_content_type() == "multipart/alternative"
        url = message["List-Unsubscribe"].strip().strip("<>")  # folded by the mailer: RFC 5322 allows it
        assert url.startswith("https://mail.example.org/u/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert f"Hello {first}" in text and f"{name}@example.com" in text and url in text
        assert f"<h1>Hello {first}</h1>" in html and f"<b>{name}@example.com</b>" in html
        assert f"Only for {first}" in html and url in html
    assert seen == {"ann@example.com", "bob@example.com", "eve@example.com"}
