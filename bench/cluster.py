"""What bench.load and bench.faults share against a running `deploy/local-cluster`: its addresses, a signed-in
HTTP session, a Marketer user of the bench's own, and the cluster's processes (a worker killed and started again).

They run inside `deploy/local-cluster run --then "…"` (or beside `deploy/local-cluster start`), whose environment
holds the cluster's DATABASE_URL, REDIS_URL, SECRET_KEY and CLUSTER_WEB; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CSRF_FIELD_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def web_bases() -> list[str]:
    """The web processes' base URLs (CLUSTER_WEB); exits with a message when not inside the cluster's environment."""
    bases = os.environ.get("CLUSTER_WEB", "").split()
    if not bases:
        sys.exit('CLUSTER_WEB is not set: run inside `deploy/local-cluster run --then "…"` (see bench/README.md)')
    for base in bases:
        if urllib.parse.urlsplit(base).hostname != "127.0.0.1":
            sys.exit(f"refusing {base}: the bench only talks to 127.0.0.1")
    return bases


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Session:
    """A browser's cookies against one web process (http.client, one request at a time, a timeout on each)."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        pin: bool = True,
    ) -> Answer:
        """`pin=False` leaves out the primary_pin cookie (a write sets it): the request may read the replica."""
        url = urllib.parse.urlsplit(self.base)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=self.timeout)
        cookies = {k: v for k, v in self.cookies.items() if pin or k != "primary_pin"}
        sent = {"Host": f"{url.hostname}:{url.port}", **(headers or {})}
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return Answer(
            response.status, data, {k.lower(): v for k, v in response.getheaders()}, time.perf_counter() - started
        )

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post_form(self, path: str, data: dict[str, str], **kwargs: Any) -> Answer:
        """A form POST with the CSRF token, as the browser sends it."""
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + path}
        return self.request("POST", path, body=body, headers=headers, **kwargs)

    def login(self, username: str, password: str) -> None:
        page = self.get("/login/")
        match = CSRF_FIELD_RE.search(page.text)
        if page.status != 200 or match is None:
            raise RuntimeError(f"the sign-in page answered {page.status} without a form")
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)}
        ).encode()
        answer = self.request(
            "POST",
            "/login/",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + "/login/"},
        )
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"signing in as {username} failed: {answer.status} {answer.text[:300]!r}")

    def cookie_header(self) -> str:
        """The session and CSRF cookies (not the primary pin) for a load generator's requests."""
        return "; ".join(f"{k}={self.cookies[k]}" for k in ("sessionid", "csrftoken") if k in self.cookies)


