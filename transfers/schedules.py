"""django-q2 schedules of the transfers app, registered idempotently by name after every migrate."""

from __future__ import annotations

from typing import Any

# Every minute: an import whose worker was killed (no heartbeat) is marked failed with what it saved.
INTERRUPTED_IMPORTS = "transfers.interrupted_imports"


def schedules_register(**_: Any) -> None:
    """Create or update the interrupted-import schedule (on post_migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=INTERRUPTED_IMPORTS,
        defaults={
            "func": "transfers.tasks.fail_interrupted_imports",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
