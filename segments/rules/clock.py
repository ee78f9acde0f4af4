""" "Now", "today" and calendar days in the project's time zone, for relative dates and windows.

Invariant: all date arithmetic happens here in Python, before any SQL is built: a calendar day D of
the project time zone becomes the half-open instant range [start(D), start(D + 1)), so datetime
columns are compared with plain (index-friendly) ranges, never with a per-row date conversion.
Out-of-range arithmetic (year 1 or 9999) yields None, meaning "unbounded" or "nothing", never an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from segments.rules.nodes import Op


@dataclass(frozen=True)
class Clock:
    now: dt.datetime  # aware
    tz: dt.tzinfo

    @classmethod
    def at(cls, now: dt.datetime | None = None) -> Clock:
        """The clock for an evaluation at `now` (default: the current time; naive means project time)."""
        tz = timezone.get_default_timezone()
        if now is None:
            now = timezone.now()
        elif timezone.is_naive(now):
            now = timezone.make_aware(now, tz)
        return cls(now=now, tz=tz)

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def day_start(self, day: dt.date | None) -> dt.datetime | None:
        """The instant (UTC) when `day` starts in the project time zone; None if out of range."""
        if day is None:
            return None
        try:
            return dt.datetime.combine(day, dt.time(), tzinfo=self.tz).astimezone(dt.UTC)
        except (OverflowError, ValueError):
            return None

    def window_start(self, days: int) -> dt.datetime | None:
        """The exclusive start of an activity window `last_days`: `days` × 24 hours ago; 0 is today.

        `last_days: 0` means today since midnight (as the date operator `in_last_days 0`), returned
        as one microsecond before today starts so that every caller can keep `occurred_at > start`.
        """
        if days == 0:
            start = self.day_start(self.today)
            return start - dt.timedelta(microseconds=1) if start is not None else None
        return self.hours_ago(days)

    def hours_ago(self, days: int) -> dt.datetime | None:
        """`now` minus days × 24 hours (absolute time, whatever the daylight saving changes)."""
        # TRICKY: arithmetic on an aware datetime in a ZoneInfo zone is wall-clock arithmetic, which
        # is 23 or 25 hours across a daylight saving change; in UTC it is exact.
        try:
            return self.now.astimezone(dt.UTC) - dt.timedelta(days=days)
        except OverflowError:
            return None


def shift(day: dt.date, days: int) -> dt.date | None:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None


# A range of calendar days, both ends inclusive; None at an end means unbounded.
DayRange = tuple[dt.date | None, dt.date | None]


def day_range(op: Op, value: object, today: dt.date) -> DayRange | None:
    """The inclusive calendar-day range a date operator selects (DESIGN semantics); None if no day can."""
    match op:
        case Op.ON:
            assert isinstance(value, dt.date)
            return value, value
        case Op.BETWEEN:
            assert isinstance(value, tuple)
            return value[0], value[1]
        case Op.BEFORE:
            assert isinstance(value, dt.date)
            end = shift(value, -1)
            return None if end is None else (None, end)
        case Op.AFTER:
            assert isinstance(value, dt.date)
            start = shift(value, 1)
            return None if start is None else (start, None)
        case Op.IN_LAST_DAYS:  # today − N ≤ date ≤ today
            assert isinstance(value, int)
            return shift(today, -value), today
        case Op.MORE_THAN_DAYS_AGO:  # date < today − N
            assert isinstance(value, int)
            end = shift(today, -value - 1)
            return None if end is None else (None, end)
        case Op.IN_NEXT_DAYS:  # today ≤ date ≤ today + N
            assert isinstance(value, int)
            return today, shift(today, value)
    raise ValueError(f"{op} is not a date operator")
