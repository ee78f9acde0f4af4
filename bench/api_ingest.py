"""bench.api's ingest parts: the batches of activities it sends, and the hand-written SQL baseline writing them."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

BATCH = 1000


def make_batches(
    rng: random.Random, people: list[tuple[int, str]], count: int, *, size: int = BATCH, path: str = "bench-api"
) -> list[list[dict[str, Any]]]:
    """`count` batches of `size` activities of random `people` (id, email); URLs https://shop.example/<path>/…."""
    batches = []
    for n in range(count):
        items = []
        for i in range(size):
            pk, email = rng.choice(people)
            kind = rng.choice(["page_visit", "page_visit", "page_visit", "form_submission", "purchase"])
            item: dict[str, Any] = {"type": kind, "url": f"https://shop.example/{path}/{n}/{i}", "title": "Bench"}
            if kind == "purchase":
                item["value"] = f"{rng.randint(100, 99999) / 100:.2f}"
            if kind == "form_submission":
                item["data"] = {"form": "bench"}
            item["contact" if i % 2 else "email"] = pk if i % 2 else email
            items.append(item)
        batches.append(items)
    return batches


def baseline(batches: list[list[dict[str, Any]]], threads: int, params: dict[str, Any]) -> float:
    """Seconds to write the same activities by one hand-written statement per batch, on `threads` connections."""
    import psycopg

    with psycopg.connect(**params) as conn:  # the contact ids of the emails (the API resolves them too)
        emails = sorted({i["email"].lower() for b in batches for i in b if "email" in i})
        ids = dict(conn.execute("SELECT lower(email), id FROM contacts_contact WHERE lower(email) = ANY(%s)", [emails]))
    # The least upkeep that keeps "no activity in N days" exact: each contact's newest time raised in the narrow
    # rise table (a HOT upsert, rows in id order so concurrent batches cannot deadlock). Not the product's own
    # extras: no contact-row lock, no daily roll-up, no re-check notes.
    sql = """
        WITH ins AS (
            INSERT INTO contacts_activity (contact_id, type, occurred_at, url, title, value, campaign_id, data)
            SELECT c, ty, now(), u, ti, v, NULL, d
            FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::jsonb[])
                AS x(c, ty, u, ti, v, d)
            RETURNING contact_id, occurred_at
        )
        INSERT INTO contacts_activityrise (contact_id, at)
        SELECT contact_id, max(occurred_at) FROM ins GROUP BY contact_id ORDER BY contact_id
        ON CONFLICT (contact_id) DO UPDATE SET at = excluded.at WHERE contacts_activityrise.at < excluded.at
    """
    args_of = [
        (
            [i["contact"] if "contact" in i else ids[i["email"].lower()] for i in b],
            [i["type"] for i in b],
            [i["url"] for i in b],
            [i["title"] for i in b],
            [i.get("value") for i in b],
            [json.dumps(i.get("data", {})) for i in b],
        )
        for b in batches
    ]
    queue = list(range(len(args_of)))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                while True:
                    with lock:
                        if not queue:
                            return
                        index = queue.pop(0)
                    conn.execute(sql, args_of[index])
        except BaseException as exc:  # reported by the caller: a baseline with a failed batch is no baseline
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise SystemExit(f"the baseline failed: {errors[0]}")
    return time.perf_counter() - began
