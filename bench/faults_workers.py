"""bench.faults: a worker killed (kill -9) in the middle of a rebuild, a send and an import, and two workers racing.

Each fault has a start (set up, start the work through the queue, kill -9 the worker running it, start that worker
again) and a check (wait for the product's own recovery, then compare with the truth in SQL). bench.faults runs
the three starts one after another and then their checks, so the three recoveries — the minutely checks wait for
REBUILD/SEND/IMPORT_STALE_AFTER (90 s) of silence — overlap instead of adding up.
"""

from __future__ import annotations

import email
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.cluster import (
    Verdict,
    cluster_module,
    kill9,
    wait_for,
    worker_running,
    worker_with_open_file,
)

RUN = f"{int(time.time()) % 100000}"
PREFIX = "bench_faults_"
RECOVERY_S = 330.0  # stale after 90 s + the minutely check + the work itself, on a busy machine
SEND_TO = 20_000
IMPORT_ROWS = 30_000


def tree(root: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": root}


def country(code: str) -> dict[str, Any]:
    return {"type": "field", "field": "country", "operator": "equals", "value": code}


def kill_and_restart(v: Verdict, name: str, doing: str) -> float:
    leader = kill9(name)
    at = time.time()
    cluster_module().start_process(name)
    v.note(f"kill -9 {name} (process group {leader}) while it {doing}; started it again")
    return at


def rule_members_equal(group_id: int) -> tuple[int, int, int, int]:
    """(members from the condition, the rule's count in SQL, rule contacts missing, members not in the rule)."""
    from django.db import connection

    from segments.models import ContactGroup, Membership
    from segments.rules import matching_contacts

    group = ContactGroup.objects.get(pk=group_id)
    rule_sql, params = matching_contacts(group.condition).order_by().values("pk").query.sql_with_params()
    members = Membership.objects.filter(group_id=group_id, via_condition=True)
    member_sql, member_params = members.order_by().values("contact_id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM ({rule_sql}) r), "
            f"(SELECT count(*) FROM ({rule_sql} EXCEPT {member_sql}) m), "
            f"(SELECT count(*) FROM ({member_sql} EXCEPT {rule_sql}) x)",
            [*params, *params, *member_params, *member_params, *params],
        )
        expected, missing, extra = cursor.fetchone()
    return members.count(), expected, missing, extra


# --- (a) a rebuild -----------------------------------------------------------------------------------------


def refreshes_done(v: Verdict, timeout: float = 180.0) -> None:
    """Wait until no group refresh (a bulk change's rebuild of every affected group) is noted or running."""
    from segments.models import PendingGroupRefresh

    took = wait_for(lambda: not PendingGroupRefresh.objects.exists(), timeout=timeout, every=0.5)
    if took is None:
        raise RuntimeError(f"group refreshes still noted after {timeout:g} s: (a) would race with them")
    v.note(f"waited {took:.0f} s for the group refreshes (c)'s import noted to be done")


def rebuild_start(v: Verdict) -> dict[str, Any]:
    from segments.services import group_create

    rule = tree({"type": "group", "combinator": "or", "children": [country("CZ"), country("DE"), country("US")]})
    group = group_create(code=f"{PREFIX}a_{RUN}", name=f"Faults (a) {RUN}", is_condition_based=True, condition=rule)
    name, query = worker_running(["%segments_membership%"], active=True)
    time.sleep(1.0)  # well inside the statement (a first build of ~570k members takes several seconds)
    killed = kill_and_restart(v, name, f"ran the first build of group {group.pk} ({query[:40]}…)")
    return {"group": group.pk, "killed": killed}


def rebuild_check(v: Verdict, started: dict[str, Any]) -> None:
    from django.utils import timezone

    from segments.models import ContactGroup, Membership, RebuildStatus

    group_id = started["group"]
    group = ContactGroup.objects.get(pk=group_id)
    beat = group.rebuild_heartbeat_at
    silent = (timezone.now() - beat).total_seconds() if beat else None
    members_then = Membership.objects.filter(group_id=group_id).count()
    v.note(
        f"{time.time() - started['killed']:.0f} s after the kill: {group.rebuild_status}, no heartbeat for "
        f"{silent and round(silent)} s, {members_then:,} members (the killed transaction wrote none)"
    )
    wait_for(
        lambda: ContactGroup.objects.get(pk=group_id).rebuild_status in (RebuildStatus.SUCCEEDED, RebuildStatus.FAILED),
        timeout=RECOVERY_S,
        every=0.5,
    )
    group = ContactGroup.objects.get(pk=group_id)
    members, expected, missing, extra = rule_members_equal(group_id)
    logs = "".join(
        (cluster_module().HOME / "logs" / f"{name}.log").read_text(errors="replace")
        for name in cluster_module().load()["processes"]
        if name.startswith("worker-")
    )
    requeued = f"interrupted rebuilds queued again: groups [{group_id}]" in logs
    retried = group.last_rebuild_started_at.timestamp() - started["killed"] if group.last_rebuild_started_at else 0
    v.note(
        f"the minutely check queued it again (worker log: {requeued}); the retry started {retried:.0f} s after "
        f"the kill and {group.rebuild_status} in {(group.last_rebuild_duration_ms or 0) / 1000:.1f} s"
    )
    v.note(
        f"members {members:,}, rule count in SQL {expected:,}, missing {missing}, extra {extra}, stored count "
        f"{group.member_count:,}"
    )
    v.ok = (
        group.rebuild_status == RebuildStatus.SUCCEEDED
        and members == expected == group.member_count
        and not missing
        and not extra
        and members_then == 0
        and requeued
    )


# --- (b) a campaign send -----------------------------------------------------------------------------------


def send_start(v: Verdict) -> dict[str, Any]:
    from campaigns import services
    from campaigns.models import Channel, Delivery, DeliveryStatus
    from campaigns.sending import campaign_send
    from contacts.models import Consent, Contact
    from segments.services import group_add_contacts, group_create

    consent = Consent.objects.get(code="newsletter")
    reachable = Contact.objects.filter(
        merged_into__isnull=True, email__gt="", consents__consent=consent, consents__revoked_at__isnull=True
    )
    ids = list(reachable.order_by("-pk").values_list("pk", flat=True)[:SEND_TO])
    group = group_create(code=f"{PREFIX}b_{RUN}", name=f"Faults (b) {RUN}")
    group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=ids))
    marker = f"Fault-b-{RUN}"
    campaign = services.campaign_create(
        name=f"{PREFIX}b_{RUN}",
        channel=Channel.EMAIL,
        include=[group],
        required_consent=consent,
        sender="Shop <shop@example.com>",
        subject=f"{marker} hello",
        body="Hello {{ first_name|default:'' }}",
    )
    campaign_send(campaign=campaign)
    sent = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT)
    if wait_for(lambda: sent.count() >= 2000, timeout=120, every=0.2) is None:
        raise RuntimeError("the send did not get going within 120 s")
    outbox = Path(cluster_module().HOME / "mail")
    name = worker_with_open_file(outbox)
    killed = kill_and_restart(v, name, f"sent campaign {campaign.pk} ({sent.count():,} of {SEND_TO:,} sent)")
    return {"campaign": campaign.pk, "marker": marker, "killed": killed, "outbox": outbox}


