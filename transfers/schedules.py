"""django-q2 schedules of the transfers app, registered idempotently by name after every migrate."""

from __future__ import annotations

from typing import Any

from segments.schedules import schedule_every_minutes

# Every minute: an import whose worker was killed (no heartbeat) is marked failed with what it saved.
INTERRUPTED_IMPORTS = "transfers.interrupted_imports"


def schedules_register(**_: Any) -> None:
    """Create or update the interrupted-import schedule (on post_migrate)."""
    schedule_every_minutes(name=INTERRUPTED_IMPORTS, func="transfers.tasks.fail_interrupted_imports", minutes=1)
