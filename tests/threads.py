"""Running work in several threads at once (two workers racing): each thread on its own database connection,
all released together behind a barrier, their connections closed when they end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def race(*works: Callable[[], Any], timeout: float = 120) -> tuple[list[Any], list[BaseException]]:
    """Run each of `works` in a thread of its own, released at the same moment; (their results, the exceptions
    raised), each in the order the threads finished."""
    from django.db import connections

    start = threading.Barrier(len(works))
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(work: Callable[[], Any]) -> None:
        try:
            start.wait()
            results.append(work())
        except BaseException as exc:  # surfaced by the caller's assertion
            errors.append(exc)
        finally:
            connections.close_all()

    running = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=timeout)
    return results, errors


def together(
    work: Callable[[], Any], *, threads: int = 2, timeout: float = 120
) -> tuple[list[Any], list[BaseException]]:
    """Run `work()` in `threads` threads released at the same moment; (their results, the exceptions raised)."""
    return race(*[work] * threads, timeout=timeout)
