"""seed_demo (deterministic, idempotent, valid custom values of every type) and demo_user."""

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max
from django.utils.module_loading import autodiscover_modules

from contacts import demo
from contacts.custom_fields import field_value, is_empty
from contacts.demo import DEMO_USERS
from contacts.models import (
    Account,
    Activity,
    Consent,
    Contact,
    ContactConsent,
    ContactField,
    FieldType,
)
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NOW = "2026-03-15T12:00:00+00:00"
NOW_DT = dt.datetime(2026, 3, 15, 12, tzinfo=dt.UTC)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--contacts", "200", "--now", NOW, *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "accounts": Account.objects.count(),
        "contacts": Contact.objects.count(),
        "activities": Activity.objects.count(),
        "consents": ContactConsent.objects.count(),
        "fields": ContactField.objects.count(),
        "consent_types": Consent.objects.count(),
    }


def snapshot() -> tuple[list, list, list]:
    """Everything generated, without database ids (which differ after a reset)."""
    key = {c.pk: c.created_at for c in Contact.objects.all()}
    contacts = sorted(
        (
            c.created_at,
            c.email,
            c.first_name,
            c.last_name,
            c.phone,
            str(c.country),
            c.city,
            c.job_title,
            c.lead_score,
            c.account.name if c.account else None,
            key.get(c.merged_into_id),
            c.custom,
            c.last_activity_at,
        )
        for c in Contact.objects.select_related("account")
    )
    activities = sorted(
        (key[a.contact_id], a.type, a.occurred_at, a.url, a.title, a.value, sorted(a.data.items()))
        for a in Activity.objects.all()
    )
    consents = sorted(
        (key[cc.contact_id], cc.consent.code, cc.agreed_at, cc.revoked_at)
        for cc in ContactConsent.objects.select_related("consent")
    )
    return contacts, activities, consents


def test_seed_creates_realistic_data_with_every_field_type():
    output = seed()

    assert "Demo data created" in output
    assert Contact.objects.count() == 200
    assert Account.objects.count() == 10  # about one company per 20 contacts
    assert Contact.objects.exclude(merged_into=None).count() == 1
    assert 200 * 12 < Activity.objects.count() < 200 * 30  # about 20 per contact
    assert Contact.objects.filter(email=None).exists()  # anonymous contacts
    assert 0.7 < Contact.objects.exclude(account=None).count() / 200 < 0.9
    assert Contact.objects.values("country").distinct().count() >= 6
    assert set(ContactField.objects.values_list("type", flat=True)) == set(FieldType.values)
    assert set(Consent.objects.values_list("code", flat=True)) >= {"newsletter", "sms", "product_updates"}
    assert ContactConsent.objects.filter(revoked_at=None).exists()
    assert ContactConsent.objects.exclude(revoked_at=None).exists()
    types = set(Activity.objects.values_list("type", flat=True))
    assert {"page_visit", "form_submission", "email_open", "email_click", "purchase"} <= types
    assert Activity.objects.filter(url__contains="/pricing").exists()
    assert Activity.objects.filter(type="form_submission", data__form="demo-request").exists()
    assert not Activity.objects.filter(type="purchase", value=None).exists()


def test_custom_values_are_canonical_and_every_field_is_sometimes_empty():
    seed()
    fields = {f.code: f for f in ContactField.objects.all()}
    filled: Counter[str] = Counter()
    for custom in Contact.objects.values_list("custom", flat=True):
        for code, value in custom.items():
            assert code in fields, code
            assert not is_empty(value), (code, value)
            assert field_value(field=fields[code], value=value) == value, (code, value)  # stored canonically
            filled[code] += 1
    for code in fields:
        assert 0 < filled[code] < 200, f"{code}: filled on {filled[code]} of 200 contacts"
    assert any(
        isinstance(v, int)
        for v in Contact.objects.filter(custom__has_key="annual_budget").values_list("custom__annual_budget", flat=True)
    )
    assert not ContactField.objects.get(code="legacy_source").is_active  # a retired field with old values


def test_activity_dates_and_last_activity_at():
    seed()
    oldest = Activity.objects.order_by("occurred_at").first().occurred_at
    newest = Activity.objects.order_by("-occurred_at").first().occurred_at
    assert NOW_DT - dt.timedelta(days=731) < oldest and newest <= NOW_DT  # two years, nothing in the future
    for contact in Contact.objects.annotate(newest=Max("activities__occurred_at")):
        assert contact.last_activity_at == contact.newest
    # Some contacts did nothing in the last year; some looked at pricing 3+ times in the last 30 days.
    year_ago = NOW_DT - dt.timedelta(days=365)
    assert Contact.objects.unmerged().exclude(last_activity_at__gt=year_ago).exists()
    assert Contact.objects.filter(merged_into__isnull=False, activities__isnull=False).count() == 0


def test_second_run_adds_nothing():
    seed()
    before = counts()

    output = seed()

    assert counts() == before
    assert "not added" in output and "already holds 200 contacts" in output


def test_does_not_add_to_a_database_with_other_contacts():
    ContactFactory()
    output = seed()
    assert Contact.objects.count() == 1
    assert "--reset" in output


def test_same_seed_same_data_and_other_seed_other_data():
    seed("--seed", "7")
    first = snapshot()

    output = seed("--seed", "7", "--reset")
    assert "Deleted 200 contacts" in output
    assert snapshot() == first
    assert counts()["contacts"] == 200

    seed("--seed", "8", "--reset")
    assert snapshot()[0] != first[0]


def test_demo_steps_of_other_apps_run_after_the_contacts(monkeypatch):
    autodiscover_modules("demo")  # register the real steps first, so they are not lost into the patched list
    monkeypatch.setattr(demo, "_STEPS", [])
    seen = []

    @demo.demo_step(order=5)
    def sample_groups(ctx: demo.DemoContext) -> str:
        seen.append((ctx.created, ctx.now, Contact.objects.count()))
        return "Created 2 sample groups"

    output = seed()
    seed()

    assert seen == [(True, NOW_DT, 200), (False, NOW_DT, 200)]
    assert "Created 2 sample groups (sample_groups)" in output


def test_bad_arguments_are_refused():
    with pytest.raises(CommandError, match="--now"):
        call_command("seed_demo", "--now", "yesterday", stdout=StringIO())
    with pytest.raises(CommandError, match="--contacts"):
        call_command("seed_demo", "--contacts", "-5", stdout=StringIO())
    assert Contact.objects.count() == 0


def test_demo_user_creates_one_login_per_role(client, settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("demo_user", stdout=out)
    call_command("demo_user", stdout=StringIO())  # idempotent

    User = get_user_model()
    assert User.objects.count() == 3
    groups = {u.username: list(u.groups.values_list("name", flat=True)) for u in User.objects.all()}
    assert groups == {"marketer": ["Marketer"], "admin": ["Admin"], "staff": ["Staff"]}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert not User.objects.get(username="marketer").is_superuser
    text = out.getvalue()
    assert "Log in at http://127.0.0.1:8000/ as marketer / marketer-demo" in text
    for username, password, _role, _superuser in DEMO_USERS:
        assert password in text
        assert client.login(username=username, password=password)


def test_demo_user_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("demo_user", stdout=StringIO())
    assert not get_user_model().objects.exists()