def bench_user(username: str) -> tuple[Any, str]:
    """A Marketer login of the bench's own with a fresh random password: (user, password)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from contacts.roles import Role

    password = secrets.token_urlsafe(18)
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
    user.set_password(password)
    user.is_active = True
    user.save()
    user.groups.set([Group.objects.get(name=Role.MARKETER.value)])
    return user, password


# --- the cluster's processes (deploy/local_cluster.py keeps their ids in its state file) -------------------


def cluster_module() -> Any:
    """deploy/local_cluster.py as a module (its process, PostgreSQL and Redis helpers)."""
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import local_cluster  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return local_cluster


def process_group(pid: int) -> int:
    """The process group of a process (a cluster process and its children share its leader's id)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


def pid_of_client_port(port: int) -> int | None:
    """The local process holding the TCP connection whose local port is `port` (a database client), via `ss`."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, timeout=10
    ).stdout
    match = re.search(r"pid=(\d+)", out)
    return int(match.group(1)) if match else None


def cluster_name_of(pid: int) -> str | None:
    """The cluster process name (worker-1, web-8201, …) whose process group holds `pid`."""
    group = process_group(pid)
    for name, leader in cluster_module().load().get("processes", {}).items():
        if leader == group:
            return str(name)
    return None


def kill9(name: str) -> int:
    """kill -9 a cluster process and all its children (its process group); returns the group id."""
    leader = int(cluster_module().load()["processes"][name])
    os.killpg(leader, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(leader, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return leader


# --- where the CPU went ------------------------------------------------------------------------------------


def _stat(pid_dir: Path) -> tuple[int, int, float] | None:
    """(parent pid, process group, CPU seconds so far) of a /proc/<pid> entry; None when it is gone. The CPU
    includes the process's ended children it waited for (a postmaster's backends, gunicorn's replaced workers)."""
    try:
        fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = sum(int(fields[k]) for k in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return int(fields[1]), int(fields[2]), ticks / os.sysconf("SC_CLK_TCK")


def _postmasters() -> dict[int, str]:
    home = cluster_module().HOME
    found = {}
    for folder, role in (("pgp", "PostgreSQL primary"), ("pgr", "PostgreSQL replica")):
        try:
            found[int((home / folder / "postmaster.pid").read_text().split()[0])] = role
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_by_role() -> dict[str, float]:
    """CPU seconds used so far by the cluster's processes, by role (web, workers, PostgreSQL, Redis), and by the
    whole machine ("machine": every core's busy time from /proc/stat)."""
    leaders = {int(pid): name for name, pid in cluster_module().load().get("processes", {}).items()}
    masters = _postmasters()
    totals: dict[str, float] = {}
    for pid_dir in Path("/proc").glob("[0-9]*"):
        stat = _stat(pid_dir)
        if stat is None:
            continue
        parent, group, seconds = stat
        pid = int(pid_dir.name)
        if group in leaders:
            role = "web (gunicorn)" if leaders[group].startswith("web") else leaders[group].split("-")[0]
            role = {"worker": "workers (qcluster)", "redis": "Redis"}.get(role, role)
        elif pid in masters or parent in masters:
            role = masters.get(pid) or masters[parent]
        else:
            continue
        totals[role] = totals.get(role, 0.0) + seconds
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    totals["machine"] = busy / os.sysconf("SC_CLK_TCK")
    return totals


def client_cpu() -> float:
    """CPU seconds of this process and its ended children (the load generators) so far."""
    import resource

    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


# --- fault checks ------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One fault check's outcome: PASS/FAIL and the numbers behind it."""

    key: str
    title: str
    ok: bool = False
    lines: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.lines.append(text)
        print(f"    ({self.key}) {text}", flush=True)


def worker_running(patterns: list[str], *, active: bool, timeout: float = 60.0) -> tuple[str, str]:
    """The cluster worker (worker-N) whose database connection runs (or, `active=False`, last ran) a statement
    matching one of the ILIKE `patterns`: (its name, the statement's start). Waits up to `timeout` seconds."""
    from django.db import connection

    state = "AND state = 'active'" if active else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT client_port, left(query, 70) FROM pg_stat_activity WHERE datname = current_database() "
                f"AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND query ILIKE ANY(%s) {state}",
                [patterns],
            )
            rows = cursor.fetchall()
        for port, query in rows:
            pid = pid_of_client_port(port) if port else None
            name = cluster_name_of(pid) if pid else None
            if name and name.startswith("worker-"):
                return name, query
        time.sleep(0.05)
    raise RuntimeError(f"no worker ran a statement like {patterns} within {timeout:g} s")


def worker_with_open_file(folder: Path, *, timeout: float = 30.0) -> str:
    """The cluster worker holding a file open in `folder` (the email file backend's outbox while it sends)."""
    deadline = time.monotonic() + timeout
    leaders = {int(pid): name for name, pid in cluster_module().load()["processes"].items()}
    while time.monotonic() < deadline:
        for fd_dir in Path("/proc").glob("[0-9]*/fd"):
            try:
                targets = [os.readlink(fd) for fd in fd_dir.iterdir()]
                group = process_group(int(fd_dir.parent.name))
            except OSError:
                continue
            if leaders.get(group, "").startswith("worker-") and any(t.startswith(f"{folder}/") for t in targets):
                return leaders[group]
        time.sleep(0.05)
    raise RuntimeError(f"no worker had a file open in {folder} within {timeout:g} s")


def wait_for(condition: Any, *, timeout: float, every: float = 1.0) -> float | None:
    """Poll `condition()` until true; the seconds it took, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(every)
    return None
