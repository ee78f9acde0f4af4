"""Activities: recorded one by one or in bulk, always keeping the newest activity time and the roll-up true."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple, Unpack

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.models import Activity, ActivityRise, ActivityType, Contact
from contacts.services.activity_days import (
    DayKey,
    activity_days_add,
    activity_days_clear,
    day_counts,
    utc_day,
)
from contacts.services.fields import ActivityFields
from contacts.services.last_activity import last_activity_raise
from contacts.signals import ChangeReason, send_contacts_changed

# --- activities --------------------------------------------------------------------------------
# TRICKY: the rule engine answers "did any activity in the last N days" from the newest activity time
# (Contact.last_activity_at and its ActivityRise: segments.rules.compiler.last_activity_forms), so it must equal
# the newest occurred_at of the contact's activities — future-dated ones included (contacts.services.last_activity
# keeps it). Every activity is therefore written here and nowhere else
# (tests/contacts/test_activity_writes.py scans the code for other writers). The same goes for the daily
# roll-up (ActivityDay), which the engine reads for the whole days of a window: it is added to here, in
# the inserting transaction, after the contacts' rows are locked (contacts.services.activity_days).

ACTIVITY_BATCH = 1000  # rows per INSERT (Django lowers it where the database's parameter limit needs: SQLite)


class ActivityRow(NamedTuple):
    """One activity to record (the Activity fields by name; far lighter than a model instance)."""

    contact_id: int
    type: str
    occurred_at: dt.datetime
    url: str = ""
    title: str = ""
    value: Decimal | None = None
    data: dict[str, Any] | None = None
    campaign_id: int | None = None


def _activities_written(*, newest: dict[int, dt.datetime], days: Counter[DayKey]) -> None:
    """After activities were inserted: raise each contact's newest activity time to its newest new activity
    (contact id → that time) where it is older, add `days` to the roll-up, then note the change."""
    # TRICKY: set-based from the activities just written, not a MAX over each contact's activities: the stored
    # time already is the newest of the older ones, so the newer of the two is the newest of all.
    last_activity_raise(newest=newest)  # locks the contacts' rows (id order) for the roll-up's upkeep below
    activity_days_add(counts=days)
    send_contacts_changed(contact_ids=sorted(newest), reason=ChangeReason.ACTIVITY)


def _newest_by_contact(pairs: Iterable[tuple[int, dt.datetime]]) -> dict[int, dt.datetime]:
    """(contact id, occurred_at) pairs → each contact's newest time."""
    newest: dict[int, dt.datetime] = {}
    for contact_id, at in pairs:
        if contact_id not in newest or at > newest[contact_id]:
            newest[contact_id] = at
    return newest


def _activities_write(*, activities: list[Activity]) -> list[Activity]:
    """Insert validated activities (one INSERT per ACTIVITY_BATCH rows) and keep their contacts current."""
    if not activities:
        return []
    if len(activities) == 1:  # one new activity (an open, a click): the newest is the greater of the two
        one = activities[0]
        _activity_write_one(activity=one)  # locks the contact's row (its UPDATE) before the roll-up's upkeep
        activity_days_add(counts=day_counts([(one.contact_id, one.occurred_at, one.type, one.url)]))
        send_contacts_changed(contact_ids=[one.contact_id], reason=ChangeReason.ACTIVITY)
        return activities
    created = Activity.objects.bulk_create(activities, batch_size=ACTIVITY_BATCH)
    days = day_counts((a.contact_id, a.occurred_at, a.type, a.url) for a in activities)
    _activities_written(newest=_newest_by_contact((a.contact_id, a.occurred_at) for a in activities), days=days)
    return created


def _activity_write_one(*, activity: Activity) -> None:
    """Insert one activity and raise its contact's newest activity time (sets activity.pk); IntegrityError when
    the contact is gone (checked here: its foreign key is checked only at COMMIT).

    On PostgreSQL one hand-written statement does both (the hot path of the open pixel): the contact's row
    locked, its rise raised where the new time is later than the column and the rise (see
    contacts.services.last_activity), the activity inserted. On SQLite two statements.
    """
    ops, qn = connection.ops, connection.ops.quote_name
    fields = {f.name: f for f in Activity._meta.concrete_fields}
    at = ops.adapt_datetimefield_value(activity.occurred_at)
    value = None if activity.value is None else fields["value"].get_db_prep_save(activity.value, connection)
    data = fields["data"].get_db_prep_save(activity.data, connection)
    contacts, rises = qn(Contact._meta.db_table), qn(ActivityRise._meta.db_table)
    insert = (
        f"INSERT INTO {qn(Activity._meta.db_table)} (contact_id, type, occurred_at, url, title, value, campaign_id, "
        f"data) SELECT c.id, %s, %s, %s, %s, %s, %s, %s FROM c RETURNING id"
    )
    values = [activity.type, at, activity.url, activity.title, value, activity.campaign_id, data]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH c AS (SELECT id, last_activity_at FROM {contacts} WHERE id = %s FOR NO KEY UPDATE), "
                f"r AS (INSERT INTO {rises} (contact_id, at) SELECT id, %s FROM c "
                f"WHERE last_activity_at IS NULL OR last_activity_at < %s "
                f"ON CONFLICT (contact_id) DO UPDATE SET at = excluded.at WHERE {rises}.at < excluded.at) {insert}",
                [activity.contact_id, at, at, *values],
            )
        else:  # SQLite: one writer at a time; the rise, then the activity only if its contact exists
            last_activity_raise(newest={activity.contact_id: activity.occurred_at})
            cursor.execute(
                f"WITH c AS (SELECT id FROM {contacts} WHERE id = %s) {insert}", [activity.contact_id, *values]
            )
        row = cursor.fetchone()
    if row is None:
        raise IntegrityError(f"No contact with id {activity.contact_id}.")
    activity.pk = row[0]
    activity._state.adding = False


