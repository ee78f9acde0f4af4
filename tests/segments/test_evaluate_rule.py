"""manage.py evaluate_rule FILE [--now ISO-8601] [--ids]."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

RECENT = {"version": 1, "root": {"type": "field", "field": "created_at", "operator": "in_last_days", "value": 1}}


def write(tmp_path: Path, tree) -> str:
    path = tmp_path / "rule.json"
    path.write_text(tree if isinstance(tree, str) else json.dumps(tree), encoding="utf-8")
    return str(path)


def run(*args: str) -> str:
    out = StringIO()
    call_command("evaluate_rule", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def contacts():
    old = ContactFactory(created_at="2026-01-01T12:00:00+01:00")
    new = ContactFactory(created_at="2026-03-15T12:00:00+01:00")
    ContactFactory(created_at="2026-03-15T12:00:00+01:00", merged_into=new)
    return old, new


def test_prints_the_count(tmp_path, contacts):
    path = write(tmp_path, RECENT)
    assert run(path, "--now", "2026-03-15T18:00:00+01:00") == "1\n"
    assert run(path, "--now", "2026-01-02T08:00") == "1\n"  # naive: project time
    assert run(path, "--now", "2026-06-01T00:00:00Z") == "0\n"


def test_prints_ids_one_a_line(tmp_path, contacts):
    old, new = contacts
    path = write(
        tmp_path, {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gte", "value": 0}}
    )
    assert run(path, "--ids") == f"{old.pk}\n{new.pk}\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gt", "value": "x"}},
            "root.value: expected a number",
        ),
        ("{not json", "rule.json: not valid JSON"),
    ],
)
def test_invalid_input_exits_2(tmp_path, content, message):
    with pytest.raises(CommandError) as error:
        run(write(tmp_path, content))
    assert error.value.returncode == 2
    assert message in str(error.value)


def test_missing_file_and_bad_now_exit_2(tmp_path):
    with pytest.raises(CommandError) as error:
        run(str(tmp_path / "nope.json"))
    assert error.value.returncode == 2
    with pytest.raises(CommandError) as error:
        run(write(tmp_path, RECENT), "--now", "yesterday")
    assert error.value.returncode == 2 and "--now" in str(error.value)


def test_exit_status_and_stderr_from_the_shell(tmp_path):
    # No database access is needed to reject an unsupported version.
    path = write(tmp_path, {"version": 2, "root": {}})
    done = subprocess.run(
        [sys.executable, "manage.py", "evaluate_rule", path],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "version: unsupported version “2” (expected 1)" in done.stderr
    assert done.stdout == ""
