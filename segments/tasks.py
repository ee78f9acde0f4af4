"""django-q2 tasks: one-line wrappers taking ids (arguments are pickled, never model instances)."""

from __future__ import annotations

from django.conf import settings

from config.database import planner_statistics_refresh
from segments import rebuilds, services


def rebuild_group(group_id: int) -> dict:
    """Rebuild one group's condition members."""
    return rebuilds.group_rebuild_by_id(group_id=group_id)


def rebuild_scheduled_groups() -> list[dict]:
    """Nightly: rebuild scheduled groups (dependencies first), record sizes, prune history, repair, ANALYZE (SQLite)."""
    from segments.memberships import events_prune, memberships_integrity

    results = rebuilds.groups_rebuild_scheduled()
    services.groups_snapshot_sizes()
    events_prune(older_than_days=settings.MEMBERSHIP_HISTORY_DAYS)
    memberships_integrity(repair=True)
    planner_statistics_refresh()
    return results


def preview_recount(canonical: dict, timeout: float, key: str) -> None:
    """Count a builder preview again and share it (segments.selectors.preview: served meanwhile with its age)."""
    from segments.selectors.preview import preview_recount as recount

    recount(canonical, timeout, key)


def drain_rechecks() -> int:
    """Refresh groups after bulk changes and re-check the contacts that changed since the last drain."""
    from segments.rechecks import rechecks_drain

    return rechecks_drain()


def refresh_groups_after_bulk_change(kinds: list[str]) -> int:
    """After a change to very many contacts: rebuild the affected groups instead of re-checking each."""
    from segments.rechecks import groups_refresh_after_bulk_change

    return groups_refresh_after_bulk_change(kinds=set(kinds))


def recover_interrupted_rebuilds() -> list[int]:
    """Minutely: queue again the rebuilds whose worker died (no heartbeat)."""
    return rebuilds.rebuilds_recover_interrupted()
