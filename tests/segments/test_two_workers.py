"""Two real workers racing (issue 15, item 4): two `manage.py qcluster` processes (one worker process each, the
ORM broker on the test database) take the same work at the same moment — two rebuilds of one group, two re-check
drains, two pairs of send chains of one campaign (SEND_WORKERS=2), two imports into one group — and every outcome
stays exact: members equal the rule's, each membership entered once, nobody sent twice, import counts add up.

How the race is made certain, not likely: the test holds the lock the work needs first (the group's advisory lock,
the campaign's row), hands one task to each worker (the second worker has a queue of its own:
tests/worker_b_settings.py), waits until both workers are blocked on that lock inside their tasks, then lets go.
PostgreSQL only: the workers are other processes and read what these transactional tests commit.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection, transaction
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule, Task
from django_q.tasks import async_task

from campaigns import sending
from campaigns import services as campaign_services
from campaigns.models import Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus
from contacts import services as contact_services
from contacts.models import Contact
from contacts.services import ContactUpsert
from segments import rebuilds
from segments.memberships.locks import GROUP_LOCK_NAMESPACE
from segments.models import ContactGroup, EventKind, Membership, MembershipEvent, PendingRecheck
from segments.recheck_wake import DRAIN_TASK
from segments.rules import matching_contacts
from tests.factories import ContactGroupFactory
from tests.processes import database_url
from transfers.imports.jobs import job_create, job_queue
from transfers.imports.mapping import mapping_guess
from transfers.imports.pipeline import ImportOptions
from transfers.imports.reading import table_read
from transfers.models import ImportJob, ImportStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
A, B = "segmentation", "segmentation_b"  # the two workers' queues (cluster names)
STARTUP_S, WORK_S = 40, 30
ENGAGED = {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gte", "value": 50}}


def wait(condition: Callable[[], bool], what: str, timeout: float = WORK_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def workers(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """Two qcluster processes on the test database: A on the project's queue, B on its own."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the workers are separate processes)")
    folder = tmp_path_factory.mktemp("workers")
    outbox = folder / "sent.txt"
    outbox.touch()
    with django_db_blocker.unblock():
        Schedule.objects.all().delete()  # only the work queued by these tests runs
        OrmQ.objects.all().delete()
    env = {
        key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "Q_SYNC", "DATABASE_REPLICA_URL")
    }
    env.update(DATABASE_URL=database_url(), Q_WORKERS="1", SEND_WORKERS="2", SEND_BATCH="10", SEND_CLAIM="3",
               IMPORT_SLICE="10", EMAIL_BACKEND="tests.campaigns.slow_backend.SlowFileBackend",
               SLOW_MAIL_FILE=str(outbox), SLOW_MAIL_PAUSE="0.02")  # fmt: skip
    logs, processes = {A: folder / "a.log", B: folder / "b.log"}, []
    for name, log in logs.items():
        settings_module = "config.settings" if name == A else "tests.worker_b_settings"
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env={**env, "DJANGO_SETTINGS_MODULE": settings_module},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        wait(
            lambda: all(" running." in log.read_text() for log in logs.values()) or any(p.poll() for p in processes),
            "both clusters to start",
            STARTUP_S,
        )
        assert all(p.poll() is None for p in processes), "\n".join(log.read_text() for log in logs.values())
        yield SimpleNamespace(outbox=outbox, logs=logs)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def on(queue: str) -> Iterator[None]:
    """Whatever is queued inside goes to this worker's queue (django-q2 queues on Conf.CLUSTER_NAME)."""
    saved = Conf.CLUSTER_NAME
    Conf.CLUSTER_NAME = queue
    try:
        yield
    finally:
        Conf.CLUSTER_NAME = saved


@contextmanager
def held(sql: str, params: list, *, waiters: int = 2) -> Iterator[None]:
    """Hold a lock (taken by `sql` on a connection of its own) until `waiters` other sessions queue behind it
    inside the work queued in the block, then let them all go at once."""
    with psycopg.connect(database_url()) as side:
        side.execute(sql, params)
        yield
        wait(lambda: blocked() >= waiters, f"{waiters} workers blocked on the held lock")
        side.rollback()


