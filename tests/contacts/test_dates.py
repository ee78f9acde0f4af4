"""One date and time format everywhere (`|day`, `|moment`), in TIME_ZONE and following the active language."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from contacts.templatetags.dates import format_day, format_moment
from segments.models import GroupAccount
from tests.factories import AccountFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# Formats for machines (attributes, data) are fine; a date shown to a person goes through |day or |moment.
MACHINE_FORMATS = {"c", "Y-m-d", "D"}


def test_the_accounts_tab_shows_dates_like_every_other_page(marketer_client):
    group = ContactGroupFactory()
    link = GroupAccount.objects.create(group=group, account=AccountFactory(name="Navy Labs"))
    GroupAccount.objects.filter(pk=link.pk).update(added_at=timezone.make_aware(dt.datetime(2026, 12, 3, 10, 0)))
    body = marketer_client.get(reverse("segments:group_accounts", args=[group.pk])).content.decode()
    assert ">3 Dec 2026<" in body
    assert "12/03/2026" not in body


def test_times_are_shown_in_the_project_time_zone():
    late = dt.datetime(2026, 12, 2, 23, 30, tzinfo=dt.UTC)  # already 3 Dec in Prague
    with timezone.override("Europe/Prague"):
        assert format_day(late) == "3 Dec 2026"
        assert format_moment(late) == "3 Dec 2026, 00:30"
    assert format_day(dt.date(2026, 3, 14)) == "14 Mar 2026"
    assert format_day(None) == format_moment(None) == ""


def test_the_english_formats_are_djangos_own_formats_written_faster():
    from django.utils import dateformat

    with translation.override("en"), timezone.override("Europe/Prague"):
        for month in range(1, 13):
            for value in (dt.datetime(2026, month, 1, 0, 5, tzinfo=dt.UTC), dt.datetime(1999, month, 28, 21, 59)):
                local = timezone.localtime(value) if timezone.is_aware(value) else value
                assert format_day(value) == dateformat.format(local, "j M Y")
                assert format_moment(value) == dateformat.format(local, "j M Y, H:i")
            assert format_day(dt.date(2026, month, 9)) == dateformat.format(dt.date(2026, month, 9), "j M Y")


def test_other_languages_get_their_own_format():
    with translation.override("de"):
        assert format_day(dt.date(2026, 12, 3)) == "3. Dezember 2026"
    with translation.override("en-gb"):
        assert format_day(dt.date(2026, 12, 3)) == "3 Dec 2026"


@pytest.mark.parametrize("folder", ["contacts", "segments"])
def test_no_template_formats_a_date_its_own_way(folder):
    offenders = []
    for path in (TEMPLATES / folder).rglob("*.html"):
        for fmt in re.findall(r"""\|date:["']([^"']*)["']""", path.read_text()):
            if fmt not in MACHINE_FORMATS:
                offenders.append(f"{path.name}: {fmt}")
    assert not offenders
