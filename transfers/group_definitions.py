"""Group definitions as JSON: export one group or all, import them on another instance.

Invariant: an import never guesses. Every reference a definition's condition makes (custom fields,
consents, groups, campaigns) must exist here, or come in the same file; what is missing is listed and
nothing is written — unless the user asks to import only the groups that resolve. Before anything is
written, every tree is validated by `segments.rules` with the groups of the file created in dependency
order inside a transaction that is rolled back (a dry run); the real import repeats it and commits.
Groups are created through `segments.services.group_create` (which queues their first rebuild).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from contacts.models import Consent, ContactField
from segments import services
from segments.graph import dependency_levels
from segments.models import ContactGroup
from segments.rebuilds import groups_in_dependency_order
from segments.rules import RuleError, dependencies, referenced_groups, validate
from segments.rules.catalog import collect_references, is_code

FORMAT = "segments.group-definitions"
VERSION = 1
KEYS = ("code", "name", "description", "is_condition_based", "scheduled_rebuild", "condition")
MAX_GROUPS = 1_000


class DefinitionsError(ValueError):
    """The file is not a group definitions file (the message says what is wrong); nothing was written."""


@dataclass(frozen=True)
class Definition:
    code: str
    name: str
    description: str
    is_condition_based: bool
    scheduled_rebuild: bool
    condition: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in KEYS}


def group_definition(group: ContactGroup) -> Definition:
    return Definition(
        code=group.code,
        name=group.name,
        description=group.description,
        is_condition_based=group.is_condition_based,
        scheduled_rebuild=group.scheduled_rebuild,
        condition=group.condition,
    )


def group_definitions_export(*, groups: QuerySet[ContactGroup]) -> dict[str, Any]:
    """The definitions file of `groups`, dependencies first (an import reads them in that order too); noted in
    the audit log."""
    definitions = [group_definition(g).as_json() for g in groups_in_dependency_order(groups=groups)]
    codes = [d["code"] for d in definitions]
    label = f"Definitions of {len(codes)} group{'' if len(codes) == 1 else 's'}"
    audit_record(action=AuditAction.EXPORT_RUN, label=label, changes={"format": "JSON", "groups": codes})
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(timespec="seconds"),
        "groups": definitions,
    }


def _definition(raw: Any, index: int) -> Definition:
    where = f"groups[{index}]"
    if not isinstance(raw, dict):
        raise DefinitionsError(f"{where}: expected an object")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise DefinitionsError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    code = raw.get("code")
    if not is_code(code):
        raise DefinitionsError(f"{where}.code: expected a code (lowercase letters, digits and _, up to 50)")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise DefinitionsError(f"{where}.name ({code}): expected a name of 1 to 200 characters")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise DefinitionsError(f"{where}.description ({code}): expected text")
    flags = {key: raw.get(key, False) for key in ("is_condition_based", "scheduled_rebuild")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise DefinitionsError(f"{where}.{key} ({code}): expected true or false")
    condition = raw.get("condition")
    if condition is not None and not isinstance(condition, dict):
        raise DefinitionsError(f"{where}.condition ({code}): expected a rule tree (an object) or null")
    if flags["is_condition_based"] and condition is None:
        raise DefinitionsError(f"{where}.condition ({code}): a condition-based group needs a condition")
    return Definition(code=str(code), name=name.strip(), description=description, condition=condition, **flags)


def definitions_parse(text: str | bytes) -> list[Definition]:
    """The definitions of a file's text; DefinitionsError with the reason when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DefinitionsError(f"This is not a JSON file ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DefinitionsError(f'This is not a group definitions file (expected "format": "{FORMAT}").')
    if data.get("version") != VERSION:
        raise DefinitionsError(f"Unsupported version {data.get('version')!r} (this instance reads version {VERSION}).")
    groups = data.get("groups")
    if not isinstance(groups, list) or not groups:
        raise DefinitionsError('The file holds no groups ("groups" should be a non-empty list).')
    if len(groups) > MAX_GROUPS:
        raise DefinitionsError(f"The file holds {len(groups):,} groups; at most {MAX_GROUPS:,} import at once.")
    definitions = [_definition(raw, i) for i, raw in enumerate(groups)]
    seen: set[str] = set()
    for d in definitions:
        if d.code in seen:
            raise DefinitionsError(f"The code “{d.code}” appears twice in the file.")
        seen.add(d.code)
    return definitions


# --- the plan: what an import would do, group by group ------------------------------------------


@dataclass
class GroupPlan:
    definition: Definition
    status: str = "ready"  # ready | exists | missing | invalid | blocked
    missing: list[str] = field(default_factory=list)  # references that do not exist here
    problem: str = ""  # why it cannot be imported (exists / invalid / blocked)

    @property
    def ready(self) -> bool:
        return self.status == "ready"


@dataclass
class ImportPlan:
    groups: list[GroupPlan]  # dependencies first

    @property
    def ready(self) -> list[GroupPlan]:
        return [g for g in self.groups if g.ready]

    @property
    def refused(self) -> list[GroupPlan]:
        return [g for g in self.groups if not g.ready]

    @property
    def missing(self) -> list[str]:
        """Every missing reference of the file, once, in order of appearance."""
        return list(dict.fromkeys(m for g in self.groups for m in g.missing))


