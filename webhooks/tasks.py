"""django-q2 tasks of the webhooks app (the minutely schedule, the wake-ups after tasks, the run after a Resend)."""

from __future__ import annotations

import datetime as dt

from webhooks.dispatch import dispatch_all
from webhooks.sending import send_due
from webhooks.wakeups import run_started


def run_webhooks(now: dt.datetime | None = None) -> tuple[int, int]:
    """Put new membership and campaign events into deliveries, then send what is due: (deliveries created, sent)."""
    run_started()
    return dispatch_all(now=now), send_due(now=now)


def prune_campaign_events() -> int:
    """Daily: forget campaign events older than CAMPAIGN_EVENTS_DAYS."""
    from campaigns.events import campaign_events_prune

    return campaign_events_prune()
