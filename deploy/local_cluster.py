"""The production topology on this machine, on loopback: `deploy/local-cluster start|status|stop|run`.

Starts, each its own (the machine's own PostgreSQL and Redis are left alone):
- a PostgreSQL primary and a streaming replica made from it with pg_basebackup (Debian's PostgreSQL binaries,
  run as the postgres user, in their own data folders and ports);
- Redis (the django-q2 broker and the shared cache);
- two gunicorn processes (the web tier, two workers each) with DEBUG off, reading lagging reads from the replica;
- two django-q2 worker processes on the Redis broker.

`start [--contacts N]` migrates the primary, loads demo data (or N generated contacts with bench.generate),
makes the replica from it, collects static files and waits until every web process says /readyz; `status`
shows what runs; `env` prints the cluster's environment as shell exports (to run a check by hand); `stop`
stops everything it started and removes its folder; `run` starts, runs the checks given with `--then` (a
shell command; the cluster's addresses are in its environment: CLUSTER_WEB, CLUSTER_PRIMARY_URL, …) and
stops, whatever happened. Needs root (it runs PostgreSQL as the postgres user). Other modules use its
process helpers (bench.faults: a worker killed and started again, PostgreSQL or Redis stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
HOME = Path(os.environ.get("CLUSTER_DIR", "/tmp/segments-cluster"))
STATE = HOME / "state.json"
PRIMARY_PORT, REPLICA_PORT, REDIS_PORT = 5440, 5441, 6390
WEB_PORTS = (8201, 8202)
WORKERS = 2
# gunicorn sync workers per web process (CLUSTER_WEB_WORKERS).
WEB_WORKERS = int(os.environ.get("CLUSTER_WEB_WORKERS", "2"))
WEB_THREADS = 4  # per gunicorn worker (WEB_THREADS in the environment overrides it)


def pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        sys.exit("PostgreSQL's server binaries are not installed: apt-get install -y postgresql")
    return versions[-1]


def as_postgres(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, args)], check=True, **kwargs)


def say(text: str) -> None:
    print(f"[cluster] {text}", flush=True)


def urls() -> dict[str, str]:
    return {
        "CLUSTER_PRIMARY_URL": f"postgresql://postgres@127.0.0.1:{PRIMARY_PORT}/segments",
        "CLUSTER_REPLICA_URL": f"postgresql://postgres@127.0.0.1:{REPLICA_PORT}/segments",
        "CLUSTER_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "CLUSTER_WEB": " ".join(f"http://127.0.0.1:{port}" for port in WEB_PORTS),
    }


def app_env(state: dict) -> dict[str, str]:
    """The environment of the web and worker processes: production settings on loopback HTTP."""
    u = urls()
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": state["secret_key"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": u["CLUSTER_PRIMARY_URL"],
        "DATABASE_REPLICA_URL": u["CLUSTER_REPLICA_URL"],
        "REDIS_URL": u["CLUSTER_REDIS_URL"],
        "STATIC_ROOT": str(HOME / "static"),
        "SITE_URL": f"http://127.0.0.1:{WEB_PORTS[0]}",
        # Loopback HTTP: no TLS in front, so no redirect to https and cookies without the Secure flag.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(HOME / "mail"),
        "SMS_BACKEND": "file",
        "SMS_FILE_PATH": str(HOME / "sms"),
        "Q_WORKERS": "2",
        "LOG_FORMAT": "json",
    }


def wait_port(port: int, seconds: float = 30) -> None:
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing answers on 127.0.0.1:{port} after {seconds:g} s")


def spawn(name: str, argv: list[str | Path], env: dict[str, str], state: dict) -> None:
    log = open(HOME / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        list(map(str, argv)), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    state["processes"][name] = process.pid
    save(state)


def save(state: dict) -> None:
    STATE.write_text(json.dumps(state, indent=2))


def load() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def start_primary(state: dict) -> None:
    b = pg_bin()
    primary = HOME / "pgp"
    primary.mkdir(parents=True)
    shutil.chown(primary, "postgres")
    shutil.chown(HOME, "postgres")
    as_postgres(b / "initdb", "-D", primary, "-A", "trust", "-U", "postgres", stdout=subprocess.DEVNULL)
    with open(primary / "pg_hba.conf", "a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    with open(primary / "postgresql.conf", "a") as conf:
        conf.write("listen_addresses = '127.0.0.1'\nmax_wal_size = '4GB'\nshared_buffers = '512MB'\n")
        # Copied to the replica by pg_basebackup (a primary ignores it): the replica tells the primary which rows
        # its running reads still need, so the primary's vacuum does not remove them under a long preview or
        # export ("canceling statement due to conflict with recovery": 4 statements in bench.load's run 2).
        conf.write("hot_standby_feedback = on\n")
    as_postgres(
        b / "pg_ctl", "-D", primary, "-o", f"-p {PRIMARY_PORT} -k {HOME}", "-l", HOME / "pgp.log", "-w", "start"
    )
    state["postgres"] = [str(primary)]
    save(state)
    as_postgres(b / "createdb", "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres", "segments")
    say(f"PostgreSQL primary on {PRIMARY_PORT}")


def start_replica(state: dict) -> None:
    """A streaming replica from a base backup of the primary as it is now (its data included)."""
    b = pg_bin()
    replica = HOME / "pgr"
    started = time.monotonic()
    # pg_basebackup makes the replica's folder itself (a pre-made 0755 folder makes the replica refuse to start);
    # an immediate checkpoint: the default (spread) waits up to checkpoint_timeout × 0.9 (4.5 min) for it.
    as_postgres(b / "pg_basebackup", "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres", "-D", replica,
                "-R", "-X", "stream", "-c", "fast")  # fmt: skip
    as_postgres(
        b / "pg_ctl", "-D", replica, "-o", f"-p {REPLICA_PORT} -k {HOME}", "-l", HOME / "pgr.log", "-w", "start"
    )
    state["postgres"].append(str(replica))
    save(state)
    say(f"PostgreSQL streaming replica on {REPLICA_PORT} (base backup and start: {time.monotonic() - started:.0f} s)")


def process_argv(name: str) -> tuple[list[str | Path], dict[str, str]]:
    """How the cluster process `name` (redis, web-PORT, worker-N) is started: its command and environment."""
    state = load()
    if name == "redis":
        argv: list[str | Path] = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"]  # fmt: skip
        return argv, dict(os.environ)
    env = app_env(state)
    if name.startswith("web-"):
        port = int(name.removeprefix("web-"))
        argv = [GUNICORN, "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers",
                str(WEB_WORKERS), "config.wsgi"]  # fmt: skip
        # gthread: WEB_THREADS threads per worker keep connections alive and let a cheap request (the pixel) run
        # beside a slow one (a preview) instead of queueing behind it (bench/README.md, bench.load).
        threads = os.environ.get("WEB_THREADS", str(WEB_THREADS))
        return argv, {**env, "WEB_THREADS": threads, "WEB_ACCESS_LOG": str(HOME / "logs" / f"access-{port}.log")}
    if name.startswith("worker-"):
        return [PYTHON, "manage.py", "qcluster"], env
    raise ValueError(f"no cluster process is called {name!r}")


def start_process(name: str, state: dict | None = None) -> int:
    """Start (or start again, after it stopped or was killed) the cluster process `name`; returns its pid."""
    state = state if state is not None else load()
    argv, env = process_argv(name)
    spawn(name, argv, env, state)
    return int(state["processes"][name])


def stop_process(name: str, sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
    """Send `sig` to the cluster process `name` and all its children; wait until they are gone (KILL after `wait` s)."""
    pid = load()["processes"][name]
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    stop_at = time.monotonic() + wait
    while time.monotonic() < stop_at:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def postgres_ctl(which: str, action: str) -> None:
    """pg_ctl stop/start/restart of the cluster's "primary" or "replica" (fast shutdown, waits until done)."""
    folder = HOME / ("pgp" if which == "primary" else "pgr")
    port = PRIMARY_PORT if which == "primary" else REPLICA_PORT
    options: list[str | Path] = (
        ["-o", f"-p {port} -k {HOME}", "-l", HOME / f"{folder.name}.log"] if action != "stop" else []
    )
    as_postgres(pg_bin() / "pg_ctl", "-D", folder, *options, "-m", "fast", "-w", action, stdout=subprocess.DEVNULL)


