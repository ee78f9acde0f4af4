"""`manage.py demo_user`: create (or reset) the three demo logins, one per role, and print them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.demo import demo_users_ensure
from contacts.roles import Role


class Command(BaseCommand):
    help = "Create (or reset) the demo logins marketer, admin and staff, one per role, and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the app runs (for the message).")
        parser.add_argument("--force", action="store_true", help="Also when DEBUG is off (the passwords are public!).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: demo logins have well-known passwords. Use --force if you really want them here."
            )
        try:
            users = demo_users_ensure()
        except Group.DoesNotExist:
            raise CommandError("The role groups are missing: run `manage.py migrate` first.") from None

        prefix = f"Log in at {options['url']} as "
        lines = []
        for index, (username, password, role, _created) in enumerate(users):
            lead = prefix if index == 0 else " " * (len(prefix) - 3) + "or "
            extra = "; Django admin at /admin/ too" if role == Role.ADMIN else ""
            lines.append(f"{lead}{username:<8} / {password:<13}  ({role.value} role{extra})")
        width = max(len(line) for line in lines)
        box = ["┌─" + "─" * width + "─┐", *(f"│ {line:<{width}} │" for line in lines), "└─" + "─" * width + "─┘"]
        self.stdout.write("\n".join(box))
