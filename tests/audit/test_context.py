"""The client's address (behind trusted proxies or not), the acting user outside requests, and the line diff."""

from __future__ import annotations

import sys

import pytest
from django.test import RequestFactory

from audit.context import acting_as, client_ip, process_name
from audit.diff import Line, change_rows, line_diff
from audit.services import audit_changes, audit_record

rf = RequestFactory()


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),  # no proxy trusted: the header is the client's word, ignored
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the left entry was sent by the client: not trusted
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (2, "198.51.100.1", "10.0.0.2"),  # fewer hops than proxies: REMOTE_ADDR
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "198.51.100.1:5555", "198.51.100.1"),
        (1, "garbage", None),
    ],
)
def test_client_ip(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_process_names(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["manage.py", "rebuild_groups", "--all"])
    assert process_name() == "manage.py rebuild_groups"
    monkeypatch.setattr(sys, "argv", ["manage.py", "qcluster"])
    assert process_name() == "background task"
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert process_name() == "system"


@pytest.mark.django_db
def test_acting_as_names_the_actor_outside_requests():
    with acting_as("nightly import"):
        item = audit_record(action="import.run", label="feed.csv")
    assert (item.actor, item.actor_name, item.ip) == (None, "nightly import", None)


@pytest.mark.django_db
def test_an_anonymous_request_is_named_so():
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/", REMOTE_ADDR="192.0.2.2")
    request.user = AnonymousUser()
    item = audit_record(action="export.run", request=request)
    assert (item.actor, item.actor_name, item.ip) == (None, "anonymous", "192.0.2.2")


def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError):
        audit_record(action="group.renamed")


def test_line_diff_keeps_context_and_folds_long_unchanged_runs():
    before = [f"line {i}" for i in range(20)]
    after = [*before[:10], "new line", *before[11:]]
    lines = line_diff(before, after)
    assert lines[0] == Line("fold", "… 7 unchanged lines")
    assert [line.kind for line in lines[1:]] == ["same"] * 3 + ["removed", "added"] + ["same"] * 3 + ["fold"]
    assert lines[4:6] == [Line("removed", "line 10"), Line("added", "new line")]


def test_change_rows_tell_lines_values_and_facts_apart():
    changes = {
        **audit_changes({"condition": ["A"], "name": "Old"}, {"condition": ["B"], "name": "New"}),
        "columns": ["Email → email"],
    }
    rows = {row.name: row for row in change_rows(changes)}
    assert rows["condition"].kind == "lines" and rows["condition"].lines == [Line("removed", "A"), Line("added", "B")]
    assert (rows["name"].kind, rows["name"].before, rows["name"].after) == ("value", "Old", "New")
    assert (rows["columns"].kind, rows["columns"].value) == ("fact", ["Email → email"])