def outbox_messages(outbox: Path, marker: str) -> tuple[Counter[str], int]:
    """Recipients of the messages whose subject has `marker` (how many each), and messages cut short."""
    recipients: Counter[str] = Counter()
    partial = 0
    for path in outbox.iterdir():
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if marker.encode() not in chunk:
                continue
            message = email.message_from_bytes(chunk.lstrip(b"\n"))
            if message["To"] and marker in str(message["Subject"]):
                recipients[str(message["To"]).strip().lower()] += 1
            else:
                partial += 1
    return recipients, partial


def send_check(v: Verdict, started: dict[str, Any]) -> None:
    from django.conf import settings

    from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus

    campaign_id = started["campaign"]
    wait_for(lambda: Campaign.objects.get(pk=campaign_id).status != CampaignStatus.SENDING, timeout=RECOVERY_S)
    campaign = Campaign.objects.get(pk=campaign_id)
    statuses = Counter(Delivery.objects.filter(campaign_id=campaign_id).values_list("status", flat=True))
    recipients, partial = outbox_messages(started["outbox"], started["marker"])
    twice = {address: n for address, n in recipients.items() if n > 1}
    sent = set(
        Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.SENT).values_list("address", flat=True)
    )
    sent = {a.lower() for a in sent}
    unknown = {
        a.lower()
        for a in Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.UNKNOWN).values_list(
            "address", flat=True
        )
    }
    sent_without_message = len(sent - set(recipients))
    unknown_out = len(unknown & set(recipients))
    v.note(
        f"campaign {campaign.status} {time.time() - started['killed']:.0f} s after the kill; deliveries "
        f"{dict(statuses)}"
    )
    v.note(
        f"outbox: {sum(recipients.values()):,} messages to {len(recipients):,} people; sent twice: {len(twice)}; "
        f"'sent' without a message: {sent_without_message}; 'not confirmed' (never sent again) "
        f"{len(unknown)} ≤ SEND_CLAIM {settings.SEND_CLAIM}, of which {unknown_out} went out before the kill; "
        f"cut-short messages {partial}"
    )
    left = statuses.get(DeliveryStatus.QUEUED, 0) + statuses.get(DeliveryStatus.SENDING, 0)
    v.ok = (
        campaign.status == CampaignStatus.SENT
        and not twice
        and not sent_without_message
        and not left
        and len(unknown) <= settings.SEND_CLAIM
        and statuses.get(DeliveryStatus.FAILED, 0) == 0
    )


