import pytest

from segments.memberships import Integrity, memberships_integrity
from segments.models import ContactGroup
from segments.selectors import group_drift


@pytest.fixture
def no_drift():
    """After the test: every group's stored members equal a fresh evaluation, and the invariants hold.

    (What `manage.py rebuild_groups --check` reports.) For scenario tests whose changes all went
    through the services and a drain.
    """
    yield
    for group in ContactGroup.objects.all():
        drift = group_drift(group=group)
        assert drift.total == 0, f"group {group.code} drifts from a fresh evaluation: {drift}"
    assert memberships_integrity() == Integrity(orphans=0, merged_members=0, wrong_counts=0)
