"""`python -m bench.faults [--only abcdefg]`: scripted faults against the running `deploy/local-cluster`.

Runs inside `deploy/local-cluster run --then "python -m bench.faults"` (or after `eval "$(deploy/local-cluster env)"`
beside a started cluster); loopback only; each fault prints PASS/FAIL with its numbers:

(a) kill -9 the worker running a group's first build (found by its database connection) → the minutely check
    marks it interrupted and queues it again; it leaves exactly the rule's members (compared in SQL, both ways);
(b) kill -9 the worker sending a campaign (the one with the outbox file open) → the send resumes; nobody got the
    message twice (the file backend's messages counted per recipient), every delivery is sent or, at most one
    claim (SEND_CLAIM) of them, "not confirmed" and never sent again;
(c) kill -9 the worker running an import → the job is marked failed saying how many rows were saved, and exactly
    those whole slices are in the database; importing the file again saves the rest;
(d) restart the PostgreSQL primary while 4 clients send requests → the app's 503 page (no hang), then recovery;
    every acknowledged write is there and the membership invariants hold; the workers still take tasks;
(e) stop the replica → lagging reads answer from the primary (after the sign-in's primary_pin cookie expired, so
    the replica path is exercised before: its transaction count grows), /readyz says degraded; restarted, it
    serves again;
(f) stop Redis → pages answer with the "background work is delayed" notice, a rebuild asked for is kept;
    Redis restarted, the kept rebuild runs and the notice goes;
(g) two rebuilds of one group and re-check drains at once on both workers while visits move contacts in → exactly
    the rule's members (the group locks serialise them: a worker waiting for one is seen).

(c), (a) and (b) are started one after another and checked after, so their recoveries (each waits for 90 s of
silence, REBUILD/SEND/IMPORT_STALE_AFTER, and the minutely check) overlap: the whole run takes about 6 minutes.
(c) goes first, and (a) waits until the group refreshes its import noted are done: every slice of 5,000 new
contacts is a bulk change that rebuilds every condition group, so (a)'s group would otherwise be rebuilt by
that refresh instead of by the recovery under test (seen: "retry started 20 s after the kill", no requeue).
What it makes stays in the cluster's database (thrown away with it by `deploy/local-cluster stop`); its groups
and campaigns are named `bench_faults_…`. Last line: `RESULT faults a=PASS … passed=k/n`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import require_postgresql, setup_django
from bench.cluster import Session, Verdict, bench_user, web_bases

TITLES = {
    "a": "kill -9 a worker mid-rebuild",
    "b": "kill -9 a worker mid-send",
    "c": "kill -9 a worker mid-import",
    "d": "restart the PostgreSQL primary under requests",
    "e": "stop the replica",
    "f": "stop Redis",
    "g": "two workers racing on one group",
}


def attempt(v: Verdict, step: Callable[[], Any]) -> Any:
    """Run a step of a fault; an exception fails the fault (printed) instead of ending the run."""
    try:
        return step()
    except Exception as error:  # a fault check must report, not stop the others
        v.ok = False
        v.note(f"ERROR {type(error).__name__}: {error}")
        traceback.print_exc()
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="abcdefg", help="which faults, e.g. --only ad (default: all)")
    args = parser.parse_args(argv)
    chosen = [key for key in TITLES if key in args.only]
    bases = web_bases()
    setup_django()
    require_postgresql("bench.faults")
    logging.getLogger("django-q").setLevel(logging.WARNING)
    from api.tokens import token_create
    from bench import faults_services as services
    from bench import faults_workers as workers

    user, password = bench_user("bench_faults")
    sessions = [Session(base) for base in bases]
    for session in sessions:
        session.login("bench_faults", password)
    token = token_create(user=user, name="bench_faults", scope="write")[1]
    verdicts = {key: Verdict(key, TITLES[key]) for key in chosen}
    started_at = time.monotonic()
    print(f"bench.faults: {', '.join(f'({k}) {TITLES[k]}' for k in chosen)}", flush=True)

    begun: dict[str, Any] = {}
    for key, start in (("c", workers.import_start), ("a", workers.rebuild_start), ("b", workers.send_start)):
        if key in verdicts:
            if key == "a" and "c" in verdicts:  # see the docstring: (c)'s group refreshes would rebuild (a)'s group
                attempt(verdicts["a"], lambda: workers.refreshes_done(verdicts["a"]))
            begun[key] = attempt(verdicts[key], lambda start=start, key=key: start(verdicts[key]))
    for key, check in (("a", workers.rebuild_check), ("b", workers.send_check), ("c", workers.import_check)):
        if begun.get(key) is not None:
            attempt(verdicts[key], lambda check=check, key=key: check(verdicts[key], begun[key]))
    steps: dict[str, Callable[[Verdict], Any]] = {
        "d": lambda v: services.primary_restart(v, sessions, token),
        "e": lambda v: services.replica_stop(v, sessions[0]),
        "f": lambda v: services.redis_stop(v, sessions[-1]),
        "g": workers.race,
    }
    for key, step in steps.items():
        if key in verdicts:
            attempt(verdicts[key], lambda step=step, key=key: step(verdicts[key]))

    print(f"\nFaults ({time.monotonic() - started_at:.0f} s)\n")
    for v in verdicts.values():
        print(f"  ({v.key}) {v.title}: {'PASS' if v.ok else 'FAIL'}")
        for line in v.lines:
            print(f"        {line}")
    passed = sum(v.ok for v in verdicts.values())
    print(
        "RESULT faults "
        + " ".join(f"{k}={'PASS' if v.ok else 'FAIL'}" for k, v in verdicts.items())
        + f" passed={passed}/{len(verdicts)}"
    )
    return 0 if passed == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