# --- (c) an import -----------------------------------------------------------------------------------------


def import_file() -> bytes:
    rows = ["email,first_name,last_name,country"]
    rows += [f"fault-c-{RUN}-{i}@example.com,Fault{i},Import,CZ" for i in range(IMPORT_ROWS)]
    return ("\n".join(rows) + "\n").encode()


def import_queue(data: bytes, **options: Any) -> int:
    from transfers.imports.jobs import job_create, job_queue
    from transfers.imports.mapping import mapping_guess
    from transfers.imports.pipeline import ImportOptions
    from transfers.imports.reading import table_read

    table = table_read(data=data, file_name=f"fault-c-{RUN}.csv")
    job = job_create(
        data=data,
        file_name=f"fault-c-{RUN}.csv",
        user=None,
        table=table,
        mapping=mapping_guess(header=table.header),
        options=ImportOptions(**options),
    )
    job_queue(job=job)
    return job.pk


def import_start(v: Verdict) -> dict[str, Any]:
    from transfers.models import ImportJob

    data = import_file()
    job_id = import_queue(data, new_group=f"Faults (c) {RUN}")
    job = ImportJob.objects.filter(pk=job_id)
    if (
        wait_for(
            lambda: job.filter(phase__startswith="Saving", progress_done__gte=5000).exists(), timeout=180, every=0.1
        )
        is None
    ):
        raise RuntimeError("the import did not reach its fifth slice within 180 s")
    name, _ = worker_running(["%transfers_import%"], active=False)
    done = job.get().progress_done
    killed = kill_and_restart(v, name, f"imported job {job_id} ({done:,} of {IMPORT_ROWS:,} rows saved)")
    return {"job": job_id, "data": data, "killed": killed}


def import_check(v: Verdict, started: dict[str, Any]) -> None:
    from django.conf import settings

    from contacts.models import Contact
    from segments.models import Membership
    from transfers.models import ImportedContact, ImportJob, ImportStatus

    job_id = started["job"]
    job = ImportJob.objects.filter(pk=job_id)
    wait_for(lambda: job.get().status != ImportStatus.RUNNING, timeout=RECOVERY_S)
    first = job.get()
    contacts = Contact.objects.filter(email__startswith=f"fault-c-{RUN}-")
    saved = contacts.count()
    recorded = ImportedContact.objects.filter(job_id=job_id).count()
    members = Membership.objects.filter(group_id=first.group_id).count() if first.group_id else 0
    whole = saved % settings.IMPORT_SLICE == 0
    v.note(f"job {first.status} {time.time() - started['killed']:.0f} s after the kill: “{first.error[:150]}”")
    v.note(
        f"contacts in the database {saved:,} = job's created {first.created:,} = import records {recorded:,} = "
        f"group members {members:,}; whole slices of {settings.IMPORT_SLICE:,}: {'yes' if whole else 'NO'}"
    )
    clean = (
        first.status == ImportStatus.FAILED
        and saved == first.created == recorded == members
        and whole
        and f"{saved:,}" in first.error
    )
    # The message says: import the file again to save the rest. Do it, into the same group.
    again = import_queue(started["data"], group_id=first.group_id)
    wait_for(
        lambda: ImportJob.objects.get(pk=again).status not in (ImportStatus.QUEUED, ImportStatus.RUNNING), timeout=180
    )
    second = ImportJob.objects.get(pk=again)
    total = contacts.count()
    members = Membership.objects.filter(group_id=first.group_id).count() if first.group_id else 0
    v.note(
        f"imported again: {second.status}, created {second.created:,}, unchanged {second.unchanged:,}; "
        f"now {total:,} contacts of {IMPORT_ROWS:,} rows, group members {members:,}"
    )
    v.ok = clean and second.status == ImportStatus.SUCCEEDED and total == members == IMPORT_ROWS


# --- (g) two workers racing --------------------------------------------------------------------------------