def _missing_references(definitions: list[Definition]) -> dict[str, list[str]]:
    """code → the references of its condition that exist neither here nor in the file."""
    facts = {d.code: dependencies(d.condition) for d in definitions if d.condition is not None}
    campaigns = {d.code: collect_references(d.condition).campaigns for d in definitions if d.condition is not None}
    fields = {f.code: f.is_active for f in ContactField.objects.filter(
        code__in={c for f in facts.values() for c in f.custom_fields})}  # fmt: skip
    consents = set(Consent.objects.filter(code__in={c for f in facts.values() for c in f.consents})
                   .values_list("code", flat=True))  # fmt: skip
    in_file = {d.code for d in definitions}
    groups_here = set(ContactGroup.objects.filter(code__in={c for f in facts.values() for c in f.groups})
                      .values_list("code", flat=True))  # fmt: skip
    campaign_ids = {i for ids in campaigns.values() for i in ids}
    campaigns_here: set[int] = set()
    if campaign_ids:
        from contacts.models import Activity

        model = Activity._meta.get_field("campaign").related_model  # segments and contacts never import campaigns
        campaigns_here = set(model._default_manager.filter(pk__in=campaign_ids).values_list("pk", flat=True))  # type: ignore[union-attr]
    missing: dict[str, list[str]] = {}
    for code, fact in facts.items():
        found = [f"custom field “{c}”" for c in sorted(fact.custom_fields) if c not in fields]
        found += [f"custom field “{c}” (retired here)" for c in sorted(fact.custom_fields) if fields.get(c) is False]
        found += [f"consent “{c}”" for c in sorted(fact.consents) if c not in consents]
        found += [f"group “{c}”" for c in sorted(fact.groups) if c not in groups_here and c not in in_file]
        found += [f"campaign #{i}" for i in sorted(campaigns[code]) if i not in campaigns_here]
        if found:
            missing[code] = found
    return missing


def _in_dependency_order(definitions: list[Definition]) -> list[Definition]:
    by_code = {d.code: d for d in definitions}
    refs = {d.code: referenced_groups(d.condition) if d.condition else set() for d in definitions}
    return [by_code[code] for level in dependency_levels(refs) for code in level]


def _create(definition: Definition) -> ContactGroup:
    """Validate the definition's tree (segments.rules) and create the group (segments.services)."""
    condition = validate(definition.condition, group=definition.code) if definition.condition else None
    return services.group_create(
        code=definition.code,
        name=definition.name,
        description=definition.description,
        is_condition_based=definition.is_condition_based,
        condition=condition,
        scheduled_rebuild=definition.scheduled_rebuild,
    )


def _run(definitions: list[Definition], *, commit: bool) -> tuple[ImportPlan, list[ContactGroup]]:
    """Plan the import of `definitions` and, with `commit` and nothing refused, create the ready groups."""
    missing = _missing_references(definitions)
    existing = set(ContactGroup.objects.filter(code__in=[d.code for d in definitions]).values_list("code", flat=True))
    plans: list[GroupPlan] = []
    not_imported: dict[str, str] = {}  # code → why (for the groups that refer to it)
    created: list[ContactGroup] = []

    class _DryRun(Exception):
        pass

    try:
        with transaction.atomic():
            for definition in _in_dependency_order(definitions):
                plan = GroupPlan(definition=definition, missing=missing.get(definition.code, []))
                blocked = sorted(r for r in (referenced_groups(definition.condition) if definition.condition else ())
                                 if r in not_imported)  # fmt: skip
                if definition.code in existing:
                    plan.status, plan.problem = "exists", "a group with this code already exists here"
                elif plan.missing:
                    plan.status = "missing"
                    plan.problem = "refers to what does not exist here: " + ", ".join(plan.missing)
                elif blocked:
                    plan.status = "blocked"
                    plan.problem = "refers to " + ", ".join(f"group “{b}”, which is not imported" for b in blocked)
                else:
                    try:
                        with transaction.atomic():
                            created.append(_create(definition))
                    except RuleError as exc:
                        plan.status, plan.problem = "invalid", f"invalid condition: {exc}"
                    except ValidationError as exc:
                        plan.status, plan.problem = "invalid", "; ".join(exc.messages)
                if not plan.ready:
                    not_imported[definition.code] = plan.problem
                plans.append(plan)
            if not commit:
                raise _DryRun
    except _DryRun:
        created = []
    return ImportPlan(groups=plans), created


def group_definitions_plan(*, definitions: list[Definition]) -> ImportPlan:
    """What importing `definitions` would do, group by group; writes nothing (a rolled-back dry run)."""
    return _run(definitions, commit=False)[0]


class ImportRefused(Exception):
    """Some definitions do not resolve and the user did not ask to import only those that do."""

    def __init__(self, plan: ImportPlan) -> None:
        self.plan = plan
        super().__init__(f"{len(plan.refused)} of {len(plan.groups)} groups cannot be imported; nothing was written.")


@transaction.atomic
def group_definitions_import(*, definitions: list[Definition], only_resolving: bool = False) -> list[ContactGroup]:
    """Create the groups of `definitions` (dependencies first). When any cannot be imported, nothing is
    written (ImportRefused with the plan) — unless `only_resolving`: then the groups that resolve are created."""
    plan = group_definitions_plan(definitions=definitions)
    if plan.refused and not only_resolving:
        raise ImportRefused(plan)
    ready = {g.definition.code for g in plan.ready}
    final_plan, created = _run([d for d in definitions if d.code in ready], commit=True)
    if final_plan.refused:  # changed between the plan and now (another user): all or nothing still
        raise ImportRefused(final_plan)
    return created
