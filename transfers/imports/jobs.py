"""Import jobs as the pages use them: keep an upload as a draft, set its mapping and options, queue it.

Writes only; the pipeline (transfers.imports.pipeline) runs a job, `transfers.selectors` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from contacts import field_settings
from contacts.models import ContactField
from transfers.imports.auditing import import_started_record
from transfers.imports.mapping import CUSTOM_PREFIX, mapping_to_saved
from transfers.imports.pipeline import ImportOptions, mapping_refusal
from transfers.imports.reading import Table
from transfers.models import ImportJob, ImportKind, ImportStatus, SavedMapping


def job_create(
    *,
    data: bytes,
    file_name: str,
    user: AbstractBaseUser | AnonymousUser | None,
    table: Table,
    mapping: Sequence[str],
    options: ImportOptions | None = None,
    kind: str = ImportKind.CONTACTS,
) -> ImportJob:
    """Keep an uploaded file (already read as `table`) as a draft import job (of contacts or accounts) with its
    first mapping."""
    fields = {
        "kind": kind,
        "created_by": user if user is not None and user.is_authenticated else None,
        "file_name": file_name[:255],
        "file_size": len(data),
        "read_as": table.description,
        "header": table.header,
        "mapping": list(mapping),
        "options": (options or ImportOptions()).to_json(),
    }
    if connection.vendor != "postgresql":
        return ImportJob.objects.create(data=data, **fields)
    with transaction.atomic():
        job = ImportJob.objects.create(data=b"", **fields)
        _file_store(job_id=job.pk, data=data)
    job.data = data
    return job


# TRICKY (PostgreSQL): Django binds parameters on the client, so a file's bytes would travel as an escaped
# literal of twice their size, built in Python (0.4 s for a 14 MB file of 100,000 rows: a tenth of such an
# import). A server-side-binding psycopg cursor on the same connection (same transaction) sends them as one
# binary parameter (%b).
def _file_store(*, job_id: int, data: bytes) -> None:
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"UPDATE {ImportJob._meta.db_table} SET data = %b WHERE id = %s", [data, job_id])


@transaction.atomic
def job_queue(*, job: ImportJob) -> None:
    """Mark a draft job queued (noted in the audit log) and run it in the worker once the transaction commits."""
    from health.queue import task_queue_on_commit

    if job.status != ImportStatus.DRAFT:
        return
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED, phase="Waiting for the worker")
    job.status = ImportStatus.QUEUED
    import_started_record(job=job)
    task_queue_on_commit("transfers.tasks.run_import", job.pk)  # the broker down: kept, queued when it is back


def _free_field_code(label: str) -> str:
    base = field_settings.code_from_label(label) or "imported"
    base = base if base[:1].isalpha() else f"f_{base}"
    code, n = base[:45], 1
    while True:
        try:
            return field_settings.validate_code(code)
        except ValidationError:
            n += 1
            code = f"{base[:45]}_{n}"


@transaction.atomic
def job_mapping_set(
    *,
    job: ImportJob,
    mapping: Sequence[str],
    options: ImportOptions,
    new_fields: dict[int, str] | None = None,
    save_as: str = "",
    user: AbstractBaseUser | AnonymousUser | None = None,
) -> list[str]:
    """Set a draft job's mapping and options; create the asked custom fields (column → type) and save the mapping.

    Returns the problems that keep the mapping from running (then nothing is changed).
    """
    mapping = list(mapping)
    created: list[ContactField] = []
    for index, field_type in (new_fields or {}).items():
        label = job.header[index][:100]
        field = field_settings.field_create(label=label, code=_free_field_code(label), type=field_type)
        created.append(field)
        mapping[index] = f"{CUSTOM_PREFIX}{field.code}"
    problems = mapping_refusal(mapping=mapping, options=options, kind=job.kind)
    if problems:
        transaction.set_rollback(True)
        return problems
    ImportJob.objects.filter(pk=job.pk).update(mapping=mapping, options=options.to_json())
    job.mapping, job.options = mapping, options.to_json()
    if save_as.strip():
        SavedMapping.objects.update_or_create(  # type: ignore[misc]
            name=save_as.strip()[:100],
            defaults={
                "columns": mapping_to_saved(header=job.header, mapping=mapping),
                "date_format": options.date_format,
                "created_by": user if user is not None and user.is_authenticated else None,
            },
        )
    return []
