"""`manage.py seed_demo [--contacts N] [--seed S] [--now ISO] [--reset]`: idempotent demo data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import autodiscover_modules

from config.database import planner_statistics_refresh
from contacts.demo import demo_data_seed, demo_steps_run, format_duration


def _parse_now(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        except ValueError:
            raise CommandError(f"--now: expected an ISO-8601 date or date-time, got “{value}”.") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


class Command(BaseCommand):
    help = (
        "Fill an empty database with realistic demo data: accounts, contacts in ten countries, custom fields "
        "of every type, consents and about 20 activities per contact over the last two years. Deterministic "
        "(same --seed and --now, same data) and idempotent: when contacts already exist it adds nothing "
        "(use --reset to start over)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contacts", type=int, default=5000, help="How many contacts (default 5000).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--now", help="Date-time the data is relative to (ISO-8601; default: now).")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="DELETE every contact, account, activity and contact consent first, then seed again.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["contacts"] < 0:
            raise CommandError("--contacts must be zero or more.")
        now = _parse_now(options["now"]) or timezone.now().replace(second=0, microsecond=0)
        result = demo_data_seed(contacts=options["contacts"], seed=options["seed"], now=now, reset=options["reset"])

        if result.fields_created:
            self.stdout.write(f"Created {len(result.fields_created)} custom fields: {', '.join(result.fields_created)}")
        if result.consents_created:
            self.stdout.write(f"Created consents: {', '.join(result.consents_created)}")
        if result.deleted_contacts:
            self.stdout.write(f"Deleted {result.deleted_contacts:,} contacts with their activities and accounts.")
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data created in {format_duration(result.seconds)} (seed {options['seed']}): "
                    f"{result.accounts:,} accounts, {result.contacts:,} contacts ({result.merged:,} merged), "
                    f"{result.activities:,} activities, {result.consents:,} consents."
                )
            )
        else:
            self.stdout.write(
                f"Demo data not added: the database already holds {result.existing_contacts:,} contacts. "
                "Run `manage.py seed_demo --reset` to delete them and start over."
            )

        autodiscover_modules("demo")  # other apps' demo.py modules register their steps (contacts.demo)
        for name, line in demo_steps_run(seed=options["seed"], now=now, created=result.created):
            if line:
                self.stdout.write(f"{line} ({name.rsplit('.', 1)[-1]})")
        planner_statistics_refresh()
