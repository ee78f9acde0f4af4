from __future__ import annotations

import pytest

from audit.context import acting_as
from audit.models import AuditEntry
from tests.campaigns.conftest import people, sync_worker  # noqa: F401  (the campaign tests' fixtures)

ADDRESS = "203.0.113.7"


@pytest.fixture
def acting(rf, admin_user):
    """Services called inside run as if an Admin's request from ADDRESS were being handled."""
    request = rf.post("/", REMOTE_ADDR=ADDRESS)
    request.user = admin_user
    with acting_as(request=request):
        yield admin_user


def entry(action: str) -> AuditEntry:
    """The one entry of `action` (fails when there is none or more than one)."""
    return AuditEntry.objects.get(action=action)


def assert_by(item: AuditEntry, user, ip: str = ADDRESS) -> None:
    assert (item.actor, item.actor_name, item.ip) == (user, user.get_username(), ip)
