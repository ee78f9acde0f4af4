"""One send worker of bench.campaign (b) with --send-workers N: `python -m bench.send_worker CAMPAIGN PART PARTS
BATCH GO_FILE` runs `send_batch` on its part of the deliveries until none is left — what one django-q2
worker does with SEND_WORKERS chains — and prints one JSON line: wall-clock start and end, messages sent,
its own CPU seconds and its PostgreSQL backend's. It starts when GO_FILE appears (after Django is set up)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench import setup_django


def main() -> None:
    campaign_id, part, parts, batch = (int(a) for a in sys.argv[1:5])
    go = Path(sys.argv[5])
    setup_django()
    import os

    from django.conf import settings
    from django.db import connection

    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = os.environ["EMAIL_BACKEND"], os.environ["EMAIL_FILE_PATH"]
    settings.SITE_URL = os.environ["SITE_URL"]

    from bench.pixel_load import cpu_seconds
    from campaigns import sending

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    while not go.exists():
        time.sleep(0.01)
    cpu, db, start, sent = time.process_time(), cpu_seconds([backend]), time.time(), 0
    while True:
        result = sending.send_batch(campaign_id=campaign_id, limit=batch, part=part, parts=parts)
        sent += result.sent
        if not result.more:
            break
    end = time.time()
    print(json.dumps({"start": start, "end": end, "sent": sent, "cpu": time.process_time() - cpu,
                      "db": cpu_seconds([backend]) - db}))  # fmt: skip


if __name__ == "__main__":
    main()
