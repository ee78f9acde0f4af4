"""The live preview shared for a moment (segments.selectors.preview): the same tree within PREVIEW_CACHE_SECONDS
gets the count made then, with its age; one count per tree however many ask at once."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.urls import reverse

from segments.rules import EvaluationTimeout
from segments.selectors import preview as shared
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = reverse("segments:rule_preview")
CZECH = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
# The same condition spelled another way: keys in another order (its canonical form is the same).
CZECH_AGAIN = {"root": {"value": "CZ", "operator": "equals", "field": "country", "type": "field"}, "version": 1}
SLOVAK = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "SK"}}


@pytest.fixture(autouse=True)
def shared_for_30_seconds(settings):
    settings.PREVIEW_CACHE_SECONDS = 30
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    """time.time() in the selector, moved by hand."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(shared.time, "time", lambda: now[0])
    return now


def ask(client, tree):
    response = client.post(URL, data=json.dumps(tree), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_same_tree_within_the_window_gets_the_earlier_count_with_its_age(marketer_client, clock):
    ContactFactory(country="CZ")
    first = ask(marketer_client, CZECH)
    assert (first["count"], first["counted_seconds_ago"]) == (1, 0)
    ContactFactory(country="CZ")
    clock[0] += 12
    again = ask(marketer_client, CZECH_AGAIN)
    assert (again["count"], again["counted_seconds_ago"]) == (1, 12)  # the count made 12 s ago, said so
    assert again["contacts"] == first["contacts"]
    assert ask(marketer_client, SLOVAK)["count"] == 0  # another tree: its own count


def test_past_the_window_the_tree_is_counted_again(marketer_client, settings):
    settings.PREVIEW_CACHE_SECONDS = 30
    ContactFactory(country="CZ")
    assert ask(marketer_client, CZECH)["count"] == 1
    ContactFactory(country="CZ")
    cache.clear()  # what the cache does once the 30 s are over
    fresh = ask(marketer_client, CZECH)
    assert (fresh["count"], fresh["counted_seconds_ago"]) == (2, 0)


def test_zero_turns_sharing_off(marketer_client, settings):
    settings.PREVIEW_CACHE_SECONDS = 0
    ContactFactory(country="CZ")
    assert ask(marketer_client, CZECH)["count"] == 1
    ContactFactory(country="CZ")
    assert ask(marketer_client, CZECH)["count"] == 2


def test_a_reachability_setting_change_is_not_served_an_old_count(marketer_client, settings):
    ContactFactory(country="CZ", email="a@example.com")
    assert ask(marketer_client, CZECH)["reachable"]["email"] == 0  # the newsletter consent is needed
    settings.REACHABILITY_EMAIL_CONSENT = ""
    assert ask(marketer_client, CZECH)["reachable"]["email"] == 1


def test_a_changed_custom_field_is_not_served_an_earlier_count(marketer_client):
    from contacts.models import ContactField

    plan = ContactField.objects.create(code="plan", label="Plan", type="text")
    ContactFactory(custom={"plan": "pro"})
    pro = {"version": 1, "root": {"type": "field", "field": "custom.plan", "operator": "equals", "value": "pro"}}
    assert ask(marketer_client, pro)["count"] == 1
    ContactFactory(custom={"plan": "pro"})
    assert ask(marketer_client, pro)["count"] == 1  # shared
    plan.label = "Plan (renamed)"
    plan.save()  # any change of a field: how its conditions compile may have changed
    assert (lambda r: (r["count"], r["counted_seconds_ago"]))(ask(marketer_client, pro)) == (2, 0)


def test_an_invalid_tree_is_refused_before_any_shared_count(marketer_client):
    bad = {"version": 1, "root": {"type": "field", "field": "country", "operator": "between", "value": "CZ"}}
    response = marketer_client.post(URL, data=json.dumps(bad), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["path"].startswith("root")


def test_while_another_process_counts_the_tree_its_result_is_awaited_not_counted_twice(db, monkeypatch, clock):
    ContactFactory(country="CZ")
    real = shared.preview
    counted_elsewhere = real(CZECH)
    key = shared._key(shared.parse(CZECH).to_json())
    assert cache.add(shared._flag(key), 1, timeout=30)  # another process has started counting this tree

    def the_other_process_finishes(_seconds):
        cache.set(key, (counted_elsewhere, clock[0] - 1), timeout=30)

    monkeypatch.setattr(shared.time, "sleep", the_other_process_finishes)
    monkeypatch.setattr(shared, "preview", lambda *a, **k: pytest.fail("counted twice"))
    result = shared.preview_shared(CZECH, timeout=5)
    assert (result.preview.count, result.age) == (1, 1)


def test_a_count_that_never_comes_is_made_here_after_the_wait(db, monkeypatch):
    ContactFactory(country="CZ")
    key = shared._key(shared.parse(CZECH).to_json())
    cache.add(shared._flag(key), 1, timeout=30)  # a process that died while counting
    waited = []
    monotonic = [0.0]
    monkeypatch.setattr(shared.time, "monotonic", lambda: monotonic[0])

    def wait(seconds):
        waited.append(seconds)
        monotonic[0] += seconds

    monkeypatch.setattr(shared.time, "sleep", wait)
    assert shared.preview_shared(CZECH, timeout=1).preview.count == 1
    assert 0.9 <= sum(waited) <= 1.1  # it waited the count's time limit, then counted


def test_a_timed_out_count_is_not_shared(db, monkeypatch):
    def too_slow(*args, **kwargs):
        raise EvaluationTimeout(1)

    monkeypatch.setattr(shared, "preview", too_slow)
    with pytest.raises(EvaluationTimeout):
        shared.preview_shared(CZECH, timeout=1)
    key = shared._key(shared.parse(CZECH).to_json())
    assert cache.get(key) is None and cache.get(shared._flag(key)) is None  # the next one counts afresh


@pytest.fixture
def queued(monkeypatch):
    """The tasks queued (django_q's async_task), not run."""
    tasks = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: tasks.append((func, args)))
    return tasks


def test_past_the_window_a_worker_recounts_while_everyone_gets_the_previous_count(db, clock, queued):
    ContactFactory(country="CZ")
    assert shared.preview_shared(CZECH).preview.count == 1
    ContactFactory(country="CZ")
    clock[0] += 31  # past the 30 s window
    first, second = shared.preview_shared(CZECH), shared.preview_shared(CZECH_AGAIN)
    assert [(r.preview.count, r.age) for r in (first, second)] == [(1, 31), (1, 31)]  # nobody waits for the recount
    assert [func for func, _ in queued] == ["segments.tasks.preview_recount"]  # asked once, not per request
    from segments import tasks

    tasks.preview_recount(*queued[0][1])  # the worker's turn (through the task's own arguments: JSON-able)
    clock[0] += 2
    assert (lambda r: (r.preview.count, r.age))(shared.preview_shared(CZECH)) == (2, 2)


def test_a_worker_queue_that_does_not_answer_makes_the_request_recount(db, clock, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is away")

    ContactFactory(country="CZ")
    assert shared.preview_shared(CZECH).preview.count == 1
    ContactFactory(country="CZ")
    clock[0] += 31
    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    recounted = shared.preview_shared(CZECH)
    assert (recounted.preview.count, recounted.age) == (2, 0)


def test_past_two_windows_the_count_is_gone_and_the_first_to_ask_counts(db, clock, queued):
    ContactFactory(country="CZ")
    assert shared.preview_shared(CZECH).preview.count == 1
    ContactFactory(country="CZ")
    cache.delete(shared._key(shared.parse(CZECH).to_json()))  # what the cache does after two windows
    fresh = shared.preview_shared(CZECH)
    assert (fresh.preview.count, fresh.age, queued) == (2, 0, [])