def blocked() -> int:
    """Sessions waiting for a lock now (asked outside the holder's transaction: PostgreSQL shows a transaction
    the same pg_stat_activity throughout)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def group_lock(group: ContactGroup) -> tuple[str, list]:
    return "SELECT pg_advisory_xact_lock(%s, %s)", [GROUP_LOCK_NAMESPACE, group.pk]


def settled() -> None:
    """Every queued task done (a task leaves the broker's table once its result is saved)."""
    wait(lambda: not OrmQ.objects.exists(), "both queues to empty")


def raced(func: str) -> list[Task]:
    """This function's tasks: all succeeded, run by both workers, and one of A's overlapped one of B's in time."""
    tasks = list(Task.objects.filter(func=func))
    assert tasks and all(t.success for t in tasks), [t.result for t in tasks if not t.success]
    by_worker = defaultdict(list)
    for task in tasks:
        by_worker[task.cluster].append(task)
    assert set(by_worker) == {A, B}, by_worker
    assert any(a.started < b.stopped and b.started < a.stopped for a in by_worker[A] for b in by_worker[B])
    return tasks


def assert_exact_members(group: ContactGroup) -> None:
    """Members equal the rule's contacts; each contact's history alternates entered / left, ending as it is now."""
    expected = set(matching_contacts(group.condition).values_list("pk", flat=True))
    members = set(Membership.objects.filter(group=group).values_list("contact_id", flat=True))
    assert members == expected and len(expected) > 100
    group.refresh_from_db()
    assert group.member_count == len(expected)
    history: dict[int, list[int]] = defaultdict(list)
    changes = MembershipEvent.objects.filter(group=group, kind__in=[EventKind.ENTERED, EventKind.LEFT])
    for contact_id, kind in changes.order_by("pk").values_list("contact", "kind"):
        history[contact_id].append(kind)
    for contact_id, kinds in history.items():
        alternating = [EventKind.ENTERED, EventKind.LEFT] * (len(kinds) // 2) + [EventKind.ENTERED] * (len(kinds) % 2)
        assert kinds == alternating, (contact_id, kinds)
        assert (len(kinds) % 2 == 1) == (contact_id in members), contact_id
    assert set(history) >= members


def entries(group: ContactGroup) -> Counter[int]:
    """How often each contact entered the group (its history)."""
    return Counter(
        MembershipEvent.objects.filter(group=group, kind=EventKind.ENTERED).values_list("contact", flat=True)
    )


def contacts(n: int, prefix: str, seed: int) -> list[Contact]:
    rng = random.Random(seed)
    return Contact.objects.bulk_create(
        [Contact(email=f"{prefix}{i}@example.com", lead_score=rng.randrange(100)) for i in range(n)]
    )


def test_two_rebuilds_of_one_group_at_once_leave_exactly_its_members(workers):
    contacts(3000, "r", seed=1)
    group = ContactGroupFactory(code="engaged", is_condition_based=True, condition=ENGAGED)
    with held(*group_lock(group)):
        async_task("segments.tasks.rebuild_group", group.pk)
        with on(B):
            async_task("segments.tasks.rebuild_group", group.pk)
    settled()
    assert len(raced("segments.tasks.rebuild_group")) == 2
    assert_exact_members(group)
    entered = entries(group)
    assert set(entered.values()) == {1}  # the second rebuild found nothing left to do


def test_recheck_drains_on_both_workers_and_a_rebuild_meanwhile_stay_exact(workers):
    people = contacts(2000, "d", seed=2)
    group = ContactGroupFactory(code="engaged", is_condition_based=True, condition=ENGAGED)
    rebuilds.group_rebuild(group=group)
    rng = random.Random(3)
    changed = rng.sample(people, 600)  # 1,800 notes (3 kinds each): more than one drain's batch of 500
    with held(*group_lock(group)):
        with transaction.atomic():  # its commit queues a drain on A
            contact_services.contacts_upsert(
                rows=[ContactUpsert(c.email, {"lead_score": 99 - c.lead_score}, {}) for c in changed]
            )
        with on(B):
            async_task(DRAIN_TASK)
            async_task("segments.tasks.rebuild_group", group.pk)
    wait(lambda: not PendingRecheck.objects.exists(), "the re-check notes to be drained")
    settled()
    raced(DRAIN_TASK)
    assert_exact_members(group)


def test_a_campaign_sent_by_two_pairs_of_chains_reaches_everyone_once(workers, monkeypatch, settings):
    group = ContactGroupFactory(code="all", name="All")
    people = contacts(80, "s", seed=4)
    Membership.objects.bulk_create([Membership(group=group, contact=c, via_manual=True) for c in people])
    campaign = campaign_services.campaign_create(
        name="Race", channel=Channel.EMAIL, include=[group], sender="Shop <shop@example.com>", subject="Hi",
        body="<p>Hello {{ first_name }}</p>",
    )  # fmt: skip
    chains = sending._queue_chains  # queued below by hand, on each worker, once the campaign's row is held
    monkeypatch.setattr(sending, "_queue", lambda func, campaign_id: None)
    monkeypatch.setattr(sending, "_queue_chains", lambda campaign_id: None)
    sending.campaign_send(campaign=campaign)
    assert sending.send_start(campaign_id=campaign.pk) == 80  # the audience frozen here, in the test
    settings.SEND_WORKERS = 2
    with held("SELECT 1 FROM campaigns_campaign WHERE id = %s FOR UPDATE", [campaign.pk]):
        for queue in (A, B):
            with on(queue):
                chains(campaign.pk)  # two chains (one per half of the deliveries) on each worker
    wait(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT, "the send to finish")
    settled()
    raced("campaigns.tasks.send_batch")
    received = Counter(workers.outbox.read_text().splitlines())
    assert set(received) == {c.email for c in people} and max(received.values()) == 1  # nobody twice
    assert set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {DeliveryStatus.SENT}


def csv(rows: list[tuple[str, str]]) -> bytes:
    return ("email,job_title\n" + "".join(f"{email},{title}\n" for email, title in rows)).encode()


def test_two_imports_into_one_group_at_once_count_exactly(workers):
    group = ContactGroupFactory(code="imported", name="Imported")
    shared = [f"x{i}@example.com" for i in range(100)]
    Contact.objects.bulk_create([Contact(email=email) for email in shared])
    files = {  # both update the same 100 contacts (in opposite orders) and create 50 of their own
        A: csv([(email, "Buyer") for email in shared] + [(f"a{i}@example.com", "Buyer") for i in range(50)]),
        B: csv([(f"b{i}@example.com", "Seller") for i in range(50)] + [(email, "Seller") for email in shared[::-1]]),
    }
    jobs = {}
    for queue, data in files.items():
        table = table_read(data=data, file_name=f"{queue}.csv")
        jobs[queue] = job_create(
            data=data, file_name=f"{queue}.csv", user=None, table=table, mapping=mapping_guess(header=table.header),
            options=ImportOptions(group_id=group.pk),
        )  # fmt: skip
    with held(*group_lock(group)):
        for queue, job in jobs.items():
            with on(queue):
                job_queue(job=job)
    settled()
    raced("transfers.tasks.run_import")
    a, b = (ImportJob.objects.get(pk=job.pk) for job in jobs.values())
    assert (a.status, b.status) == (ImportStatus.SUCCEEDED, ImportStatus.SUCCEEDED), (a.error, b.error)
    assert (a.rows_total, a.created, a.updated, b.rows_total, b.created, b.updated) == (150, 50, 100, 150, 50, 100)
    assert a.group_added + b.group_added == 200  # each shared contact counted by the import that added it
    members = set(Membership.objects.filter(group=group).values_list("contact__email", flat=True))
    assert len(members) == 200 and set(shared) <= members
    entered = entries(group)
    assert len(entered) == 200 and set(entered.values()) == {1}
    titles = Counter(Contact.objects.filter(email__in=shared).values_list("job_title", flat=True))
    assert set(titles) <= {"Buyer", "Seller"} and sum(titles.values()) == 100
