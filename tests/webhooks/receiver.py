"""A real HTTP receiver on 127.0.0.1 for the webhook tests: records requests, answers as told."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    # What the next requests get: "ok", "500", "redirect" (302) or "sleep" (answer after the client's
    # timeout); then "ok".
    plan: deque[str] = field(default_factory=deque)
    sleep_seconds: float = 1.5


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            mode = receiver.plan.popleft() if receiver.plan else "ok"
            receiver.requests.append(Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body))
            if mode == "sleep":
                time.sleep(receiver.sleep_seconds)
            status = {"500": 500, "redirect": 302}.get(mode, 200)
            self.send_response(status)
            if status == 302:
                self.send_header("Location", receiver.url + "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (timeout)
                self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server
