"""The audit log's entries for imports: who started one (the upload page queues it, `import_contacts` runs it
at once), with the file, the mapping and the options; and who undid one, with what the undo did."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from audit.models import AuditAction
from audit.services import FROM_CONTEXT, audit_record
from segments.models import ContactGroup
from transfers.imports.kinds import kind_of
from transfers.models import ImportJob


def import_started_record(*, job: ImportJob) -> None:
    """Note that `job` was started (in the transaction that queues or runs it)."""
    kind = kind_of(job.kind)
    options = {k: v for k, v in (job.options or {}).items() if v not in (None, "", False)}
    columns = [f"{header} → {target}" for header, target in zip(job.header, job.mapping, strict=False) if target]
    if options.get("group_id"):  # an existing group: its name, as the import's page shows it
        options["group"] = (
            ContactGroup.objects.filter(pk=options.pop("group_id")).values_list("name", flat=True).first()
        )
    target = options.get("new_group") or options.get("group")
    group = f" into the group “{target}”" if target else ""
    audit_record(
        action=AuditAction.IMPORT_RUN,
        obj=job,
        label=job.file_name,
        changes={"file": job.file_name, "bytes": job.file_size, "kind": kind.plural, "columns": columns, **options},
        summary=f"imported {kind.plural} from “{job.file_name}”{group}",
    )


def import_undone_record(*, job: ImportJob, user: AbstractBaseUser | AnonymousUser | None, plan: Any) -> None:
    """Note an undo of `job` (by `user`; the worker runs a big one, so the user is passed, not read)."""
    actor = user if user is not None and user.is_authenticated else (None if user is not None else FROM_CONTEXT)
    audit_record(
        action=AuditAction.IMPORT_UNDONE,
        obj=job,
        label=job.file_name,
        actor=actor,
        changes={"created_deleted": plan.created, "updated_restored": plan.updated},
        summary=f"deleted {plan.created:,} created and restored {plan.updated:,} updated contacts",
    )
