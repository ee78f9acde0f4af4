"""Writes to the audit log: `audit_record`, called by the services inside the transaction of the action.

An action that rolls back takes its entry with it; an entry that fails to write fails the action (an
unrecorded change is worse than a refused one). Entries are never changed afterwards (see audit.models).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest

from audit import context
from audit.models import AuditAction, AuditEntry


class _FromContext:
    def __repr__(self) -> str:
        return "FROM_CONTEXT"


FROM_CONTEXT: Any = _FromContext()


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, set | frozenset):
            return sorted(o, key=str)
        if isinstance(o, models.Model):
            return str(o)
        return super().default(o)


def _json_safe(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return json.loads(json.dumps(dict(value or {}), cls=_Encoder))


def change(before: Any, after: Any) -> dict[str, Any]:
    """One attribute's change as the log keeps it: {"before": …, "after": …}."""
    return {"before": before, "after": after}


def audit_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{name: {"before", "after"}} for every name whose value differs (missing on one side: None there).

    Values that are lists of lines (a group's condition) are shown as a line diff; other values side by side.
    """
    names = [*before, *(n for n in after if n not in before)]
    return {name: change(before.get(name), after.get(name)) for name in names if before.get(name) != after.get(name)}


def _actor(actor: Any, request: HttpRequest | None, acting: context.Acting | None) -> tuple[Any, str]:
    """(the user or None, the name to keep) for an entry."""
    if actor is FROM_CONTEXT:
        user = getattr(request, "user", None) if request is not None else None
        actor = user if user is not None and user.is_authenticated else None
        if actor is None and request is not None:
            return None, "anonymous"
    if actor is not None and getattr(actor, "pk", None) is not None:
        return actor, actor.get_username()
    return None, (acting.name if acting is not None and acting.name else context.process_name())


def audit_record(
    *,
    action: AuditAction | str,
    obj: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    summary: str = "",
    label: str | None = None,
    actor: Any = FROM_CONTEXT,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Write one entry: who (`actor`, else the current request's user), from where (the request's address),
    what (`action` on `obj`, named `label` or str(obj)) and `changes`: {name: change(before, after)} for what
    changed (see `audit_changes`), {name: value} for facts of the action (file name, rows, recipients)."""
    action = AuditAction(action)
    acting = context.current()
    if request is None and acting is not None:
        request = acting.request
    user, name = _actor(actor, request, acting)
    return AuditEntry.objects.create(
        actor=user,
        actor_name=name[:150],
        ip=context.client_ip(request) if request is not None else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_label=(label if label is not None else str(obj) if obj is not None else "")[:300],
        changes=_json_safe(changes),
        summary=summary[:500],
    )
