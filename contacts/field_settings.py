"""Field settings: services (writes) and selectors (reads) for the admin-defined custom contact fields.

Invariant: every value stored under a field's code in `Contact.custom` is the canonical value of the
field's current definition (as `contacts.custom_fields.coerce_value` gives it). Creating a field or
changing its type or choices therefore first takes a census of the stored values: if any would not fit
the new definition the change is refused, naming how many contacts hold such values, and nothing is
written; otherwise the values that fit but are stored differently are converted in the same transaction.

How, at any table size: the database groups the stored values (GROUP BY the value's JSON text), so Python
checks each *distinct* value once, with the one validator; the conversion walks contacts in primary-key
batches and rewrites only that key (`jsonb_set` / `json_set`), so memory stays bounded. Counts cover
every stored contact, merged ones included: their data must not be corrupted either.
"""

from __future__ import annotations

import heapq
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from typing import Any

from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.db import IntegrityError, NotSupportedError, connection, transaction
from django.db.models import Count, F, Func, JSONField, Max, Q, QuerySet, TextField
from django.db.models.sql.compiler import SQLCompiler
from django.utils.text import Truncator

from audit.models import AuditAction
from audit.services import audit_changes, audit_record, change
from contacts.custom_fields import coerce_value, is_empty
from contacts.field_audit import field_facts
from contacts.models import IDENTIFIER_VALIDATOR, Contact, ContactField, FieldType, name_key, no_double_underscore
from contacts.signals import ChangeReason, send_contacts_changed

CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE})
CHOICE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")
MAX_CHOICES = 500
LABEL_MAX = 100
HELP_TEXT_MAX = 200
# Query-string names the contact list uses for itself; a custom field's filter must not collide with them.
RESERVED_EXTRA = frozenset({"id", "pk", "q", "page", "per_page", "sort", "search", "merged", "include_merged"})
# JSON texts of the values DESIGN calls empty (absent keys are SQL NULL).
EMPTY_JSON_TEXTS = ("null", '""', "[]")
CONVERT_BATCH = 1000
# When at most this many distinct stored values need converting, only their rows are visited.
CONVERT_TARGETED_LIMIT = 1000
EXAMPLES_SHOWN = 5
# Offending values remembered by a census (to name the commonest); past this many, others are only counted.
OFFENDERS_KEPT = 10_000


# --- SQL helpers (PostgreSQL and SQLite) ---------------------------------------------------------------


class JSONKeyText(Func):
    """The JSON text of one top-level key of a JSON column: '"a"', '12', '["x", "y"]', 'null'; NULL if absent.

    Unlike Django's KeyTransform on SQLite (which hands back the SQL value, so "12" and 12 look alike),
    this is exact on both databases, and equal values give equal texts, so it can be grouped by.
    """

    output_field = TextField()

    def __init__(self, column: str, key: str) -> None:
        super().__init__(F(column))
        self.key = key

    def as_sql(self, compiler: SQLCompiler, connection: Any, **extra_context: Any) -> Any:  # type: ignore[override]
        raise NotSupportedError("Field settings support PostgreSQL and SQLite.")

    def as_postgresql(self, compiler: SQLCompiler, connection: Any, **extra_context: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql}) -> %s)::text", (*params, self.key)

    def as_sqlite(self, compiler: SQLCompiler, connection: Any, **extra_context: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql}) -> %s)", (*params, f'$."{self.key}"')