@transaction.atomic
def activities_delete_all() -> int:
    """Delete every activity and the whole daily roll-up (a demo reset; `last_activity_at` is left as it is)."""
    activity_days_clear()
    deleted, _ = Activity.objects.all().delete()
    return deleted


@transaction.atomic
def activity_record(*, contact: Contact, type: str, **fields: Unpack[ActivityFields]) -> Activity:
    """Record one activity for a contact and keep its newest activity time current."""
    activity = Activity(contact=contact, type=type, **fields)
    activity.full_clean(exclude=["contact", "campaign"])
    return _activities_write(activities=[activity])[0]


@transaction.atomic
def activities_record(*, rows: Iterable[ActivityRow]) -> list[Activity]:
    """Record many activities (any contacts) at once; ValidationError naming the row if one is invalid."""
    activities = []
    for index, row in enumerate(rows):
        activity = Activity(**{**row._asdict(), "data": row.data or {}})
        try:
            activity.full_clean(exclude=["contact", "campaign"])
        except ValidationError as exc:
            errors = {f"rows[{index}].{name}": messages for name, messages in exc.message_dict.items()}
            raise ValidationError(errors) from exc
        activities.append(activity)
    wanted = {activity.contact_id for activity in activities}
    missing = wanted - set(Contact.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if missing:
        raise ValidationError({"rows": f"No contact with id {', '.join(map(str, sorted(missing)))}."})
    return _activities_write(activities=activities)


@transaction.atomic
def activities_load(*, rows: Iterable[ActivityRow], batch_size: int = 10_000) -> int:
    """Record very many checked rows (their contacts exist) fast, for seeds and large imports; returns how many."""
    # TRICKY: not bulk_create. For 100k rows it builds and validates a model instance per row and, on
    # SQLite, compiles a fresh multi-row INSERT for every ~120 rows (its parameter limit): 3x the whole
    # demo seed. Here: COPY on PostgreSQL, one prepared executemany otherwise; types are still checked.
    meta = Activity._meta
    columns = ["contact", "type", "occurred_at", "url", "title", "value", "campaign", "data"]
    qn = connection.ops.quote_name
    concrete = {f.name: f for f in meta.concrete_fields}
    column_list = ", ".join(qn(str(concrete[name].column)) for name in columns)
    value_field, data_field = concrete["value"], concrete["data"]
    empty_data = data_field.get_db_prep_save({}, connection)
    ops = connection.ops
    types = set(ActivityType.values)
    newest: dict[int, dt.datetime] = {}
    days: Counter[DayKey] = Counter()
    tz = timezone.get_default_timezone()

    def prepared(row: ActivityRow) -> tuple[Any, ...]:
        if row.type not in types:
            raise ValidationError({"type": f"Unknown activity type “{row.type}”."})
        # A naive time means project time, as everywhere in the ORM (the adapters would take it as UTC).
        occurred_at = row.occurred_at
        if timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, tz)
        if row.contact_id not in newest or occurred_at > newest[row.contact_id]:
            newest[row.contact_id] = occurred_at
        days[(row.contact_id, utc_day(occurred_at), row.type, row.url)] += 1
        return (
            row.contact_id,
            row.type,
            ops.adapt_datetimefield_value(occurred_at),
            row.url,
            row.title,
            None if row.value is None else value_field.get_db_prep_save(row.value, connection),
            row.campaign_id,
            empty_data if not row.data else data_field.get_db_prep_save(row.data, connection),
        )

    total = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {qn(meta.db_table)} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(prepared(row))
                    total += 1
        else:
            sql = f"INSERT INTO {qn(meta.db_table)} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(prepared(row))
                if len(batch) >= batch_size:
                    cursor.executemany(sql, batch)
                    total += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                total += len(batch)
    _activities_written(newest=newest, days=days)
    return total
