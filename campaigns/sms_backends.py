"""SMS backends, chosen like Django's email backends: settings.SMS_BACKEND names a class with
`send_messages(messages) -> int` (how many it accepted). Console (default) and file backends ship here;
a gateway (Twilio, an SMPP bridge…) is one more class with the same method.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    sender: str
    to: str
    text: str


class SmsBackend(Protocol):
    def send_messages(self, messages: list[SmsMessage]) -> int: ...


class ConsoleBackend:
    """Writes each SMS to stdout (development)."""

    stream: TextIO | None = None
    _lock = threading.Lock()

    def __init__(self, **_: Any) -> None:
        self.stream = self.stream or sys.stdout

    def _write(self, out: TextIO, messages: list[SmsMessage]) -> int:
        for message in messages:
            out.write(f"SMS from {message.sender} to {message.to} at {datetime.now().isoformat()}\n{message.text}\n")
            out.write("-" * 79 + "\n")
        out.flush()
        return len(messages)

    def send_messages(self, messages: list[SmsMessage]) -> int:
        with self._lock:
            assert self.stream is not None
            return self._write(self.stream, messages)


class FileBackend(ConsoleBackend):
    """Appends each SMS to a file in settings.SMS_FILE_PATH (one file per day)."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        folder = Path(settings.SMS_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock, (folder / f"sms-{datetime.now():%Y-%m-%d}.log").open("a", encoding="utf-8") as out:
            return self._write(out, messages)


class LocmemBackend:
    """Keeps messages in `LocmemBackend.outbox` (tests)."""

    outbox: list[SmsMessage] = []

    def __init__(self, **_: Any) -> None:
        pass

    def send_messages(self, messages: list[SmsMessage]) -> int:
        LocmemBackend.outbox.extend(messages)
        return len(messages)


def sms_backend() -> SmsBackend:
    """A new instance of the configured backend."""
    return import_string(settings.SMS_BACKEND)()
