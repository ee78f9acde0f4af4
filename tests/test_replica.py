"""The database router: lagging reads to the replica, everything else to the primary (config.replica).

The replica in these tests is a second connection to the test database itself (transactional tests, so what
one connection commits the other reads), added for the test only; its probe is told the replica is ready, or
points at a port where nothing listens.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, reverse

from config import replica
from contacts.models import Contact
from contacts.roles import Role
from tests.conftest import make_user
from tests.factories import ContactFactory

through_both = pytest.mark.django_db(transaction=True, databases=["default", replica.REPLICA])


def _set_replica(**overrides):
    _close_replica()
    # A mirror: the test's flush at its end runs on the primary alone (and re-creates the roles there).
    settings.DATABASES[replica.REPLICA] = {
        **copy.deepcopy(settings.DATABASES["default"]),
        "TEST": {"MIRROR": "default"},
        **overrides,
    }


def _close_replica():
    """Forget this thread's replica connection: the next use connects with the settings as they are then."""
    if replica.REPLICA in settings.DATABASES:
        connections[replica.REPLICA].close()
        del connections[replica.REPLICA]


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup):
    """The alias exists before each test's database setup, which checks the databases a test may use."""
    _set_replica()
    yield
    _close_replica()
    settings.DATABASES.pop(replica.REPLICA, None)


@pytest.fixture
def with_replica(monkeypatch):
    """The replica's probe says it may serve reads; each read asks it again."""
    monkeypatch.setattr(replica, "_replica_state", lambda: (True, 0.0))
    monkeypatch.setattr(settings, "REPLICA_PROBE_SECONDS", 0)
    replica.probe.mark_down()


@pytest.fixture
def signed_in(client, roles):
    client.force_login(make_user(Role.MARKETER))
    return client


def _queries(client, method, url, **kwargs):
    """(response, SQL run on the primary, SQL run on the replica) of one request; a stream is read to its end."""
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections[replica.REPLICA]) as secondary,
    ):
        response = getattr(client, method)(url, **kwargs)
        if response.streaming:
            b"".join(response.streaming_content)
    return response, [q["sql"] for q in primary], [q["sql"] for q in secondary]


def _reads_contacts(sql: list[str]) -> bool:
    return any('"contacts_contact"' in s or "contacts_contact" in s for s in sql)


@through_both
def test_the_contact_list_reads_contacts_from_the_replica_and_who_is_signed_in_from_the_primary(
    with_replica, signed_in
):
    ContactFactory.create_batch(3)
    response, primary, secondary = _queries(signed_in, "get", reverse("contacts:contact_list"))
    assert response.status_code == 200
    assert _reads_contacts(secondary)
    assert not _reads_contacts(primary)
    assert any("django_session" in s for s in primary)
    assert not any("django_session" in s or "auth_user" in s for s in secondary)


@through_both
def test_a_page_that_is_not_a_lagging_read_reads_the_primary(with_replica, signed_in):
    contact = ContactFactory()
    response, primary, secondary = _queries(signed_in, "get", reverse("contacts:contact_detail", args=[contact.pk]))
    assert response.status_code == 200
    assert secondary == []
    assert _reads_contacts(primary)


@through_both
def test_after_a_write_the_same_browser_reads_the_primary_for_a_moment(with_replica, signed_in, monkeypatch):
    response, _, secondary = _queries(
        signed_in,
        "post",
        reverse("contacts:contact_create"),
        data={"email": "new@example.com", "first_name": "Nora", "lead_score": "0"},
    )
    assert response.status_code == 302, response.content[:500]
    assert secondary == []
    pin = response.cookies[replica.PIN_COOKIE]
    assert float(pin.value) > time.time()

    response, primary, secondary = _queries(signed_in, "get", reverse("contacts:contact_list"))
    assert response.status_code == 200 and b"new@example.com" in response.content
    assert secondary == [] and _reads_contacts(primary)

    signed_in.cookies[replica.PIN_COOKIE] = f"{time.time() - 1:.3f}"  # the moment has passed
    response, primary, secondary = _queries(signed_in, "get", reverse("contacts:contact_list"))
    assert _reads_contacts(secondary) and not _reads_contacts(primary)


@through_both
def test_the_live_preview_is_a_lagging_read_even_as_a_post(with_replica, signed_in):
    ContactFactory(country="CZ")
    tree = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
    response, primary, secondary = _queries(
        signed_in, "post", reverse("segments:rule_preview"), data=json.dumps(tree), content_type="application/json"
    )
    assert response.status_code == 200, response.content[:300]
    assert _reads_contacts(secondary) and not _reads_contacts(primary)
    assert replica.PIN_COOKIE not in response.cookies  # a read: the browser is not pinned


