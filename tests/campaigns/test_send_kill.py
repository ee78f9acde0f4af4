"""A worker process really killed (SIGKILL) in the middle of a send, then resumed by the minutely check:
every recipient gets the campaign at most once, and everyone but the killed worker's claimed chunk
(SEND_CLAIM rows committed `sending` before they are sent) exactly once. PostgreSQL only: the worker is
another process and must see the test's database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf

from campaigns import sending
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from tests.campaigns.conftest import email_campaign
from tests.processes import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BACKEND = "tests.campaigns.slow_backend.SlowFileBackend"
CLAIM = 2  # the worker claims two deliveries at a time (SEND_CLAIM): the kill lands in the second chunk


def test_a_killed_worker_process_resumes_without_sending_anyone_twice(people, tmp_path, monkeypatch, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the worker is a separate process)")
    outbox = tmp_path / "sent.txt"
    outbox.touch()
    real_queue = sending._queue
    monkeypatch.setattr(sending, "_queue", lambda func, pk: None)  # the worker process below is started by hand
    campaign = email_campaign(people)
    sending.campaign_send(campaign=campaign)
    assert sending.send_start(campaign_id=campaign.pk) == 5

    env = {**os.environ, "DATABASE_URL": database_url(), "EMAIL_BACKEND": BACKEND, "SLOW_MAIL_FILE": str(outbox),
           "SLOW_MAIL_PAUSE": "0.3", "DJANGO_SETTINGS_MODULE": "config.settings",
           "SEND_CLAIM": str(CLAIM)}  # fmt: skip
    code = "import django; django.setup(); from campaigns import sending; "
    code += f"sending.send_batch(campaign_id={campaign.pk})"
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env)
    try:
        deadline = time.monotonic() + 60
        while len(outbox.read_text().splitlines()) < 3 and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)  # mid-send: the first chunk recorded, the second claimed, half sent
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    before = Counter(Delivery.objects.values_list("status", flat=True))
    assert before[DeliveryStatus.QUEUED] >= 1 and before[DeliveryStatus.SENT] >= 1, before
    assert before[DeliveryStatus.SENDING] <= CLAIM and Campaign.objects.get().status == CampaignStatus.SENDING

    # the minutely check, once the worker has been silent long enough, resumes the send (here in-process)
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setenv("SLOW_MAIL_FILE", str(outbox))
    settings.EMAIL_BACKEND = BACKEND
    monkeypatch.setattr(sending, "_queue", real_queue)  # the resumed batches queue each other (run in-process)
    later = timezone.now() + timedelta(seconds=settings.SEND_STALE_AFTER + 1)
    assert sending.sends_recover(now=later) == [campaign.pk]

    assert Campaign.objects.get().status == CampaignStatus.SENT
    received = Counter(outbox.read_text().splitlines())
    assert max(received.values()) == 1  # nobody twice
    unconfirmed = set(Delivery.objects.filter(status=DeliveryStatus.UNKNOWN).values_list("address", flat=True))
    everyone = set(Delivery.objects.values_list("address", flat=True))
    assert everyone - unconfirmed <= set(received) <= everyone
    assert len(unconfirmed) <= CLAIM  # the killed worker's claimed chunk, reported "Not confirmed"
