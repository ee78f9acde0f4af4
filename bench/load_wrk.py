"""bench.load's load generator: one `wrk` process per (endpoint, web port), a Lua script each, and the report.

Why wrk: it is C (one epoll thread per process), so the client takes little of the 2 cores the server
needs, and its latency histogram is exact; the Lua script rotates a prepared list of requests (each with its
own headers and body), counts every status it gets back — a 302 to the sign-in page or a live preview that
timed out is an error here, though wrk itself would count both as answered — and prints one JSON line.
Everything is bounded: `-d` seconds, `--timeout` per request, and a subprocess timeout on top.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = """
local reqs = {
%(requests)s
}
local prepared = {}
local threads = {}
local counter = 0
function setup(thread) counter = counter + 1; thread:set("offset", counter * 7919); table.insert(threads, thread) end
local i = 0
function init(args)
  for k, r in ipairs(reqs) do prepared[k] = wrk.format(r[1], r[2], r[3], r[4]) end
  i = offset %% #prepared
  statuses = {}
end
function request()
  i = i + 1
  if i > #prepared then i = 1 end
  return prepared[i]
end
function response(status, headers, body)
  local key = tostring(status)
  if status == 200 and body and string.find(body, '"timed_out": true', 1, true) then key = "timed_out" end
  statuses[key] = (statuses[key] or 0) + 1
end
function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do parts[#parts + 1] = string.format('"%%s": %%d', k, v) end
  io.write(string.format(
    'JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, '
    .. '"p50": %%d, "p95": %%d, "p99": %%d, "max": %%d, "statuses": {%%s}}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, table.concat(parts, ", ")))
end
"""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass
class Endpoint:
    """One kind of request of the load: its clients (connections), requests and the status that means success."""

    name: str
    kind: str  # "page" (goal: p95), "pixel" (goal: requests/s), "api" (no goal of its own)
    clients: int
    requests: list[Request]
    expect: int = 200
    items: int = 1  # activities per request (the API's batches), for the items/s column


@dataclass
class Figures:
    """What wrk measured for an endpoint (all its processes together)."""

    requests: int = 0
    seconds: float = 0.0
    p50: float = 0.0  # ms; with two processes: the worse of the two (no merged histogram)
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    socket_kinds: dict[str, int] = field(default_factory=dict)  # wrk's connect / read / write / timeout errors

    @property
    def socket_errors(self) -> int:
        return sum(self.socket_kinds.values())

    def errors(self, expect: int) -> int:
        return self.socket_errors + sum(n for status, n in self.statuses.items() if status != str(expect))

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def lua_string(text: str) -> str:
    """A Lua string literal of `text` (quotes, backslashes and newlines escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def lua_script(requests: list[Request]) -> str:
    rows = []
    for r in requests:
        headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in r.headers.items())
        body = "nil" if r.body is None else lua_string(r.body)
        rows.append(f"  {{{lua_string(r.method)}, {lua_string(r.path)}, {{{headers}}}, {body}}},")
    return LUA % {"requests": "\n".join(rows)}


def parse_output(stdout: str) -> dict[str, Any]:
    """The JSON line the script's done() printed."""
    for line in stdout.splitlines():
        if line.startswith("JSON "):
            return json.loads(line[5:])
    raise ValueError(f"wrk printed no result line: {stdout[-500:]!r}")


def merge(parts: list[dict[str, Any]]) -> Figures:
    """One endpoint's figures from its wrk processes (one per web port): counts add up, percentiles take the worse."""
    figures = Figures()
    for part in parts:
        figures.requests += part["requests"]
        figures.seconds = max(figures.seconds, part["duration_us"] / 1e6)
        for key in ("p50", "p95", "p99", "max"):
            setattr(figures, key, max(getattr(figures, key), part[key] / 1000))
        for status, n in part["statuses"].items():
            figures.statuses[status] = figures.statuses.get(status, 0) + n
        for kind in ("connect", "read", "write", "timeout"):
            if part[kind]:
                figures.socket_kinds[kind] = figures.socket_kinds.get(kind, 0) + part[kind]
    return figures


def split(clients: int, ports: int) -> list[int]:
    """`clients` connections over `ports` processes, as evenly as they go (none empty)."""
    return [n for n in (clients // ports + (1 if i < clients % ports else 0) for i in range(ports)) if n]


def run(endpoints: list[Endpoint], bases: list[str], *, seconds: float, timeout: float = 10.0) -> dict[str, Figures]:
    """Every endpoint at once for `seconds`: its clients spread over the web processes, one wrk each."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        started: list[tuple[str, subprocess.Popen]] = []
        try:
            for n, endpoint in enumerate(endpoints):
                script = Path(folder) / f"{n}.lua"
                script.write_text(lua_script(endpoint.requests))
                # Each endpoint starts on a different port, so odd client counts do not all land on one.
                for k, clients in enumerate(split(endpoint.clients, len(bases))):
                    base = bases[(n + k) % len(bases)]
                    argv = [
                        "wrk",
                        "-t",
                        "1",
                        "-c",
                        str(clients),
                        "-d",
                        f"{max(1, round(seconds))}s",
                        "--timeout",
                        f"{timeout:g}s",
                        "-s",
                        str(script),
                        base,
                    ]
                    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    started.append((endpoint.name, process))
            outputs: dict[str, list[dict[str, Any]]] = {e.name: [] for e in endpoints}
            for name, process in started:
                stdout, _ = process.communicate(timeout=seconds + timeout + 30)
                outputs[name].append(parse_output(stdout))
        finally:
            for _, process in started:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    return {name: merge(parts) for name, parts in outputs.items()}


def report(
    endpoints: list[Endpoint], figures: dict[str, Figures], *, page_p95_ms: float, pixel_rps: float
) -> list[str]:
    """The table: one line per endpoint with its goal and whether it was met."""
    lines = [
        f"{'endpoint':<34}{'clients':>8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}  goal"
    ]
    for endpoint in endpoints:
        f = figures[endpoint.name]
        errors = f.errors(endpoint.expect)
        if endpoint.kind == "page":
            goal = f"p95 < {page_p95_ms:g} ms: {'ok' if f.p95 < page_p95_ms else 'MISSED'}"
        elif endpoint.kind == "pixel":
            goal = f"≥ {pixel_rps:,.0f}/s: {'ok' if f.rps >= pixel_rps else 'MISSED'}"
        else:
            goal = f"{f.rps * endpoint.items:,.0f} activities/s"
        if errors:
            wrong = {s: n for s, n in f.statuses.items() if s != str(endpoint.expect)}
            socket = f" socket {f.socket_errors} {f.socket_kinds}" if f.socket_errors else ""
            goal += f"; errors {wrong or ''}{socket}"
        lines.append(
            f"{endpoint.name:<34}{endpoint.clients:>8}{f.requests:>10,}{f.rps:>9,.1f}{f.p50:>9.0f}{f.p95:>9.0f}"
            f"{f.p99:>9.0f}{errors:>8}  {goal}"
        )
    return lines
