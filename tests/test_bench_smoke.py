"""Smoke test of bench.generate / bench.preview on a tiny data set (PostgreSQL only; SQLite is refused)."""

import datetime as dt

import pytest
from django.db import connection

from bench import require_postgresql
from contacts.custom_fields import field_value
from contacts.models import ActivityDay, Contact, ContactField
from contacts.partitions import attached_partitions, months_between
from contacts.services import activity_days_rebuild

NOW = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks need PostgreSQL")


def scalar(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN "
            "('contacts_contact', 'contacts_activity', 'contacts_account', 'contacts_contactconsent', "
            "'contacts_activityday')"
        )
        return {row[0] for row in cursor.fetchall()}


def fingerprint() -> tuple[str, str]:
    return (
        scalar("SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) FROM contacts_contact c"),
        scalar("SELECT md5(string_agg(a::text, ',' ORDER BY a.id)) FROM contacts_activity a"),
    )


@pytest.mark.skipif(connection.vendor == "postgresql", reason="checks the refusal on SQLite")
def test_refuses_sqlite():
    with pytest.raises(SystemExit, match="needs PostgreSQL"):
        require_postgresql("bench.generate")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_generate_is_valid_deterministic_and_restores_indexes(capsys):
    from bench.generate import generate
    from bench.preview import main as preview

    before = indexes()
    result = generate(contacts=1500, accounts=75, now=NOW)
    first = fingerprint()

    counts = result["counts"]
    assert counts["contacts"] == 1500 and counts["accounts"] == 75
    assert 8 * 1500 < counts["activities"] < 12 * 1500
    assert indexes() == before
    assert scalar("SELECT count(*) FROM bench_pending_ddl") == 0
    # One partition per month of the two generated years (and those ahead): nothing in the default partition.
    assert scalar("SELECT count(*) FROM contacts_activity_default") == 0
    assert {p.month for p in attached_partitions()} >= set(months_between(dt.date(2024, 3, 15), dt.date(2026, 3, 1)))
    # last_activity_at is computed while inserting contacts: it must equal the newest activity exactly.
    assert (
        scalar(
            """SELECT count(*) FROM contacts_contact c
           LEFT JOIN (SELECT contact_id, max(occurred_at) m FROM contacts_activity GROUP BY 1) a ON a.contact_id = c.id
           WHERE c.last_activity_at IS DISTINCT FROM a.m"""
        )
        == 0
    )
    assert scalar("SELECT count(*) FROM contacts_activity WHERE occurred_at > '2026-03-15'") == 0
    assert (
        scalar(
            "SELECT count(*) FROM contacts_activity a JOIN contacts_contact c ON c.id = a.contact_id "
            "WHERE c.merged_into_id IS NOT NULL OR a.occurred_at < c.created_at"
        )
        == 0
    )
    # The daily roll-up is filled set-based after the load: exactly what the product's upkeep would hold.
    generated = set(ActivityDay.objects.values_list("contact_id", "day", "type", "url__url", "n"))
    assert sum(n for *_, n in generated) == counts["activities"]
    activity_days_rebuild()
    assert set(ActivityDay.objects.values_list("contact_id", "day", "type", "url__url", "n")) == generated
    fields = {f.code: f for f in ContactField.objects.all()}
    seen = set()
    for custom in Contact.objects.values_list("custom", flat=True):
        for code, value in custom.items():
            assert field_value(field=fields[code], value=value) == value, (code, value)
            seen.add(code)
    assert seen == set(fields)

    generate(contacts=1500, accounts=75, now=NOW)
    assert fingerprint() == first

    capsys.readouterr()
    assert preview(["--runs", "1"]) == 0  # exits 1 when a tree's ORM count differs from its SQL baseline
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("RESULT a_ms=")
    assert "counts_equal=yes" in out


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_rebuild_and_recheck_benchmarks_agree_with_their_baselines(capsys):
    """bench.rebuild / bench.recheck exit 1 when the product's members or verdicts differ from the expert SQL."""
    from bench.generate import generate
    from bench.rebuild import UNDO_TABLE
    from bench.rebuild import main as rebuild
    from bench.recheck import main as recheck
    from segments.models import ContactGroup

    generate(contacts=400, accounts=20, now=dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    before = fingerprint()
    capsys.readouterr()
    assert rebuild(["--runs", "1"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT a_first_ms=") and "members_equal=yes" in last
    assert "c_rebuild_ratio=" in last
    assert fingerprint() == before  # the 2 % changes are undone
    assert scalar(f"SELECT count(*) FROM {UNDO_TABLE}") == 0

    assert recheck(["--runs", "3", "--groups", "34"]) == 0  # groups 30-33 include membership rules
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT recheck_ms=") and "verdicts_equal=yes" in last
    assert not ContactGroup.objects.exists()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_members_benchmark_pages_agree_with_their_baseline(capsys):
    """bench.members exits 1 when a page shows other rows than the hand-written SQL; it leaves nothing behind."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import User

    from bench.generate import generate
    from bench.members import CODE_PREFIX, USERNAME
    from bench.members import main as members
    from contacts.roles import CONTACTS_PERMISSIONS, grant_permissions
    from segments.models import ContactGroup

    generate(contacts=400, accounts=20, now=NOW)
    # An earlier transactional test flushed the roles (the benchmark signs in as a Marketer): grant them again.
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    capsys.readouterr()
    assert members(["--runs", "1"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT a_ms=") and "rows_equal=yes" in last and "k_ratio=" in last
    assert "n_ms=" in last and "p_ratio=" in last  # the contact list's searches, compared with theirs too
    assert "fewer members)" in out  # pages 100 and 200 do not exist among ~120 and ~400 members
    assert not ContactGroup.objects.filter(code__startswith=CODE_PREFIX).exists()
    assert not User.objects.filter(username=USERNAME).exists()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_import_benchmark_runs_the_pipeline_and_leaves_the_database_as_it_was(capsys):
    """bench.import_ imports through the pipeline (new and updated contacts), then undoes everything it wrote."""
    from bench.generate import generate
    from bench.import_ import COPY_TABLE, UNDO_TABLE
    from bench.import_ import main as import_
    from segments.models import ContactGroup, MembershipEvent, PendingGroupRefresh, PendingRecheck
    from transfers.models import ImportedContact, ImportJob

    generate(contacts=400, accounts=20, now=NOW)
    before = fingerprint()
    capsys.readouterr()
    assert import_(["--rows", "300"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT new_rows_per_s=") and "mixed_ratio_vs_copy=" in last and "clean=yes" in last
    assert "300/0/0/0, 300, 300" in out  # the new case: 300 created, group members, history events
    assert "/0/0, 300, 300" in out and "mixed" in out  # the mixed case: created + updated = 300
    assert fingerprint() == before  # created contacts deleted, updated ones restored
    assert not ContactGroup.objects.exists() and not MembershipEvent.objects.exists()
    assert not ImportJob.objects.exists() and not ImportedContact.objects.exists()
    assert not PendingRecheck.objects.exists() and not PendingGroupRefresh.objects.exists()
    tables = connection.introspection.table_names()
    assert UNDO_TABLE not in tables and COPY_TABLE not in tables


# --- bench.load's wrk scripts and report, bench.faults' outbox count (no cluster, no timing) -------------------


def test_load_scripts_quote_every_request_for_lua():
    from bench.load_wrk import Request, lua_script, lua_string

    assert lua_string('say "hi"\n\\') == '"say \\"hi\\"\\n\\\\"'
    script = lua_script([Request("POST", "/groups/preview/?live=1", {"X-CSRFToken": "t"}, '{"a": "b"}')])
    assert '{"POST", "/groups/preview/?live=1", {["X-CSRFToken"] = "t"}, "{\\"a\\": \\"b\\"}"},' in script
    assert "%%" not in script and "function done(" in script  # the template's % were all escaped


def test_load_report_merges_the_processes_and_counts_unexpected_statuses_as_errors():
    from bench.load_wrk import Endpoint, merge, parse_output, report, split

    line = (
        '{"requests": %d, "duration_us": 60000000, "connect": 0, "read": %d, "write": 0, "timeout": 0, '
        '"p50": %d, "p95": 250000, "p99": 400000, "max": 900000, "statuses": {%s}}'
    )
    first = parse_output("Running 60s test\nJSON " + line % (600, 0, 40000, '"200": 598, "302": 2') + "\n")
    second = parse_output("JSON " + line % (400, 1, 60000, '"200": 399, "timed_out": 1'))
    figures = merge([first, second])
    assert (figures.requests, figures.seconds, figures.p50, figures.p95) == (1000, 60.0, 60.0, 250.0)
    assert figures.statuses == {"200": 997, "302": 2, "timed_out": 1} and figures.socket_errors == 1
    assert figures.socket_kinds == {"read": 1}  # which kind of socket error, for the report
    assert figures.errors(200) == 4 and figures.rps == pytest.approx(16.67, abs=0.01)
    page = Endpoint("contact list", "page", 3, [])
    lines = report([page], {"contact list": figures}, page_p95_ms=300, pixel_rps=1000)
    assert "p95 < 300 ms: ok" in lines[1] and "errors {'302': 2, 'timed_out': 1} socket 1" in lines[1]
    assert split(3, 2) == [2, 1] and split(1, 2) == [1] and split(4, 2) == [2, 2]
    with pytest.raises(ValueError, match="no result line"):
        parse_output("wrk: connection refused")


def test_faults_count_each_recipients_messages_in_the_outbox(tmp_path):
    from bench.faults_workers import outbox_messages

    separator = "\n" + "-" * 79 + "\n"
    message = "Subject: {s}\nTo: {to}\nFrom: shop@example.com\n\nHello\n"
    (tmp_path / "1.log").write_text(
        message.format(s="Fault-b-1 hello", to="Ana@example.com") + separator
        + message.format(s="Other campaign", to="bob@example.com") + separator
        + message.format(s="Fault-b-1 hello", to="ana@example.com") + separator
        + "Subject: Fault-b-1 hel"  # a message cut short by the kill
    )  # fmt: skip
    recipients, partial = outbox_messages(tmp_path, "Fault-b-1")
    assert recipients == {"ana@example.com": 2} and partial == 1
