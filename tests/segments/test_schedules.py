import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django_q.models import Schedule

from segments.schedules import NIGHTLY_REBUILD, PENDING_RECHECKS, next_daily_run, schedules_register

PRAGUE = ZoneInfo("Europe/Prague")


@pytest.mark.django_db
def test_nightly_rebuild_schedule_exists_after_migrate():
    schedule = Schedule.objects.get(name=NIGHTLY_REBUILD)
    assert schedule.func == "segments.tasks.rebuild_scheduled_groups"
    assert schedule.schedule_type == Schedule.DAILY
    local = schedule.next_run.astimezone(PRAGUE)
    assert (local.hour, local.minute) == (2, 0)


@pytest.mark.django_db
def test_pending_rechecks_are_drained_every_five_minutes_even_when_a_drain_failed():
    schedule = Schedule.objects.get(name=PENDING_RECHECKS)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "segments.tasks.drain_rechecks",
        Schedule.MINUTES,
        5,
    )
    schedules_register()
    assert Schedule.objects.filter(name=PENDING_RECHECKS).count() == 1


@pytest.mark.django_db
def test_registering_again_keeps_one_schedule_and_follows_the_configured_time(settings):
    settings.NIGHTLY_REBUILD_TIME = "03:30"
    schedules_register()
    schedules_register()
    schedule = Schedule.objects.get(name=NIGHTLY_REBUILD)
    local = schedule.next_run.astimezone(PRAGUE)
    assert (local.hour, local.minute) == (3, 30)


def test_next_daily_run_is_today_before_the_time_and_tomorrow_after_it(settings):
    settings.TIME_ZONE = "Europe/Prague"
    before = dt.datetime(2026, 3, 10, 0, 30, tzinfo=PRAGUE)
    after = dt.datetime(2026, 3, 10, 2, 0, tzinfo=PRAGUE)
    assert next_daily_run(at="02:00", now=before) == dt.datetime(2026, 3, 10, 2, 0, tzinfo=PRAGUE)
    assert next_daily_run(at="02:00", now=after) == dt.datetime(2026, 3, 11, 2, 0, tzinfo=PRAGUE)
