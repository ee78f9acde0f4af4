"""The webhooks' django-q2 schedules (registered after every migrate): dispatch and send every minute (the safety
net under the wake-ups of `webhooks.wakeups`), and prune old campaign events once a day."""

from __future__ import annotations

from typing import Any

DISPATCH = "webhooks.dispatch"
PRUNE = "webhooks.prune_campaign_events"


def schedules_register(**_: Any) -> None:
    from segments.schedules import schedule_every_minutes

    schedule_every_minutes(name=DISPATCH, func="webhooks.tasks.run_webhooks", minutes=1)
    schedule_every_minutes(name=PRUNE, func="webhooks.tasks.prune_campaign_events", minutes=24 * 60)
