"""While the task broker (Redis) is down the web tier stays up: a rebuild, import or send asked for is kept and
queued once the broker is back (health.queue), and signed-in pages say background work is delayed
(health.notice). While the database is down, pages answer with the app's own 503 page (config.errors)."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from campaigns import services as campaign_services
from campaigns import triggers
from campaigns.models import CampaignKind, CampaignStatus, Channel
from health.models import DeferredTask
from health.notice import notice
from health.queue import deferred_tasks_queue, task_queue
from health.schedules import DEFERRED_TASKS
from health.services import heartbeat_record
from segments.models import ContactGroup, Membership, RebuildStatus
from tests.factories import ContactFactory
from transfers.imports.jobs import job_create, job_queue
from transfers.imports.mapping import mapping_guess
from transfers.imports.reading import table_read
from transfers.models import ImportJob, ImportStatus

pytestmark = pytest.mark.django_db
CZ_TREE = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
DELAYED = "Background work is delayed"


class BrokerDown(ConnectionError):
    """What redis-py raises when nothing listens (a ConnectionError)."""


def broker_down(*args, **kwargs):
    raise BrokerDown("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


@pytest.fixture
def queued(monkeypatch):
    """The broker answers again: tasks are recorded."""
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def ask_for_real():
    """The notice is asked at the next page (not the settled answer of tests/conftest.py)."""
    notice.remember(None)
    yield
    notice.remember("")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_task_asked_for_while_the_broker_is_down_is_kept_and_queued_once_it_is_back(monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    assert task_queue("segments.tasks.rebuild_group", 7) is False
    assert task_queue("transfers.tasks.run_import_undo", 3, None) is False
    assert list(DeferredTask.objects.order_by("pk").values_list("func", "args")) == [
        ("segments.tasks.rebuild_group", [7]),
        ("transfers.tasks.run_import_undo", [3, None]),
    ]
    with pytest.raises(BrokerDown):  # still down: the minutely run fails and keeps them all
        deferred_tasks_queue()
    assert DeferredTask.objects.count() == 2

    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append(args))
    assert deferred_tasks_queue() == 2
    assert calls == [("segments.tasks.rebuild_group", 7), ("transfers.tasks.run_import_undo", 3, None)]
    assert not DeferredTask.objects.exists() and deferred_tasks_queue() == 0
    assert task_queue("segments.tasks.rebuild_group", 8) is True and not DeferredTask.objects.exists()


def test_the_kept_tasks_are_queued_every_minute():
    schedule = Schedule.objects.get(name=DEFERRED_TASKS)  # registered after migrate
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "health.tasks.queue_deferred_tasks",
        Schedule.MINUTES,
        1,
    )


def test_the_rebuild_button_answers_while_the_broker_is_down_and_the_rebuild_runs_when_it_is_back(
    marketer_client, monkeypatch, django_capture_on_commit_callbacks
):
    group = ContactGroup.objects.create(code="cz", name="Czechs", is_condition_based=True, condition=CZ_TREE)
    czech = ContactFactory(country="CZ")
    ContactFactory(country="DE")
    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(reverse("segments:group_rebuild", args=[group.pk]))
    assert response.status_code == 302  # not a 500: the request was kept
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.QUEUED
    assert list(DeferredTask.objects.values_list("func", "args")) == [("segments.tasks.rebuild_group", [group.pk])]

    # The broker is back; the worker runs what the minutely check queues.
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kwargs: import_string(func)(*args))
    assert deferred_tasks_queue() == 1
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.SUCCEEDED
    assert list(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == [czech.pk]


def test_an_import_queued_while_the_broker_is_down_waits_for_it(monkeypatch, django_capture_on_commit_callbacks):
    data = b"email,first_name\nana@example.com,Ana\n"
    table = table_read(data=data, file_name="people.csv")
    job = job_create(
        data=data, file_name="people.csv", user=None, table=table, mapping=mapping_guess(header=table.header)
    )
    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job_queue(job=job)
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.QUEUED
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kwargs: import_string(func)(*args))
    assert deferred_tasks_queue() == 1
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.SUCCEEDED


def test_a_triggered_campaign_activated_while_the_broker_is_down_starts_once_it_is_back(
    monkeypatch, django_capture_on_commit_callbacks
):
    group = ContactGroup.objects.create(code="hot", name="Hot")
    campaign = campaign_services.campaign_create(
        name="Welcome", channel=Channel.EMAIL, include=[group], kind=CampaignKind.TRIGGERED, subject="Hi",
        body="<p>Hi</p>",
    )  # fmt: skip
    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        triggers.campaign_trigger_activate(campaign=campaign)  # no error: the run is kept
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ACTIVE
    assert list(DeferredTask.objects.values_list("func", "args")) == [("campaigns.tasks.trigger_run", [campaign.pk])]
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append(args))
    assert deferred_tasks_queue() == 1 and calls == [("campaigns.tasks.trigger_run", campaign.pk)]


def test_signed_in_pages_say_so_while_the_broker_does_not_answer(marketer_client, client, settings, ask_for_real):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://127.0.0.1:{closed_port()}/0"}
    heartbeat_record()
    page = marketer_client.get(reverse("contacts:contact_list")).content.decode()
    assert f"{DELAYED}: the task queue is not answering" in page
    assert 'id="background-notice"' in page
    client.logout()
    assert DELAYED not in client.get(reverse("login")).content.decode()  # not before signing in


def test_no_notice_while_background_work_runs(marketer_client, ask_for_real, queued):
    heartbeat_record()
    assert DELAYED not in marketer_client.get(reverse("home")).content.decode()


@pytest.mark.parametrize(
    ("situation", "says"),
    [
        ("silent worker", "no worker has taken a task for 5 minutes"),
        ("kept tasks", "2 tasks asked for while the task queue was away will be queued again"),
        ("deep queue", "3 tasks are waiting for the workers"),
    ],
)
def test_the_notice_says_why(marketer_client, settings, monkeypatch, ask_for_real, situation, says):
    heartbeat_record(now=timezone.now() - dt.timedelta(minutes=5 if situation == "silent worker" else 0))
    if situation == "kept tasks":
        DeferredTask.objects.create(func="segments.tasks.rebuild_group", args=[1])
        DeferredTask.objects.create(func="segments.tasks.rebuild_group", args=[2])
    if situation == "deep queue":
        settings.READY_QUEUE_MAX = 2
        monkeypatch.setattr("health.probes.orm_queue_depth", lambda: 3)
    assert says in marketer_client.get(reverse("home")).content.decode()


def test_the_notice_is_asked_once_per_interval(marketer_client, monkeypatch, ask_for_real):
    asked = []
    monkeypatch.setattr("health.probes.orm_queue_depth", lambda: asked.append(1) or 0)
    marketer_client.get(reverse("home"))
    marketer_client.get(reverse("contacts:contact_list"))
    assert asked == [1]


def test_no_notice_when_tasks_run_in_the_request(marketer_client, settings, ask_for_real):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True, "redis": f"redis://127.0.0.1:{closed_port()}/0"}
    assert DELAYED not in marketer_client.get(reverse("home")).content.decode()


# --- the error page ------------------------------------------------------------------------------


def test_a_database_that_does_not_answer_gets_the_503_page(marketer_client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5440 failed: Connection refused")

    monkeypatch.setattr("segments.views.dashboard.DashboardView.get", down)
    marketer_client.raise_request_exception = False
    response = marketer_client.get(reverse("home"))
    assert response.status_code == 503 and response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Back in a moment" in page and "5440" not in page
    assert "Content-Security-Policy" in response.headers  # the app's page, with the app's headers


def test_a_database_gone_before_the_view_gets_the_503_page_too(marketer_client, monkeypatch):
    def down(self, *args, **kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", down)
    marketer_client.raise_request_exception = False
    response = marketer_client.get(reverse("contacts:contact_list"))
    assert response.status_code == 503 and "Back in a moment" in response.content.decode()


def test_any_other_error_gets_the_apps_500_page(marketer_client, monkeypatch):
    monkeypatch.setattr("segments.views.dashboard.DashboardView.get", lambda *a, **k: 1 / 0)
    marketer_client.raise_request_exception = False
    response = marketer_client.get(reverse("home"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "Server Error (500)" not in page
