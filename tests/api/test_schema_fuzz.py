"""Schemathesis against the served schema, in process (WSGI): every operation with generated valid and
invalid requests, as a read-write Admin. No response may be a 5xx, and every response must match the
schema (status codes, content types, bodies). Bounded (few examples per operation) and derandomized
(a fixed seed: the same requests every run)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.tokens import token_create
from contacts.roles import Role
from tests.conftest import make_user
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db
EXAMPLES = 12  # per operation and mode: about 20 operations × 2 modes × 12 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def in_process():
    """Requests through Django's WSGI handler in this thread share the test's transaction: the handler must
    not close the connection at the end of each request (Django's test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_every_operation_answers_within_its_schema(in_process):
    account = AccountFactory()
    for _ in range(3):
        ContactFactory(account=account)
    group = ContactGroupFactory(code="g1")
    MembershipFactory(group=group, contact=ContactFactory())
    _, text = token_create(user=make_user(Role.ADMIN, username="fuzz"), name="fuzz", scope="write")
    headers = {"Authorization": f"Bearer {text}"}
    with override_settings(API_RATE="1000000/min"):
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", in_process, headers=headers)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        failures = []
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case):
                    case.call_and_validate(headers=headers, checks=CHECKS)

                try:
                    run()
                except BaseException as exc:  # collect every operation's failure, not only the first
                    failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
