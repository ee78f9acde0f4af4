"""django-q2 tasks of the webhooks app (the minutely schedule and the on-demand run after a Resend)."""

from __future__ import annotations

import datetime as dt

from webhooks.dispatch import dispatch_all
from webhooks.sending import send_due


def run_webhooks(now: dt.datetime | None = None) -> tuple[int, int]:
    """Put new membership events into deliveries, then send what is due: (deliveries created, sent)."""
    return dispatch_all(now=now), send_due(now=now)
