"""django-q2 tasks: one-line wrappers taking ids (arguments are pickled, never model instances)."""

from __future__ import annotations

from transfers.imports import pipeline
from transfers.models import ImportJob, ImportStatus


def run_import(job_id: int) -> str:
    """Run a queued import job (the upload page queues it)."""
    job = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).first()
    return pipeline.import_execute(job=job).status if job is not None else "gone"


def run_import_undo(job_id: int, user_id: int | None) -> str:
    """Undo a big import (its page queues it); a refusal is kept on the job for its page."""
    from transfers.imports.undo import import_undo_queued

    return import_undo_queued(job_id=job_id, user_id=user_id)


def fail_interrupted_imports() -> list[int]:
    """Minutely: mark failed the imports whose worker died (no heartbeat), saying how many rows were saved."""
    from transfers.imports.writing import imports_recover_interrupted

    return imports_recover_interrupted()
