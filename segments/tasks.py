"""django-q2 tasks: one-line wrappers taking ids (arguments are pickled, never model instances)."""

from __future__ import annotations

from segments import services


def rebuild_group(group_id: int) -> dict:
    """Rebuild one group's condition members."""
    return services.group_rebuild_by_id(group_id=group_id)


def rebuild_scheduled_groups() -> list[dict]:
    """Nightly: rebuild every group with scheduled rebuild on (dependencies first), then record sizes."""
    results = services.groups_rebuild_scheduled()
    services.groups_snapshot_sizes()
    return results


def drain_rechecks() -> int:
    """Re-check the contacts that changed since the last drain."""
    from segments.recheck import rechecks_drain

    return rechecks_drain()


def refresh_groups_after_bulk_change(kinds: list[str]) -> int:
    """After a change to very many contacts: rebuild the affected groups instead of re-checking each."""
    from segments.recheck import groups_refresh_after_bulk_change

    return groups_refresh_after_bulk_change(kinds=set(kinds))
