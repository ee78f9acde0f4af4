"""`manage.py sms_inbound --from NUMBER TEXT`: handle an SMS reply as the provider's webhook would (testing)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from campaigns.sms_optout import sms_inbound_record


class Command(BaseCommand):
    help = (
        "Handle an incoming SMS reply as /sms/inbound/ does: STOP unsubscribes the number's contacts from SMS, "
        "START opts them back in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="sender", required=True, help="the sender's phone number")
        parser.add_argument("text", help="the message text, e.g. STOP")

    def handle(self, *args: Any, sender: str, text: str, **options: Any) -> None:
        result = sms_inbound_record(sender=sender, text=text)
        if result.start:
            n = len(result.resubscribed_ids)
            self.stdout.write(f"Opted back in to SMS: {n} contact{'' if n == 1 else 's'} with the number {sender}.")
            return
        if not result.stop:
            self.stdout.write("Not an opt-out or opt-in keyword: nothing recorded.")
            return
        n = len(result.contact_ids)
        self.stdout.write(f"Unsubscribed from SMS: {n} contact{'' if n == 1 else 's'} with the number {sender}.")