def race(v: Verdict) -> None:
    """Two rebuilds of one group and re-check drains at once on both workers, while activities move contacts in."""
    from django.db import connection

    from health.queue import task_queue
    from segments.models import ContactGroup, PendingRecheck, RebuildStatus
    from segments.services import group_create

    visit = {
        "type": "activity",
        "activity": "page_visit",
        "where": [{"field": "url", "operator": "contains", "value": f"/fault-g-{RUN}"}],
    }
    score = {"type": "field", "field": "lead_score", "operator": "gte", "value": 40}
    rule = tree(
        {
            "type": "group",
            "combinator": "and",
            "children": [country("DE"), {"type": "group", "combinator": "or", "children": [score, visit]}],
        }
    )
    group = group_create(
        code=f"{PREFIX}g_{RUN}", name=f"Faults (g) {RUN}", is_condition_based=True, condition=rule, queue_rebuild=False
    )
    with connection.cursor() as cursor:  # DE contacts below the score: they join only by the visits
        cursor.execute(
            "SELECT id FROM contacts_contact WHERE country = 'DE' AND lead_score < 40 AND "
            "merged_into_id IS NULL ORDER BY hashint8(id) LIMIT 3000"
        )
        movers = [row[0] for row in cursor.fetchall()]
    seen: dict[str, set[str]] = {"rebuild": set(), "drain": set(), "waited": set()}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(seen, stop), daemon=True)
    watcher.start()
    writer = threading.Thread(target=_visits, args=(movers, f"/fault-g-{RUN}"), daemon=True)
    writer.start()
    began = time.monotonic()
    for _ in range(2):
        task_queue("segments.tasks.rebuild_group", group.pk)
        task_queue("segments.tasks.drain_rechecks")
    time.sleep(3)
    for _ in range(2):
        task_queue("segments.tasks.rebuild_group", group.pk)
        task_queue("segments.tasks.drain_rechecks")
    writer.join(timeout=120)

    def settled() -> bool:
        g = ContactGroup.objects.get(pk=group.pk)
        return g.rebuild_status == RebuildStatus.SUCCEEDED and not PendingRecheck.objects.exists()

    took = wait_for(settled, timeout=240)
    took = None if took is None else time.monotonic() - began
    time.sleep(3)  # a drain or rebuild still running commits
    stop.set()
    watcher.join(timeout=10)
    members, expected, missing, extra = rule_members_equal(group.pk)
    g = ContactGroup.objects.get(pk=group.pk)
    v.note(
        f"4 rebuilds and 4 drains queued while 3,000 visits moved contacts in ({len(movers):,} movers); all "
        f"done {took if took is None else round(took)} s after the first was queued"
    )
    v.note(
        f"rebuild statements seen on {sorted(seen['rebuild']) or 'none'}, re-check drains on "
        f"{sorted(seen['drain']) or 'none'}; waiting for a group lock seen on {sorted(seen['waited']) or 'none'}"
    )
    v.note(
        f"members {members:,}, rule count in SQL {expected:,}, missing {missing}, extra {extra}, "
        f"stored count {g.member_count:,}"
    )
    both = len(seen["rebuild"] | seen["drain"] | seen["waited"]) >= 2
    v.ok = (
        took is not None
        and both
        and bool(seen["waited"])
        and members == expected == g.member_count
        and not missing
        and not extra
    )


def _visits(movers: list[int], path: str) -> None:
    """The movers' visits through the service (each batch notes its re-checks and wakes a drain), 30 batches."""
    from django.db import connections
    from django.utils import timezone

    from contacts.services import ActivityRow, activities_record

    try:
        for n in range(0, len(movers), 100):
            now = timezone.now()
            activities_record(
                rows=[
                    ActivityRow(
                        contact_id=pk, type="page_visit", occurred_at=now, url=f"https://shop.example{path}/{n + i}"
                    )
                    for i, pk in enumerate(movers[n : n + 100])
                ]
            )
            time.sleep(0.3)
    finally:
        connections.close_all()


def _watch(seen: dict[str, set[str]], stop: threading.Event) -> None:
    """Which worker runs a rebuild or a drain statement, and which waits for a group's advisory lock."""
    from django.db import connections

    from bench.cluster import cluster_name_of, pid_of_client_port

    names: dict[int, str | None] = {}
    try:
        while not stop.is_set():
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "SELECT client_port, query, wait_event FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                rows = cursor.fetchall()
            for port, query, wait_event in rows:
                if port not in names:
                    pid = pid_of_client_port(port)
                    names[port] = cluster_name_of(pid) if pid else None
                name = names[port]
                if not name or not name.startswith("worker-"):
                    continue
                if "segments_membership" in query and "INSERT" in query.upper():
                    seen["rebuild" if "pending" not in query.lower() else "drain"].add(name)
                if "segments_pendingrecheck" in query:
                    seen["drain"].add(name)
                if wait_event == "advisory":
                    seen["waited"].add(name)
            time.sleep(0.05)
    finally:
        connections.close_all()
