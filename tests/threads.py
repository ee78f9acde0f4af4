"""Running the same work in several threads at once (two workers racing): each thread on its own database
connection, started together behind a barrier, its connections closed when it ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def together(
    work: Callable[[], Any], *, threads: int = 2, timeout: float = 120
) -> tuple[list[Any], list[BaseException]]:
    """Run `work()` in `threads` threads released at the same moment; (their results, the exceptions raised)."""
    start = threading.Barrier(threads)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            results.append(work())
        except BaseException as exc:  # surfaced by the caller's assertion
            errors.append(exc)
        finally:
            connections.close_all()

    running = [threading.Thread(target=run) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=timeout)
    return results, errors