def start(contacts: int) -> dict:
    if STATE.exists():
        sys.exit(f"a cluster is already there ({HOME}): `deploy/local-cluster stop` first")
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "logs").mkdir()
    state: dict = {"secret_key": secrets.token_urlsafe(50), "processes": {}, "postgres": []}
    save(state)
    start_primary(state)
    started = time.monotonic()
    start_process("redis", state)
    wait_port(REDIS_PORT)
    say(f"Redis on {REDIS_PORT}")
    env = app_env(state)
    manage = [str(PYTHON), "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    say(f"migrated, static files collected ({time.monotonic() - started:.0f} s)")
    if contacts:
        started = time.monotonic()
        subprocess.run(
            [str(PYTHON), "-m", "bench.generate", "--contacts", str(contacts)], cwd=ROOT, env=env, check=True
        )
        say(f"{contacts:,} contacts generated in {time.monotonic() - started:.0f} s")
    else:
        subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    # The replica is made after the data is loaded: copying the files is faster than replaying the load's WAL
    # beside it on the same cores (1M contacts: ~6.5 min with the replica streaming, see bench/README.md).
    start_replica(state)
    # Loopback only: the demo logins (well-known passwords) are what the load and fault checks sign in with.
    subprocess.run([*manage, "demo_user", "--force"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    for port in WEB_PORTS:
        start_process(f"web-{port}", state)
    for n in range(1, WORKERS + 1):
        start_process(f"worker-{n}", state)
    for port in WEB_PORTS:
        wait_ready(f"http://127.0.0.1:{port}")
    say(
        "ready: " + ", ".join(f"http://127.0.0.1:{port}/" for port in WEB_PORTS) + " (demo logins as `make run` prints)"
    )
    return state


def wait_ready(base: str, seconds: float = 60) -> None:
    stop_at = time.monotonic() + seconds
    last = ""
    while time.monotonic() < stop_at:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except Exception as error:  # noqa: BLE001 - not up yet
            last = str(error)
        time.sleep(0.5)
    raise SystemExit(f"{base}/readyz did not answer 200 within {seconds:g} s: {last}")


def stop() -> None:
    state = load()
    if not state:
        say(f"nothing to stop ({HOME} has no cluster)")
        return
    for name, pid in reversed(list(state.get("processes", {}).items())):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            continue
        stop_process(name)
        say(f"stopped {name}")
    b = pg_bin()
    for folder in reversed(state.get("postgres", [])):
        if Path(folder, "postmaster.pid").exists():
            as_postgres(b / "pg_ctl", "-D", folder, "-m", "fast", "-w", "stop", stdout=subprocess.DEVNULL)
            say(f"stopped PostgreSQL in {folder}")
    shutil.rmtree(HOME, ignore_errors=True)


def status() -> None:
    state = load()
    if not state:
        print("no cluster")
        return
    for name, pid in state["processes"].items():
        try:
            os.killpg(pid, 0)
            alive = "running"
        except ProcessLookupError:
            alive = "stopped"
        print(f"{name:12} pid {pid:>7}  {alive}")
    for folder in state["postgres"]:
        print(f"postgres     {folder}  {'running' if Path(folder, 'postmaster.pid').exists() else 'stopped'}")
    for key, value in urls().items():
        print(f"{key}={value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "status", "stop", "run", "env"])
    parser.add_argument(
        "--contacts", type=int, default=0, help="generate N contacts (bench.generate) instead of the demo"
    )
    parser.add_argument("--then", default="", help="run: the checks to run against the cluster (a shell command)")
    args = parser.parse_args()
    if os.geteuid() != 0 and args.command in ("start", "run", "stop"):
        sys.exit("run as root: PostgreSQL is started as the postgres user")
    if args.command == "start":
        try:
            start(args.contacts)
        except BaseException:
            say("start failed: stopping what was started (logs in the folder are removed too; see the output above)")
            stop()
            raise
    elif args.command == "stop":
        stop()
    elif args.command == "status":
        status()
    elif args.command == "env":  # `eval "$(deploy/local-cluster env)"`: run checks by hand against a started cluster
        state = load() or sys.exit("no cluster: `deploy/local-cluster start` first")
        for key, value in {**app_env(state), **urls()}.items():
            if key not in os.environ or os.environ[key] != value:
                print(f"export {key}={shlex.quote(value)}")
    else:
        try:
            state = start(args.contacts)
            code = subprocess.run(
                args.then or "true", shell=True, cwd=ROOT, env={**app_env(state), **urls()}
            ).returncode
        finally:
            stop()
        sys.exit(code)


if __name__ == "__main__":
    main()