@through_both
def test_a_groups_members_and_accounts_tabs_read_the_replica_until_the_browser_adds_a_member(with_replica, signed_in):
    from segments.models import Membership
    from tests.factories import ContactGroupFactory

    group = ContactGroupFactory()
    Membership.objects.create(group=group, contact=ContactFactory(first_name="Ada"), via_manual=True)
    for name in ("segments:group_detail", "segments:group_accounts"):
        response, primary, secondary = _queries(signed_in, "get", reverse(name, args=[group.pk]))
        assert response.status_code == 200
        assert any("segments_contactgroup" in s for s in secondary)
        assert not any("segments_contactgroup" in s or "segments_membership" in s for s in primary)
    newcomer = ContactFactory(first_name="Grace")
    response, _, secondary = _queries(
        signed_in, "post", reverse("segments:group_members_add", args=[group.pk]), data={"contacts": [newcomer.pk]}
    )
    assert response.status_code == 302 and secondary == []
    response, primary, secondary = _queries(signed_in, "get", reverse("segments:group_detail", args=[group.pk]))
    assert b"Grace" in response.content  # what the browser just added, read from the primary
    assert secondary == [] and any("segments_membership" in s for s in primary)


@through_both
def test_a_streamed_export_reads_the_replica_while_it_streams(with_replica, client, roles):
    client.force_login(make_user(Role.ADMIN))
    ContactFactory.create_batch(3)
    response, primary, secondary = _queries(
        client, "get", reverse("transfers:export_contacts") + "?columns=email&columns=first_name&format=csv"
    )
    assert response.status_code == 200 and response.streaming
    assert _reads_contacts(secondary) and not _reads_contacts(primary)


@through_both
def test_a_replica_that_fails_mid_request_is_marked_down_and_the_read_runs_on_the_primary(monkeypatch, signed_in):
    _set_replica(
        HOST="127.0.0.1",
        PORT="1",
        ENGINE="django.db.backends.postgresql",
        NAME="nowhere",
        OPTIONS={"connect_timeout": 1},
    )
    try:
        real_state = replica._replica_state
        answers = iter([(True, 0.0)])  # the probe believed it once; after the failure it asks for real
        monkeypatch.setattr(replica, "_replica_state", lambda: next(answers, None) or real_state())
        replica.probe.mark_down()
        monkeypatch.setattr(settings, "REPLICA_PROBE_SECONDS", 0)
        ContactFactory(email="still@example.com")
        response = signed_in.get(reverse("contacts:contact_list"))
        assert response.status_code == 200
        assert b"still@example.com" in response.content
        monkeypatch.setattr(settings, "REPLICA_PROBE_SECONDS", 60)
        assert replica.read_alias() == "default"  # marked down: not asked again for a while
    finally:
        _set_replica()


@through_both
@pytest.mark.postgres
def test_the_real_probe_refuses_a_database_that_is_not_a_replica(signed_in, monkeypatch):
    if connections["default"].vendor != "postgresql":
        pytest.skip("the probe asks PostgreSQL's replication functions")
    try:
        replica.probe.mark_down()
        monkeypatch.setattr(settings, "REPLICA_PROBE_SECONDS", 0)
        ready, lag = replica._replica_state()  # a primary cannot say how far it lags behind itself
        assert (ready, lag) == (False, None)
        response, primary, secondary = _queries(signed_in, "get", reverse("contacts:contact_list"))
        assert response.status_code == 200 and _reads_contacts(primary)
        assert not _reads_contacts(secondary)
    finally:
        replica.probe.mark_down()


@through_both
def test_without_a_replica_everything_reads_and_writes_the_primary(signed_in, monkeypatch):
    monkeypatch.setattr(replica, "replica_configured", lambda: False)
    router = replica.ReplicaRouter()
    token = replica._lagging.set(True)
    try:
        assert router.db_for_read(Contact) == "default"
    finally:
        replica._lagging.reset(token)
    response = signed_in.get(reverse("contacts:contact_list"))
    assert response.status_code == 200


def test_the_router_sends_writes_migrations_and_sign_in_data_to_the_primary(with_replica):
    from django.contrib.auth.models import User
    from django.contrib.sessions.models import Session

    router = replica.ReplicaRouter()
    token = replica._lagging.set(True)
    try:
        assert router.db_for_read(Contact) == replica.REPLICA
        assert router.db_for_read(User) == "default"
        assert router.db_for_read(Session) == "default"
        assert router.db_for_write(Contact) == "default"
    finally:
        replica._lagging.reset(token)
    assert router.db_for_read(Contact) == "default"  # outside a lagging read: the worker, commands, forms
    assert router.allow_migrate("default", "contacts") and not router.allow_migrate(replica.REPLICA, "contacts")


def test_every_lagging_read_names_a_url_of_the_project():
    names = set()

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner)
            elif pattern.name:
                names.add(f"{namespace}{pattern.name}")

    walk(get_resolver().url_patterns)
    assert set(replica.LAGGING_READS) <= names, set(replica.LAGGING_READS) - names
