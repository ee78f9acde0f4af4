"""Activities are written only through contacts.services, which keep the newest activity time true.

The rule engine answers "no activity in N days" from that column alone, and counts whole days from the
daily roll-up (ActivityDay), so a write anywhere else (an import, an API endpoint, campaign tracking, a
delete) would silently put contacts in the wrong groups. The scan
below reads the product code's syntax trees and names every other writer by file and line.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts import services
from contacts.models import Activity, ActivityRise, Contact
from contacts.selectors import contacts_newest_activity
from contacts.services import ActivityRow
from contacts.signals import contacts_changed
from tests.factories import CampaignFactory, ContactFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("contacts", "segments", "campaigns", "transfers", "config", "api")
THE_WRITER = "contacts/services/activities.py"
# The daily roll-up's upkeep reads the activity table in raw SQL to rebuild from it.
ROLLUP_WRITER = "contacts/services/activity_days.py"
# A merge moves the child's activities to the parent (and refreshes the parent's last_activity_at there).
# Monthly partitions: rows move out of the default partition into a new month's; old months are detached.
WRITERS = {THE_WRITER, ROLLUP_WRITER, "contacts/services/merging.py", "contacts/services/partitions.py"}
WRITE_METHODS = {
    "create", "bulk_create", "get_or_create", "update_or_create", "bulk_update", "update", "add", "set", "delete",
}  # fmt: skip
META_READS = {"get_field", "verbose_name", "verbose_name_plural", "label", "app_label", "model_name"}
RAW_SQL = r"\b(INSERT\s+INTO|COPY|UPDATE|DELETE\s+FROM|TRUNCATE)\s+[\"'`]?{table}\b"


def _chain(node: ast.AST) -> list[ast.AST]:
    """The receiver chain of an attribute access or call, outermost first: a.b(c).d → [a.b(c).d, a.b(c), a.b, a]."""
    chain = [node]
    while True:
        if isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return chain
        chain.append(node)


def activity_writes(source: str, *, model: str = "Activity", table: str = "contacts_activity") -> list[tuple[int, str]]:
    """(line, what) for every write of `model` in a module's source: ORM, related manager, instance or raw SQL."""
    tree = ast.parse(source)
    names = {model}  # what the model is called in this module (import aliases included)
    raw_sql = re.compile(RAW_SQL.format(table=table), re.IGNORECASE)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names if alias.name == model}

    def is_model(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in names) or (
            isinstance(node, ast.Attribute) and node.attr == model
        )

    # Activity._meta for metadata (a field's related model…) is a read; any other use may be raw SQL.
    meta_reads = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in META_READS and isinstance(node.value, ast.Attribute)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if is_model(func):
                found.append((node.lineno, "an Activity instance built (to be saved)"))
            elif isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
                chain = _chain(func.value)
                if any(is_model(link) for link in chain):
                    found.append((node.lineno, f"Activity.objects….{func.attr}()"))
                elif any(isinstance(link, ast.Attribute) and link.attr == "activities" for link in chain):
                    found.append((node.lineno, f".activities.{func.attr}()"))
            elif isinstance(func, ast.Attribute) and func.attr == "save":
                receiver = func.value
                label = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", "")
                if "activit" in label.lower():
                    found.append((node.lineno, f"{label}.save()"))
        elif isinstance(node, ast.Attribute) and node.attr == "_meta" and is_model(node.value):
            if id(node) not in meta_reads:
                found.append((node.lineno, "Activity._meta (raw SQL on the activity table)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and raw_sql.search(node.value):
            found.append((node.lineno, f"raw SQL writing {table}"))
    return sorted(set(found))


def product_modules() -> list[Path]:
    paths = []
    for package in PRODUCT_PACKAGES:
        paths += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return sorted(paths)


def test_only_contacts_services_writes_activities():
    modules = product_modules()
    assert len(modules) > 40 and ROOT / THE_WRITER in modules  # the scan really reads the product code
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in modules
        if path.relative_to(ROOT).as_posix() not in WRITERS
        for line, what in activity_writes(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "Activities must be written through contacts.services (activity_record, activities_record, "
    "activities_load), which keep the newest activity time true:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("model", "table"), [("ActivityDay", "contacts_activityday"), ("ActivityUrl", "contacts_activityurl")]
)
def test_only_the_roll_up_upkeep_writes_the_roll_up(model, table):
    """The engine sums ActivityDay for whole days: a write elsewhere would make counts silently wrong."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in product_modules()
        if path.relative_to(ROOT).as_posix() != ROLLUP_WRITER
        for line, what in activity_writes(path.read_text(encoding="utf-8"), model=model, table=table)
        if "_meta" not in what  # reading its table name (segments.rules.rollup) is a read
    ]
    assert not offenders, "The daily roll-up is written only by contacts.services.activity_days:\n" + "\n".join(
        offenders
    )
    writes = activity_writes((ROOT / ROLLUP_WRITER).read_text(encoding="utf-8"), model=model, table=table)
    assert writes, "the scan sees the roll-up's own writer"


# The newest activity time's rises: raised by the activity writers, folded and recomputed in last_activity.
RISE_WRITERS = {THE_WRITER, "contacts/services/last_activity.py"}


def test_only_the_activity_services_write_rises():
    """The engine trusts `last_activity_at` plus the rise: a rise written elsewhere would move contacts wrongly."""
    found = {
        path.relative_to(ROOT).as_posix(): activity_writes(
            path.read_text(encoding="utf-8"), model="ActivityRise", table="contacts_activityrise"
        )
        for path in product_modules()
    }
    offenders = [f"{path}:{line}: {what}" for path, writes in found.items() if path not in RISE_WRITERS
                 for line, what in writes if "_meta" not in what]  # fmt: skip
    assert not offenders, "ActivityRise is written only by contacts.services:\n" + "\n".join(offenders)
    assert all(found[path] for path in RISE_WRITERS), "the scan sees the rises' own writers"


def test_the_writer_itself_is_seen_by_the_scan():
    writes = activity_writes((ROOT / THE_WRITER).read_text(encoding="utf-8"))
    assert any("bulk_create" in what for _, what in writes) and any("_meta" in what for _, what in writes)


@pytest.mark.parametrize(
    "source",
    [
        "Activity.objects.create(contact=c, type='page_visit')",
        "Activity.objects.bulk_create(rows)",
        "(\n    Activity.objects\n    .using('default')\n    .get_or_create(contact=c)\n)",
        "a = Activity(contact=c, type='custom')\na.save()",
        "contact.activities.create(type='purchase')",
        "c.activities.all().update(occurred_at=now)",
        "Activity.objects.filter(contact=c).update(contact=d)",
        "Activity.objects.filter(contact=c).delete()",
        "cursor.execute('DELETE FROM contacts_activity WHERE id = %s', [1])",
        "from contacts.models import Activity as A\nA.objects.create(contact=c)",
        "from contacts import models\nmodels.Activity.objects.bulk_create(rows)",
        "activity.save(update_fields=['title'])",
        "cursor.execute('INSERT INTO contacts_activity (contact_id) VALUES (%s)', [1])",
        'cursor.execute("""update "contacts_activity" SET title = %s""", [t])',
        "table = Activity._meta.db_table",
        "meta = Activity._meta\nsql = f'INSERT INTO {meta.db_table} VALUES (%s)'",
    ],
)
def test_the_scan_finds_every_kind_of_write(source):
    assert activity_writes(source), source


def test_the_scan_lets_reads_through():
    source = (
        "Activity.objects.filter(contact=c).exists()\n"
        "Activity.objects.filter(occurred_at__gt=now).order_by().values('contact').annotate(n=Count('pk'))\n"
        "contact.activities.all()[:10]\n"
        "services.activity_record(contact=c, type='page_visit')\n"
        "Activity._meta.get_field('campaign').related_model\n"
    )
    assert activity_writes(source) == []


# --- the bulk services ---------------------------------------------------------------------------

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def received(db):
    calls = []

    def receiver(sender, contact_ids, reason, **kwargs):
        calls.append((reason, contact_ids))

    contacts_changed.connect(receiver, weak=False)
    yield calls
    contacts_changed.disconnect(receiver)


def last_activity(*contacts: Contact) -> list[dt.datetime | None]:
    """The contacts' exact newest activity times, before and after the fold (which must not change them)."""
    by_pk = contacts_newest_activity(contact_ids=[c.pk for c in contacts])
    services.activity_rises_fold()
    folded = dict(Contact.objects.filter(pk__in=[c.pk for c in contacts]).values_list("pk", "last_activity_at"))
    assert folded == by_pk and not ActivityRise.objects.filter(contact__in=contacts).exists()
    return [by_pk[c.pk] for c in contacts]


BULK_SERVICES = {
    "activities_record": lambda rows: len(services.activities_record(rows=rows)),
    "activities_load": lambda rows: services.activities_load(rows=rows),
}


@pytest.mark.parametrize("service", BULK_SERVICES)
def test_bulk_record_keeps_last_activity_true_for_every_contact(service, received, django_capture_on_commit_callbacks):
    fresh, recent, stale, untouched = ContactFactory(), ContactFactory(), ContactFactory(), ContactFactory()
    services.activity_record(contact=recent, type="page_visit", occurred_at=NOW - dt.timedelta(hours=1))
    services.activity_record(contact=stale, type="page_visit", occurred_at=NOW - dt.timedelta(days=90))
    services.activity_record(contact=untouched, type="page_visit", occurred_at=NOW - dt.timedelta(days=5))
    received.clear()
    rows = [
        ActivityRow(fresh.pk, "page_visit", NOW - dt.timedelta(days=3), url="https://x.example/a"),
        ActivityRow(fresh.pk, "email_open", NOW - dt.timedelta(days=1), title="Newsletter"),  # the newest of three
        ActivityRow(fresh.pk, "purchase", NOW - dt.timedelta(days=2), value=Decimal("12.50"), data={"order": "A1"}),
        ActivityRow(recent.pk, "form_submission", NOW - dt.timedelta(days=30)),  # older than what it had
        ActivityRow(stale.pk, "custom", NOW - dt.timedelta(days=10), data={"event": "webinar"}),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert BULK_SERVICES[service](rows) == 5
    assert last_activity(fresh, recent, stale, untouched) == [
        NOW - dt.timedelta(days=1),
        NOW - dt.timedelta(hours=1),  # an older activity never lowers it
        NOW - dt.timedelta(days=10),
        NOW - dt.timedelta(days=5),
    ]
    assert received == [("activity", sorted([fresh.pk, recent.pk, stale.pk]))]  # one signal, every contact
    stored = Activity.objects.filter(contact=fresh).order_by("occurred_at")
    assert [(a.type, a.value, a.data) for a in stored] == [
        ("page_visit", None, {}),
        ("purchase", Decimal("12.50"), {"order": "A1"}),
        ("email_open", None, {}),
    ]


@pytest.mark.parametrize("service", BULK_SERVICES)
def test_bulk_record_counts_future_activities_as_the_single_service_does(service, db):
    single, bulk = ContactFactory(), ContactFactory()
    future = NOW + dt.timedelta(days=2)
    services.activity_record(contact=single, type="email_sent", occurred_at=future)
    BULK_SERVICES[service]([ActivityRow(bulk.pk, "email_sent", future)])
    assert last_activity(single, bulk) == [future, future]


def test_bulk_record_keeps_the_campaign_and_returns_saved_activities(db):
    contact, campaign = ContactFactory(), CampaignFactory()
    rows = [ActivityRow(contact.pk, "email_click", NOW, campaign_id=campaign.pk)]
    (activity,) = services.activities_record(rows=rows)
    assert activity.pk is not None and Activity.objects.get(pk=activity.pk).campaign_id == campaign.pk


def test_bulk_record_refuses_an_invalid_row_and_writes_nothing(received, django_capture_on_commit_callbacks):
    contact = ContactFactory()
    rows = [ActivityRow(contact.pk, "page_visit", NOW), ActivityRow(contact.pk, "teleport", NOW)]
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as error:
        services.activities_record(rows=rows)
    assert "rows[1].type" in error.value.message_dict
    with pytest.raises(ValidationError, match="No contact with id 0"):
        services.activities_record(rows=[ActivityRow(0, "page_visit", NOW)])
    with pytest.raises(ValidationError, match="teleport"):
        services.activities_load(rows=rows)
    assert not Activity.objects.exists() and last_activity(contact) == [None] and received == []


def test_bulk_record_of_nothing_changes_nothing(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert services.activities_record(rows=[]) == [] and services.activities_load(rows=iter([])) == 0
    assert received == []


def test_single_record_still_never_lowers_last_activity(db):
    contact = ContactFactory()
    services.activity_record(contact=contact, type="page_visit", occurred_at=NOW)
    services.activity_record(contact=contact, type="page_visit", occurred_at=NOW - dt.timedelta(days=1))
    assert last_activity(contact) == [NOW]