def _write_key(*, code: str, values: Sequence[tuple[int, str]]) -> None:
    """Set `Contact.custom[code]` to the given JSON texts by contact id, in one UPDATE joined to a VALUES list.

    Only that key is rewritten (`jsonb_set` / `json_set`), so other keys changed meanwhile are never lost.
    A VALUES join keeps this linear; a CASE with one branch per row (as bulk_update builds) is quadratic.
    """
    if not values:
        return
    quote = connection.ops.quote_name
    table, column = quote(Contact._meta.db_table), quote(str(Contact._meta.get_field("custom").column))
    pk = quote(str(Contact._meta.pk.column))
    if connection.vendor == "postgresql":
        row, path = "(CAST(%s AS bigint), CAST(%s AS text))", code
        new = f"jsonb_set({table}.{column}, ARRAY[%s]::text[], v.column2::jsonb)"
    elif connection.vendor == "sqlite":
        row, path = "(%s, %s)", f'$."{code}"'
        new = f"json_set({table}.{column}, %s, json(v.column2))"
    else:  # pragma: no cover
        raise NotSupportedError("Field settings support PostgreSQL and SQLite.")
    sql = (
        f"UPDATE {table} SET {column} = {new} "
        f"FROM (VALUES {', '.join([row] * len(values))}) AS v WHERE {table}.{pk} = v.column1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [path, *(item for pair in values for item in pair)])


# --- validation --------------------------------------------------------------------------------------


@cache
def reserved_codes() -> frozenset[str]:
    """Names a code may not take: built-in contact fields and relations, list parameters, JSON lookups."""
    names: set[str] = set(RESERVED_EXTRA)
    for model_field in Contact._meta.get_fields():
        names.add(model_field.name)
        attname = getattr(model_field, "attname", None)
        if attname:
            names.add(attname)
    names.update(("full_name", "display_name", "is_anonymous", "custom", "account"))
    # TRICKY: a code that is also a JSONField lookup ("contains", "in", "exact", "has_key"…) would turn
    # `custom__<code>=…` from a key lookup into that lookup on the whole object, so those are reserved too.
    names.update(JSONField().get_lookups())
    return frozenset(name.lower() for name in names)


def code_from_label(label: str) -> str:
    """A lower-case identifier suggested by a label ("Customer tier" → "customer_tier"); may be ""."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    code = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return code[:50].rstrip("_")


def validate_code(code: str) -> str:
    """Return the code if a new field may use it; ValidationError naming the problem otherwise."""
    code = (code or "").strip()
    if not code:
        raise ValidationError("Enter a code.", code="required")
    IDENTIFIER_VALIDATOR(code)
    no_double_underscore(code)
    if code.lower() in reserved_codes():
        raise ValidationError(
            f"“{code}” is the name of a built-in contact field or setting; choose another code.", code="reserved"
        )
    existing = ContactField.objects.filter(code__iexact=code).first()
    if existing is not None:
        if not existing.is_active:
            raise ValidationError(
                f"The retired field “{existing.label}” uses the code “{code}”; "
                "restore it instead, or choose another code.",
                code="unique",
            )
        raise ValidationError(f"The field “{existing.label}” already uses the code “{code}”.", code="unique")
    return code


def clean_choices(choices: Any) -> list[dict[str, str]]:
    """Validate a choice list ([{"code", "label"}]); returns it normalised or raises ValidationError."""
    if not isinstance(choices, list | tuple):
        raise ValidationError("Choices must be a list.")
    if len(choices) > MAX_CHOICES:
        raise ValidationError(f"A field can have at most {MAX_CHOICES} choices.")
    result: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, choice in enumerate(choices, start=1):
        if not isinstance(choice, dict) or not isinstance(choice.get("code"), str):
            raise ValidationError(f"Choice {number} needs a code.")
        code = choice["code"].strip()
        label = str(choice.get("label") or "").strip() or code
        if not CHOICE_CODE_RE.match(code):
            raise ValidationError(
                f"Choice {number}: the code “{code}” may use only letters, digits, “_” and “-” "
                "(starting with a letter or digit, at most 50 characters)."
            )
        if len(label) > LABEL_MAX:
            raise ValidationError(f"Choice {number}: the label may have at most {LABEL_MAX} characters.")
        if code.lower() in seen:
            raise ValidationError(
                f"Choice {number} repeats the code “{code}” (choice {seen[code.lower()]}); "
                "give each choice its own code."
            )
        seen[code.lower()] = number
        result.append({"code": code, "label": label})
    return result


def label_clash(*, label: str, field: ContactField | None = None) -> str | None:
    """Why `label` cannot be used (another field's label equal ignoring case, accents, spacing), or None."""
    others = ContactField.objects.filter(label_key=name_key(label))
    other = (others.exclude(pk=field.pk) if field is not None else others).first()
    if other is None:
        return None
    retired = ", retired" if not other.is_active else ""
    return (
        f"A field with this label already exists: “{other.label}” ({other.code}{retired}); labels are compared "
        "ignoring case, accents and spaces. Choose another label."
    )


def _clean_definition(*, label: str, type: str, choices: Any, help_text: str) -> tuple[str, str, list, str]:
    errors: dict[str, list[str]] = {}
    label = (label or "").strip()
    help_text = (help_text or "").strip()
    if not label:
        errors["label"] = ["Enter a label."]
    elif len(label) > LABEL_MAX:
        errors["label"] = [f"Use at most {LABEL_MAX} characters."]
    if len(help_text) > HELP_TEXT_MAX:
        errors["help_text"] = [f"Use at most {HELP_TEXT_MAX} characters."]
    if type not in FieldType.values:
        errors["type"] = [f"“{type}” is not a field type."]
    cleaned_choices: list[dict[str, str]] = []
    if type in CHOICE_TYPES:
        try:
            cleaned_choices = clean_choices(choices or [])
        except ValidationError as exc:
            errors["choices"] = exc.messages
        else:
            if not cleaned_choices:
                errors["choices"] = ["Add at least one choice."]
    if errors:
        raise ValidationError(errors)
    return label, type, cleaned_choices, help_text


# --- census of stored values -------------------------------------------------------------------------


@dataclass
class ValueCensus:
    """How the values stored under one code fare under a (proposed) field definition."""

    holding: int = 0  # contacts holding a non-empty value
    misfits: int = 0  # contacts whose value would not fit
    to_convert: int = 0  # contacts whose value fits but would be stored differently
    offenders: dict[str, int] = dataclass_field(default_factory=dict)  # offending value (as shown) → contacts
    other_offenders: int = 0  # distinct offending values not kept in `offenders` (past OFFENDERS_KEPT)
    convert_texts: set[str] | None = dataclass_field(default_factory=set)  # JSON texts to convert; None: many

    def examples(self, limit: int = EXAMPLES_SHOWN) -> list[tuple[str, int]]:
        """The most common offending values with their contact counts."""
        return heapq.nlargest(limit, self.offenders.items(), key=lambda item: (item[1], item[0]))


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return Truncator(text).chars(40)


def _stored_values(code: str) -> Iterator[tuple[str, Any, int]]:
    """(JSON text, value, contacts) for each distinct non-empty value stored under `code`, streamed."""
    rows = (
        Contact.objects.order_by()
        .annotate(v=JSONKeyText("custom", code))
        .filter(v__isnull=False)
        .values("v")
        .annotate(n=Count("pk"))
        .values_list("v", "n")
    )
    for text, count in rows.iterator(chunk_size=2000):
        value = json.loads(text)
        if not is_empty(value):
            yield text, value, count


def _offending_parts(*, value: Any, type: str, codes: list[str]) -> list[str]:
    """What to name for a value that does not fit: unknown choice codes for choice types, else the value."""
    if type == FieldType.MULTI_CHOICE and isinstance(value, list | str):
        items = value.split(",") if isinstance(value, str) else value
        if all(isinstance(v, str) for v in items):
            unknown = [_shown(v.strip()) for v in items if v.strip() and v.strip() not in codes]
            if unknown:
                return unknown
    return [_shown(value)]


def field_value_census(*, code: str, type: str, choices: Sequence[dict[str, str]]) -> ValueCensus:
    """Check every distinct value stored under `code` against a field definition (no writes)."""
    codes = [c["code"] for c in choices] if type in CHOICE_TYPES else []
    census = ValueCensus()
    for text, value, count in _stored_values(code):
        census.holding += count
        try:
            new = coerce_value(field_type=type, value=value, choices=codes)
        except ValidationError:
            census.misfits += count
            for part in _offending_parts(value=value, type=type, codes=codes):
                if part in census.offenders or len(census.offenders) < OFFENDERS_KEPT:
                    census.offenders[part] = census.offenders.get(part, 0) + count
                else:
                    census.other_offenders += 1
            continue
        if new is not None and _json_text(new) != _json_text(value):
            census.to_convert += count
            if census.convert_texts is not None:
                census.convert_texts.add(text)
                if len(census.convert_texts) > CONVERT_TARGETED_LIMIT:
                    census.convert_texts = None
    return census


def _contacts(n: int) -> str:
    return f"{intcomma(n)} contact{'s' if n != 1 else ''}"


# What a stored value failed to become, by target type ("… can't be converted to a number").
TYPE_TARGETS = {
    FieldType.TEXT: "text",
    FieldType.NUMBER: "a number",
    FieldType.DATE: "a date (YYYY-MM-DD)",
    FieldType.BOOLEAN: "yes / no",
    FieldType.EMAIL: "an email address",
    FieldType.URL: "a web address",
    FieldType.PHONE: "a phone number",
}


def refusal_message(*, census: ValueCensus, type: str, old_type: str | None) -> str:
    """The sentence explaining why stored values block a change, naming the offending values where few."""
    examples = census.examples()
    who = _contacts(census.misfits)
    hold = "holds" if census.misfits == 1 else "hold"
    if type not in CHOICE_TYPES:
        target = TYPE_TARGETS[FieldType(type)]
        one, many = f"which can't be converted to {target}", f"values that can't be converted to {target}"
    elif old_type is None:
        one, many = "which isn't among the choices", "values that aren't among the choices"
    elif old_type == type:
        one, many = "which the new list no longer has", "values the new list no longer has"
    else:
        one, many = "which doesn't fit the new choices", "values that don't fit the new choices"
    if old_type is None:  # a new field over values already stored under its code
        who, advice = f"{who} already", "choose another code or clear those values first"
    else:
        advice = "change or clear those values first"
    if len(census.offenders) == 1 and not census.other_offenders:
        ((value, _count),) = examples
        return f"{who} {hold} “{value}”, {one}; {advice}."
    named = ", ".join(f"“{value}” ({intcomma(count)})" for value, count in examples)
    more = len(census.offenders) + census.other_offenders - len(examples)
    if more > 0:
        named += f" and {intcomma(more)} other value{'s' if more != 1 else ''}"
    return f"{who} {hold} {many}: {named}; {advice}."


class FieldChangeRefused(ValidationError):
    """A field change refused because stored values would not fit; `census` says which and how many."""

    def __init__(self, message: str, *, census: ValueCensus, field_name: str = "type") -> None:
        super().__init__({field_name: [message]})
        self.census = census
        self.message_text = message


# --- selectors -----------------------------------------------------------------------------------------


def field_list(*, active: bool = True) -> QuerySet[ContactField]:
    """Custom fields in display order: the active ones, or (active=False) the retired ones."""
    return ContactField.objects.filter(is_active=active).order_by("order", "id")


def field_value_counts(*, fields: Iterable[ContactField]) -> dict[str, int]:
    """Code → how many contacts hold a non-empty value, for the given fields (one table scan)."""
    codes = [f.code for f in fields]
    if not codes:
        return {}
    aliases = {f"v{i}": JSONKeyText("custom", code) for i, code in enumerate(codes)}
    counts = (
        Contact.objects.order_by()
        .alias(**aliases)
        .aggregate(
            **{
                f"n{i}": Count("pk", filter=Q(**{f"v{i}__isnull": False}) & ~Q(**{f"v{i}__in": EMPTY_JSON_TEXTS}))
                for i in range(len(codes))
            }
        )
    )
    return {code: counts[f"n{i}"] or 0 for i, code in enumerate(codes)}


def field_choice_counts(*, field: ContactField) -> dict[str, int]:
    """Choice code → how many contacts hold it, for a choice or multi-choice field."""
    counts = dict.fromkeys(field.choice_codes, 0)
    for _text, value, count in _stored_values(field.code):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item in counts:
                counts[item] += count
    return counts


def contact_total() -> int:
    """How many contacts are stored (merged ones included)."""
    return Contact.objects.count()


# --- services ------------------------------------------------------------------------------------------


def _convert_values(*, code: str, type: str, choices: Sequence[dict[str, str]], census: ValueCensus) -> list[int]:
    """Rewrite every value stored under `code` that fits but differs from its canonical form; returns ids."""
    if census.to_convert == 0:
        return []
    codes = [c["code"] for c in choices] if type in CHOICE_TYPES else []
    converted: list[int] = []
    last_pk = 0
    while True:
        qs = Contact.objects.annotate(v=JSONKeyText("custom", code)).filter(pk__gt=last_pk, v__isnull=False)
        if census.convert_texts is not None:
            qs = qs.filter(v__in=sorted(census.convert_texts))
        rows = list(qs.order_by("pk").select_for_update().values_list("pk", "v")[:CONVERT_BATCH])
        if not rows:
            return converted
        last_pk = rows[-1][0]
        memo: dict[str, str | None] = {}
        updates: list[tuple[int, str]] = []
        for pk, text in rows:
            if text not in memo:
                value = json.loads(text)
                try:
                    new = coerce_value(field_type=type, value=value, choices=codes)
                except ValidationError:  # stored after the census: refuse rather than corrupt it
                    raise ValidationError(
                        {"type": ["Contacts changed while their values were being converted; please try again."]}
                    ) from None
                new_text = None if new is None else _json_text(new)
                memo[text] = new_text if new_text is not None and new_text != _json_text(value) else None
            new_text = memo[text]
            if new_text is not None:
                updates.append((pk, new_text))
        _write_key(code=code, values=updates)
        converted.extend(pk for pk, _new in updates)


@dataclass(frozen=True)
class FieldChange:
    """What a field_update did: the saved field, which attributes changed and how many values were converted."""

    field: ContactField
    changed: frozenset[str]
    converted: int
    without_value: int | None  # contacts with no value, when the field has just become required


def _next_order() -> int:
    return (ContactField.objects.filter(is_active=True).aggregate(m=Max("order"))["m"] or 0) + 1


@transaction.atomic
def field_create(
    *,
    label: str,
    code: str,
    type: str,
    choices: Sequence[dict[str, str]] | None = None,
    required: bool = False,
    help_text: str = "",
) -> ContactField:
    """Create an active custom field at the end of the order; ValidationError if invalid or values clash."""
    errors: dict[str, list[str]] = {}
    try:
        code = validate_code(code)
    except ValidationError as exc:
        errors["code"] = exc.messages
    try:
        label, type, cleaned_choices, help_text = _clean_definition(
            label=label, type=type, choices=choices, help_text=help_text
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    else:
        if message := label_clash(label=label):
            errors["label"] = [message]
    if errors:
        raise ValidationError(errors)
    # Values may already sit under this code (an import, a field deleted in the Django admin): they must fit.
    census = field_value_census(code=code, type=type, choices=cleaned_choices)
    if census.misfits:
        raise FieldChangeRefused(
            refusal_message(census=census, type=type, old_type=None), census=census, field_name="code"
        )
    field = ContactField(
        code=code,
        label=label,
        type=type,
        choices=cleaned_choices,
        required=bool(required),
        help_text=help_text,
        order=_next_order(),
        is_active=True,
    )
    try:
        with transaction.atomic():
            field.save()
    except IntegrityError:  # lost a race for the code or the label
        message = f"Another field already uses the code “{code}” or the label “{label}”."
        raise ValidationError({"code": [message]}) from None
    converted = _convert_values(code=code, type=type, choices=cleaned_choices, census=census)
    send_contacts_changed(contact_ids=converted, reason=ChangeReason.UPDATED)
    audit_record(action=AuditAction.FIELD_CREATED, obj=field, changes=audit_changes({}, field_facts(field)))
    return field


@transaction.atomic
def field_update(
    *,
    field: ContactField,
    label: str | None = None,
    type: str | None = None,
    choices: Sequence[dict[str, str]] | None = None,
    required: bool | None = None,
    help_text: str | None = None,
) -> FieldChange:
    """Change an active field's label, type, choices, required flag or help text (None keeps); code never changes."""
    current = ContactField.objects.select_for_update().get(pk=field.pk)
    if not current.is_active:
        raise ValidationError("This field is retired; restore it before editing it.")
    new_type = current.type if type is None else type
    if choices is None:
        choices = current.choices if new_type in CHOICE_TYPES else []
    new_label, new_type, new_choices, new_help = _clean_definition(
        label=current.label if label is None else label,
        type=new_type,
        choices=choices,
        help_text=current.help_text if help_text is None else help_text,
    )
    if message := label_clash(label=new_label, field=current):
        raise ValidationError({"label": [message]})
    new_required = current.required if required is None else bool(required)
    changes = {
        "label": new_label,
        "type": new_type,
        "choices": new_choices,
        "required": new_required,
        "help_text": new_help,
    }
    changed = frozenset(name for name, value in changes.items() if getattr(current, name) != value)
    converted: list[int] = []
    census = None
    if {"type", "choices"} & changed:
        census = field_value_census(code=current.code, type=new_type, choices=new_choices)
        if census.misfits:
            message = refusal_message(census=census, type=new_type, old_type=current.type)
            raise FieldChangeRefused(message, census=census, field_name="type" if "type" in changed else "choices")
    before = field_facts(current)
    for name, value in changes.items():
        setattr(current, name, value)
    if changed:
        current.save(update_fields=sorted(changed))
    if census is not None:
        converted = _convert_values(code=current.code, type=new_type, choices=new_choices, census=census)
        send_contacts_changed(contact_ids=converted, reason=ChangeReason.UPDATED)
    without_value = None
    if "required" in changed and new_required:
        without_value = contact_total() - field_value_counts(fields=[current])[current.code]
    if changed:
        facts: dict[str, Any] = audit_changes(before, field_facts(current))
        if converted:
            facts["values_converted"] = len(converted)
        audit_record(action=AuditAction.FIELD_UPDATED, obj=current, changes=facts)
    field.refresh_from_db()  # the caller's instance shows the new definition too
    return FieldChange(field=current, changed=changed, converted=len(converted), without_value=without_value)


@transaction.atomic
def field_reorder(*, field_ids: Sequence[int | str]) -> list[ContactField]:
    """Put active fields in the given order; active fields not listed keep their relative order after them."""
    ids: list[int] = []
    for raw in field_ids:
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            raise ValidationError(f"“{raw}” is not a field id.") from None
    if len(set(ids)) != len(ids):
        raise ValidationError("A field appears twice in the new order.")
    active = list(ContactField.objects.select_for_update().filter(is_active=True).order_by("order", "id"))
    by_id = {f.pk: f for f in active}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise ValidationError("The order names fields that are not active; reload the page and try again.")
    ordered = [by_id[i] for i in ids] + [f for f in active if f.pk not in set(ids)]
    for position, f in enumerate(ordered, start=1):
        f.order = position
    ContactField.objects.bulk_update(ordered, ["order"])
    if ordered != active:
        order = change([f.label for f in active], [f.label for f in ordered])
        audit_record(action=AuditAction.FIELD_REORDERED, label="Custom fields", changes={"order": order})
    return ordered


@transaction.atomic
def field_move(*, field: ContactField, offset: int) -> list[ContactField]:
    """Move an active field `offset` places up (negative) or down (positive) in the order."""
    active = list(ContactField.objects.select_for_update().filter(is_active=True).order_by("order", "id"))
    ids = [f.pk for f in active]
    if field.pk not in ids:
        raise ValidationError("Only active fields can be moved.")
    index = ids.index(field.pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    return field_reorder(field_ids=ids)


# Who uses a custom field, by code: (name, URL) pairs. Other apps register a finder (segments: the
# conditions of contact groups); contacts never imports them.
_FIELD_USER_FINDERS: list[Callable[[str], list[tuple[str, str]]]] = []


def register_field_users(finder: Callable[[str], list[tuple[str, str]]]) -> None:
    if finder not in _FIELD_USER_FINDERS:
        _FIELD_USER_FINDERS.append(finder)


def field_users(*, code: str) -> list[tuple[str, str]]:
    """What uses the custom field `code`, as (name, URL) pairs."""
    return [user for finder in _FIELD_USER_FINDERS for user in finder(code)]


@transaction.atomic
def field_retire(*, field: ContactField) -> ContactField:
    """Hide a field from forms, filters, lists and new rules; its stored values are kept.

    Refused (ValidationError) while something uses it, e.g. a contact group's condition: that condition
    would stop being valid and its group could no longer be rebuilt.
    """
    current = ContactField.objects.select_for_update().get(pk=field.pk)
    users = field_users(code=current.code)
    if current.is_active and users:
        raise ValidationError(
            f"“{current.label}” is used by {', '.join(name for name, _ in users)}; change those first.",
            code="in_use",
        )
    if current.is_active:
        current.is_active = False
        current.save(update_fields=["is_active"])
        audit_record(action=AuditAction.FIELD_RETIRED, obj=current, summary="hidden; its stored values are kept")
    field.is_active = current.is_active
    return current


@transaction.atomic
def field_restore(*, field: ContactField) -> ContactField:
    """Bring a retired field back, at the end of the order, with the values it kept."""
    current = ContactField.objects.select_for_update().get(pk=field.pk)
    if not current.is_active:
        current.order = _next_order()
        current.is_active = True
        current.save(update_fields=["is_active", "order"])
        audit_record(action=AuditAction.FIELD_RESTORED, obj=current)
    field.is_active, field.order = current.is_active, current.order
    return current
