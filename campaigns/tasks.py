"""django-q2 tasks: one-line wrappers taking ids (arguments are pickled, never model instances)."""

from __future__ import annotations

from campaigns import inbox, sending, triggers


def send_start(campaign_id: int) -> int | None:
    """Freeze a due campaign's audience into deliveries and queue its first batch."""
    return sending.send_start(campaign_id=campaign_id)


def send_batch(campaign_id: int, part: int | None = None, parts: int = 1) -> dict:
    """Send one batch of a sending campaign (of one part of its deliveries), then queue the next while any are left."""
    result = sending.send_batch(campaign_id=campaign_id, part=part, parts=parts)
    if result.more:
        sending.queue_batch(campaign_id=campaign_id, part=part, parts=parts)
    return {"campaign_id": campaign_id, "sent": result.sent, "failed": result.failed, "skipped": result.skipped}


def sends_tick() -> dict:
    """Minutely: start scheduled campaigns that are due, resume sends whose worker died."""
    return {"started": sending.sends_start_due(), "resumed": sending.sends_recover()}


def trigger_run(campaign_id: int) -> dict:
    """Right after an activation: handle one triggered campaign's new entries and resume its sending."""
    result = triggers.trigger_run(campaign_id=campaign_id)
    return {"campaign_id": campaign_id, "queued": result.queued, "deferred": result.deferred}


def triggers_tick() -> dict:
    """Minutely: every active triggered campaign's new entries become deliveries; stalled sends resume."""
    return triggers.triggers_tick()


def tracking_drain() -> int:
    """Record the opens and clicks waiting in the tracking inbox (woken by the endpoints; minutely as a safety net)."""
    return inbox.hits_drain()
