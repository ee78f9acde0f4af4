"""Fixtures of the sending tests: a synchronous worker with in-memory backends, and six people in three groups."""

from __future__ import annotations

import pytest
from django_q.conf import Conf

from campaigns import services
from campaigns.models import Channel
from campaigns.sms_backends import LocmemBackend
from segments.models import Membership
from tests.factories import ContactFactory, ContactGroupFactory


@pytest.fixture
def sync_worker(monkeypatch, settings):
    """django-q2 runs each queued task in-process at once (the worker, without the worker)."""
    monkeypatch.setattr(Conf, "SYNC", True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "campaigns.sms_backends.LocmemBackend"
    settings.SITE_URL = "https://mail.example.org"
    LocmemBackend.outbox = []


@pytest.fixture
def people():
    vip, cz, blocked = (ContactGroupFactory(code=c, name=c.upper()) for c in ("vip", "cz", "blocked"))
    out = {}
    for i, (name, groups) in enumerate(
        {"ann": [vip], "bob": [vip, cz], "cyd": [cz], "dan": [cz, blocked], "eve": [vip], "fay": [cz]}.items()
    ):
        out[name] = ContactFactory(first_name=name.capitalize(), email=f"{name}@example.com", phone=f"+42060000000{i}")
        for g in groups:
            Membership.objects.create(group=g, contact=out[name], via_manual=True)
    return {"vip": vip, "cz": cz, "blocked": blocked, **out}


def email_campaign(people, **kwargs):
    return services.campaign_create(
        name="Spring",
        channel=Channel.EMAIL,
        include=[people["vip"], people["cz"]],
        exclude=[people["blocked"]],
        sender="Shop <shop@example.com>",
        subject="Hi {{ first_name }}",
        preheader="Just for {{ first_name }}",
        body="<p>Hello {{ first_name }}</p>",
        **kwargs,
    )
