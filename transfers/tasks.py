"""django-q2 tasks: one-line wrappers taking ids (arguments are pickled, never model instances)."""

from __future__ import annotations

from transfers.imports import pipeline
from transfers.models import ImportJob, ImportStatus


def run_import(job_id: int) -> str:
    """Run a queued import job (the upload page queues it)."""
    job = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).first()
    return pipeline.import_execute(job=job).status if job is not None else "gone"


def fail_interrupted_imports() -> list[int]:
    """Minutely: mark failed the imports whose worker died (no heartbeat), saying how many rows were saved."""
    from transfers.imports.writing import imports_recover_interrupted

    return imports_recover_interrupted()
