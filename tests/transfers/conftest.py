from __future__ import annotations

import pytest

from transfers.imports.jobs import job_create
from transfers.imports.mapping import mapping_guess
from transfers.imports.pipeline import ImportOptions, import_execute
from transfers.imports.reading import table_read


@pytest.fixture
def run_import(db):
    """Run the whole pipeline on bytes as a job (mapping guessed unless given); returns the finished job."""

    def run(data: bytes, *, mapping: list[str] | None = None, user=None, **options):
        table = table_read(data=data, file_name="test.csv")
        job = job_create(
            data=data,
            file_name="test.csv",
            user=user,
            table=table,
            mapping=mapping if mapping is not None else mapping_guess(header=table.header),
            options=ImportOptions(**options),
        )
        return import_execute(job=job)

    return run
