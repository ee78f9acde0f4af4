"""The one way dates and times are shown, on every page: `{{ value|day }}` (3 Dec 2026) and `{{ value|moment }}`
(3 Dec 2026, 14:05), in the project's TIME_ZONE and following the active language: our format for English,
Django's own DATE_FORMAT / DATETIME_FORMAT for any other language. Never `|date:"…"` with a format of its own."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import dateformat, timezone, translation
from django.utils.formats import get_format

register = template.Library()

# The app's formats by language (the part before "-"); languages not listed use Django's locale formats.
ENGLISH = ("j M Y", "j M Y, H:i")
APP_FORMATS: dict[str, tuple[str, str]] = {"en": ENGLISH}


def _formats() -> tuple[str, str]:
    language = (translation.get_language() or "en").split("-")[0].lower()
    return APP_FORMATS.get(language) or (str(get_format("DATE_FORMAT")), str(get_format("DATETIME_FORMAT")))


def _local(value: Any) -> Any:
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


# English month abbreviations as Django's "M" writes them: the ENGLISH formats are written without
# dateformat's per-call parsing (a list page formats a hundred dates; dateformat took 5 ms of them).
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _format(value: Any, which: int) -> str:
    """`value` in the app's date (which=0) or date-and-time (which=1) format of the active language."""
    if not value:
        return ""
    local, formats = _local(value), _formats()
    if formats == ENGLISH:
        text = f"{local.day} {_EN_MONTHS[local.month - 1]} {local.year}"
        return f"{text}, {local.hour:02d}:{local.minute:02d}" if which else text
    return dateformat.format(local, formats[which])


def format_day(value: dt.date | dt.datetime | None) -> str:
    """A date (or a datetime's local date) as the app shows dates: "3 Dec 2026" in English."""
    return _format(value, 0)


def format_moment(value: dt.datetime | None) -> str:
    """A datetime in TIME_ZONE as the app shows times: "3 Dec 2026, 14:05" in English."""
    return _format(value, 1)


@register.filter(expects_localtime=True)
def day(value: Any) -> str:
    return format_day(value) if isinstance(value, dt.date) else ""


@register.filter(expects_localtime=True)
def moment(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return format_moment(value)
    return format_day(value) if isinstance(value, dt.date) else ""
