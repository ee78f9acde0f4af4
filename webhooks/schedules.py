"""The webhooks' django-q2 schedule: dispatch and send every minute (registered after every migrate)."""

from __future__ import annotations

from typing import Any

DISPATCH = "webhooks.dispatch"


def schedules_register(**_: Any) -> None:
    from segments.schedules import schedule_every_minutes

    schedule_every_minutes(name=DISPATCH, func="webhooks.tasks.run_webhooks", minutes=1)
