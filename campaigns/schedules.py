"""django-q2 schedules of the campaigns app, registered idempotently by name after every migrate."""

from __future__ import annotations

from typing import Any

from segments.schedules import schedule_every_minutes

# Every minute: start scheduled campaigns that are due; resume a send whose worker died (no heartbeat).
SENDS_TICK = "campaigns.sends_tick"
# Every minute: triggered campaigns turn new entries into their groups into deliveries (campaigns.triggers).
TRIGGERS_TICK = "campaigns.triggers_tick"
# Every minute, a safety net: the tracking endpoints wake a drain of their inbox themselves (campaigns.inbox),
# but a lost task (the broker was down, a worker killed) leaves its hits waiting.
TRACKING_DRAIN = "campaigns.tracking_drain"


def schedules_register(**_: Any) -> None:
    """Create or update the sending, trigger and tracking-drain schedules (on post_migrate)."""
    schedule_every_minutes(name=SENDS_TICK, func="campaigns.tasks.sends_tick", minutes=1)
    schedule_every_minutes(name=TRIGGERS_TICK, func="campaigns.tasks.triggers_tick", minutes=1)
    schedule_every_minutes(name=TRACKING_DRAIN, func="campaigns.tasks.tracking_drain", minutes=1)
