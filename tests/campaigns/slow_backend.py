"""An email backend for the kill test: appends each recipient to SLOW_MAIL_FILE (flushed to disk at once),
then waits SLOW_MAIL_PAUSE seconds, so a test can kill the worker process in the middle of a send."""

from __future__ import annotations

import os
import time

from django.core.mail.backends.base import BaseEmailBackend


class SlowFileBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        with open(os.environ["SLOW_MAIL_FILE"], "a", encoding="utf-8") as out:
            for message in email_messages:
                out.write(f"{message.to[0]}\n")
                out.flush()
                os.fsync(out.fileno())
        time.sleep(float(os.environ.get("SLOW_MAIL_PAUSE", "0")))
        return len(email_messages)
