"""Strict parsing of "Rule tree format, version 1" (DESIGN) into typed nodes.

Invariant: `parse` raises nothing but RuleError, whatever Python value it is given (hypothesis-tested),
and every RuleError names the path of the offending part. Unknown keys are errors, never dropped.
Limits: depth ≤ 10 (the root counts as 1), ≤ 500 nodes, texts ≤ 1000 characters, lists ≤ 1000 items.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from segments.rules.catalog import (
    ACTIVITY_FIELDS,
    ACTIVITY_TYPES,
    DATA_KEY_RE,
    Catalog,
    collect_references,
    custom_attribute,
    data_attribute,
)
from segments.rules.errors import CycleError, RuleError
from segments.rules.nodes import (
    ANY_ACTIVITY,
    OPERATORS_BY_TYPE,
    TEXT_LIKE,
    ActivityNode,
    Attribute,
    Between,
    Combinator,
    Condition,
    ConsentNode,
    ConsentOp,
    Count,
    CountOp,
    FieldNode,
    GroupNode,
    LastDays,
    MembershipNode,
    MembershipOp,
    Node,
    Op,
    ValueType,
    Window,
    node_json,
)

MAX_DEPTH = 10
MAX_NODES = 500
MAX_TEXT = 1000
MAX_LIST = 1000
MAX_WHERE = 50
MAX_DAYS = 36525  # a hundred years
MAX_COUNT = 1_000_000
MAX_NUMBER = Decimal(10) ** 15
NO_VALUE_OPS = frozenset({Op.IS_EMPTY, Op.IS_NOT_EMPTY, Op.IS_TRUE, Op.IS_FALSE})
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """A parsed, valid rule tree. `catalog` carries the names `describe` needs (not part of equality)."""

    root: Node
    catalog: Catalog = field(compare=False, repr=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "root": node_json(self.root)}


def parse(tree: Any, *, group: Any = None) -> Rule:
    """Parse and validate a rule tree (a dict from JSON); `group` (a ContactGroup or its code) owns it."""
    if isinstance(tree, Rule):
        rule = tree
    else:
        catalog = Catalog(collect_references(tree))
        parser = _Parser(catalog)
        rule = Rule(root=parser.document(tree), catalog=catalog)
    if group is not None:
        owner = group if isinstance(group, str) else getattr(group, "code", None)
        if isinstance(owner, str) and owner:
            check_cycles(rule, owner=owner)
    return rule


# ---------------------------------------------------------------------------------------------
# Small checkers: each returns the canonical value or raises RuleError at `path`.


def _join(path: str, key: Any) -> str:
    key_text = _printable(_short(key))[:60]
    return f"{path}.{key_text}" if path else key_text


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _short(value: Any) -> str:
    # Never repr() a container: a deeply nested one would raise RecursionError.
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return repr(value)[:80]
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _quote(value: Any) -> str:
    text = _printable(_short(value))
    return f"“{text[:60]}…”" if len(text) > 60 else f"“{text}”"


def _object(raw: Any, path: str, what: str = "an object") -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RuleError(path, f"expected {what}")
    return raw


def _keys(obj: dict[str, Any], path: str, allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    allowed = tuple(allowed)
    for key in obj:
        if key not in allowed:
            raise RuleError(_join(path, key), f"unknown key (allowed here: {', '.join(allowed)})")
    for key in required:
        if key not in obj:
            raise RuleError(_join(path, key), "missing")


def _bool(raw: Any, path: str) -> bool:
    if not isinstance(raw, bool):
        raise RuleError(path, "expected true or false")
    return raw


def _int(raw: Any, path: str, low: int, high: int, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise RuleError(path, f"expected {what}")
    return raw


def _text(raw: Any, path: str) -> str:
    if not isinstance(raw, str):
        raise RuleError(path, "expected text")
    if raw == "":
        raise RuleError(path, "expected a non-empty text (use is_empty to find empty values)")
    if len(raw) > MAX_TEXT:
        raise RuleError(path, f"the text is too long (at most {MAX_TEXT} characters)")
    if "\x00" in raw:
        raise RuleError(path, "the text contains a NUL character")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise RuleError(path, "the text is not valid Unicode") from None
    return raw


def _number(raw: Any, path: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RuleError(path, "expected a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise RuleError(path, "expected a number")
    if isinstance(raw, int) and abs(raw) > MAX_NUMBER:
        raise RuleError(path, "the number is too large (at most 10^15)")
    number = Decimal(raw) if isinstance(raw, int) else Decimal(repr(raw))
    if abs(number) > MAX_NUMBER:
        raise RuleError(path, "the number is too large (at most 10^15)")
    return number


def _date(raw: Any, path: str) -> dt.date:
    if isinstance(raw, str) and DATE_RE.fullmatch(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise RuleError(path, "expected a date as YYYY-MM-DD")


def _days(raw: Any, path: str) -> int:
    return _int(raw, path, 0, MAX_DAYS, f"a whole number of days from 0 to {MAX_DAYS}")


def _list(raw: Any, path: str, item: Callable[[Any, str], T]) -> tuple[T, ...]:
    if not isinstance(raw, list):
        raise RuleError(path, "expected a list")
    if not raw:
        raise RuleError(path, "expected at least one value")
    if len(raw) > MAX_LIST:
        raise RuleError(path, f"too many values (at most {MAX_LIST})")
    values = [item(v, f"{path}[{i}]") for i, v in enumerate(raw)]
    return tuple(dict.fromkeys(values))  # without duplicates, in the given order


def _pair(raw: Any, path: str, item: Callable[[Any, str], Any], what: str) -> tuple[Any, Any]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise RuleError(path, f"expected two {what} [from, to]")
    low, high = item(raw[0], f"{path}[0]"), item(raw[1], f"{path}[1]")
    if low > high:
        raise RuleError(path, "the first value must not be greater than the second")
    return low, high


def _enum(raw: Any, path: str, enum: type[T], what: str) -> T:
    try:
        return enum(raw)  # type: ignore[call-arg]
    except (ValueError, TypeError):
        allowed = ", ".join(str(m) for m in enum)  # type: ignore[attr-defined]
        raise RuleError(path, f"unknown {what} {_quote(raw)} (expected one of: {allowed})") from None


# ---------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.nodes = 0

    def document(self, raw: Any) -> Node:
        obj = _object(raw, "tree", 'a JSON object like {"version": 1, "root": {...}}')
        _keys(obj, "", ("version", "root"), required=("version", "root"))
        if isinstance(obj["version"], bool) or obj["version"] != 1 or not isinstance(obj["version"], int):
            raise RuleError("version", f"unsupported version {_quote(obj['version'])} (expected 1)")
        return self.node(obj["root"], "root", depth=1)

    def node(self, raw: Any, path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise RuleError(path, f"conditions are nested too deeply (at most {MAX_DEPTH} levels)")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RuleError(path, f"the rule has too many conditions (at most {MAX_NODES})")
        obj = _object(raw, path, "a condition (an object with a type)")
        if "type" not in obj:
            raise RuleError(_join(path, "type"), "missing (group, field, activity, membership or consent)")
        kind = obj["type"]
        if kind == "group":
            return self.group(obj, path, depth)
        if kind == "field":
            return self.field_node(obj, path)
        if kind == "activity":
            return self.activity(obj, path)
        if kind == "membership":
            return self.membership(obj, path)
        if kind == "consent":
            return self.consent(obj, path)
        raise RuleError(
            _join(path, "type"),
            f"unknown condition type {_quote(kind)} (expected group, field, activity, membership or consent)",
        )

    def negate(self, obj: dict[str, Any], path: str) -> bool:
        return _bool(obj.get("negate", False), _join(path, "negate"))

    def group(self, obj: dict[str, Any], path: str, depth: int) -> GroupNode:
        _keys(obj, path, ("type", "combinator", "negate", "children"), required=("combinator", "children"))
        combinator = _enum(obj["combinator"], _join(path, "combinator"), Combinator, "combinator")
        negate = self.negate(obj, path)
        raw_children = obj["children"]
        if not isinstance(raw_children, list):
            raise RuleError(_join(path, "children"), "expected a list of conditions")
        if not raw_children:
            raise RuleError(_join(path, "children"), "a group needs at least one condition")
        children = tuple(self.node(c, f"{path}.children[{i}]", depth + 1) for i, c in enumerate(raw_children))
        return GroupNode(path=path, combinator=combinator, children=children, negate=negate)

    def field_node(self, obj: dict[str, Any], path: str) -> FieldNode:
        _keys(obj, path, ("type", "field", "operator", "value", "negate"), required=("field", "operator"))
        negate = self.negate(obj, path)
        attribute = self.contact_attribute(obj["field"], _join(path, "field"))
        return FieldNode(path=path, condition=self.condition(obj, path, attribute), negate=negate)

    def contact_attribute(self, raw: Any, path: str) -> Attribute:
        if not isinstance(raw, str):
            raise RuleError(path, "expected a field name")
        builtin = self.catalog.contact_fields.get(raw)
        if builtin is not None:
            return builtin
        if raw.startswith("custom."):
            code = raw.removeprefix("custom.")
            custom = self.catalog.custom_field(code)
            if custom is None:
                raise RuleError(path, f"there is no custom field with code {_quote(code)}")
            if not custom.is_active:
                raise RuleError(path, f"the custom field {_quote(custom.label)} is retired and cannot be used in rules")
            try:
                return custom_attribute(custom)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise RuleError(path, f"the custom field {_quote(custom.label)} is misconfigured") from None
        if raw.startswith("account."):
            names = ", ".join(n for n in self.catalog.contact_fields if n.startswith("account."))
            raise RuleError(path, f"unknown account field {_quote(raw)} (expected one of: {names})")
        names = ", ".join(n for n in self.catalog.contact_fields if "." not in n)
        raise RuleError(path, f"unknown field {_quote(raw)} (expected one of: {names}, custom.<code>, account.<name>)")

    def activity_attribute(self, raw: Any, path: str) -> Attribute:
        if not isinstance(raw, str):
            raise RuleError(path, "expected a field name")
        if raw in ACTIVITY_FIELDS:
            return ACTIVITY_FIELDS[raw]
        if raw.startswith("data."):
            key = raw.removeprefix("data.")
            if not DATA_KEY_RE.fullmatch(key):
                raise RuleError(path, "a data key has 1–64 letters, digits, “_” or “-”")
            return data_attribute(key)
        raise RuleError(
            path, f"unknown activity field {_quote(raw)} (expected url, title, campaign, value or data.<key>)"
        )

    def condition(self, obj: dict[str, Any], path: str, attribute: Attribute) -> Condition:
        allowed = OPERATORS_BY_TYPE[attribute.type]
        op_path = _join(path, "operator")
        raw_op = obj["operator"]
        if not isinstance(raw_op, str) or raw_op not in {str(o) for o in allowed}:
            kind = "text" if attribute.type in TEXT_LIKE else str(attribute.type).replace("_", "-")
            raise RuleError(
                op_path,
                f"unknown operator {_quote(raw_op)} for a {kind} field (expected one of: "
                f"{', '.join(str(o) for o in allowed)})",
            )
        op = Op(raw_op)
        value_path = _join(path, "value")
        raw = obj.get("value")
        if op in NO_VALUE_OPS:
            if raw is not None:
                raise RuleError(value_path, f"{op} takes no value")
            return Condition(path=path, attribute=attribute, operator=op)
        if "value" not in obj or raw is None:
            raise RuleError(value_path, f"missing: {op} needs a value")
        return Condition(path=path, attribute=attribute, operator=op, value=self.value(attribute, op, raw, value_path))

    def value(self, attribute: Attribute, op: Op, raw: Any, path: str) -> Any:
        kind = attribute.type
        if kind == ValueType.CAMPAIGN:
            if op in (Op.IN, Op.NOT_IN):
                return _list(raw, path, _campaign)
            return _campaign(raw, path)
        if kind in TEXT_LIKE:
            single = self.choice_checker(attribute) if kind == ValueType.CHOICE else _text
            if op in (Op.IN, Op.NOT_IN):
                return _list(raw, path, single)
            if op in (Op.EQUALS, Op.NOT_EQUALS):
                return single(raw, path)
            return _text(raw, path)
        if kind == ValueType.NUMBER:
            if op == Op.BETWEEN:
                return _pair(raw, path, _number, "numbers")
            return _number(raw, path)
        if kind == ValueType.DATE:
            if op == Op.BETWEEN:
                return _pair(raw, path, _date, "dates")
            if op in (Op.ON, Op.BEFORE, Op.AFTER):
                return _date(raw, path)
            return _days(raw, path)
        if kind == ValueType.MULTI_CHOICE:
            return _list(raw, path, self.multi_checker(attribute))
        raise RuleError(path, f"{op} takes no value")  # pragma: no cover - every type is handled above

    @staticmethod
    def choice_checker(attribute: Attribute) -> Callable[[Any, str], str]:
        by_lower = {code.lower(): code for code, _ in attribute.choices}

        def check(raw: Any, path: str) -> str:
            text = _text(raw, path)
            code = by_lower.get(text.lower())
            if code is None:
                if attribute.exact_codes:
                    raise RuleError(path, f"{_quote(text)} is not a country code (two letters, e.g. CZ)")
                codes = ", ".join(c for c, _ in attribute.choices) or "none defined"
                raise RuleError(path, f"{_quote(text)} is not one of the choices of {attribute.label} ({codes})")
            return code

        return check

    @staticmethod
    def multi_checker(attribute: Attribute) -> Callable[[Any, str], str]:
        codes = {code for code, _ in attribute.choices}

        def check(raw: Any, path: str) -> str:
            text = _text(raw, path)
            if text not in codes:  # multi-choice codes compare exactly (DESIGN)
                listed = ", ".join(c for c, _ in attribute.choices) or "none defined"
                raise RuleError(path, f"{_quote(text)} is not one of the choices of {attribute.label} ({listed})")
            return text

        return check

    def activity(self, obj: dict[str, Any], path: str) -> ActivityNode:
        _keys(obj, path, ("type", "activity", "where", "count", "window", "negate"), required=("activity",))
        negate = self.negate(obj, path)
        activity = obj["activity"]
        if activity != ANY_ACTIVITY and (not isinstance(activity, str) or activity not in ACTIVITY_TYPES):
            raise RuleError(
                _join(path, "activity"),
                f"unknown activity type {_quote(activity)} (expected any, {', '.join(ACTIVITY_TYPES)})",
            )
        where: list[Condition] = []
        if "where" in obj:
            raw_where = obj["where"]
            where_path = _join(path, "where")
            if not isinstance(raw_where, list):
                raise RuleError(where_path, "expected a list of conditions")
            if len(raw_where) > MAX_WHERE:
                raise RuleError(where_path, f"too many conditions (at most {MAX_WHERE})")
            for i, raw in enumerate(raw_where):
                item_path = f"{where_path}[{i}]"
                item = _object(raw, item_path, "a condition on the activity (field, operator, value)")
                _keys(item, item_path, ("field", "operator", "value"), required=("field", "operator"))
                attribute = self.activity_attribute(item["field"], _join(item_path, "field"))
                where.append(self.condition(item, item_path, attribute))
        count = Count()
        if "count" in obj:
            count = self.count(obj["count"], _join(path, "count"))
        window = self.window(obj["window"], _join(path, "window")) if "window" in obj else None
        return ActivityNode(path=path, activity=activity, where=tuple(where), count=count, window=window, negate=negate)

    @staticmethod
    def count(raw: Any, path: str) -> Count:
        obj = _object(raw, path, 'an object like {"operator": "gte", "value": 3}')
        _keys(obj, path, ("operator", "value"), required=("operator", "value"))
        operator = _enum(obj["operator"], _join(path, "operator"), CountOp, "count operator")
        value = _int(obj["value"], _join(path, "value"), 0, MAX_COUNT, f"a whole number from 0 to {MAX_COUNT}")
        return Count(operator=operator, value=value)

    @staticmethod
    def window(raw: Any, path: str) -> Window:
        obj = _object(raw, path, 'an object like {"last_days": 30} or {"between": ["2026-01-01", "2026-03-31"]}')
        _keys(obj, path, ("last_days", "between"))
        if len(obj) != 1:
            raise RuleError(path, 'expected exactly one of "last_days" or "between"')
        if "last_days" in obj:
            return LastDays(days=_days(obj["last_days"], _join(path, "last_days")))  # 0: today, as in_last_days 0
        start, end = _pair(obj["between"], _join(path, "between"), _date, "dates")
        return Between(start=start, end=end)

    def membership(self, obj: dict[str, Any], path: str) -> MembershipNode:
        code, operator, negate = self.coded(obj, path, "group", self.catalog.group, MembershipOp)
        return MembershipNode(path=path, group=code, operator=operator, negate=negate)

    def consent(self, obj: dict[str, Any], path: str) -> ConsentNode:
        code, operator, negate = self.coded(obj, path, "consent", self.catalog.consent_name, ConsentOp)
        return ConsentNode(path=path, consent=code, operator=operator, negate=negate)

    def coded(
        self, obj: dict[str, Any], path: str, key: str, lookup: Callable[[str], Any], operators: type[T]
    ) -> tuple[str, T, bool]:
        """A node naming something by code (a group, a consent): its code, operator and negation."""
        _keys(obj, path, ("type", key, "operator", "negate"), required=(key, "operator"))
        negate = self.negate(obj, path)
        code = _known_code(obj, path, key, lookup)
        return code, _enum(obj["operator"], _join(path, "operator"), operators, "operator"), negate


def _campaign(raw: Any, path: str) -> int:
    return _int(raw, path, 1, 2**63 - 1, "a campaign id (a positive whole number)")


# ---------------------------------------------------------------------------------------------
# Membership cycles.


def stored_references(condition: Any) -> set[str]:
    """Group codes a stored condition refers to (lenient: a broken condition refers to what it names)."""
    from segments.rules.analysis import referenced_groups

    return referenced_groups(condition)


def check_cycles(rule: Rule, *, owner: str) -> None:
    """Raise CycleError if a membership node of `rule`, owned by group `owner`, closes a cycle.

    The message names the groups by name, as the marketer knows them.
    """
    from segments.rules.nodes import walk

    def name(code: str) -> str:
        row = rule.catalog.group(code)
        return _quote(row[0] if row and row[0] else code)

    for node in walk(rule.root):
        if not isinstance(node, MembershipNode):
            continue
        path = _join(node.path, "group")
        if node.group == owner:
            raise CycleError(path, f"{name(node.group)} is this group: a group's condition cannot use the group itself")
        chain = _path_to(node.group, owner, rule.catalog)
        if chain:
            through = f" (through {' → '.join(name(code) for code in chain[1:-1])})" if len(chain) > 2 else ""
            raise CycleError(
                path, f"{name(node.group)} already uses this group{through}, so it cannot use {name(node.group)}"
            )


def _known_code(obj: dict[str, Any], path: str, key: str, lookup: Callable[[str], Any]) -> str:
    """`obj[key]`: the code of a `key` (group, consent) that `lookup` knows (None means unknown)."""
    code = obj[key]
    if not isinstance(code, str):
        raise RuleError(_join(path, key), f"expected a {key} code")
    if lookup(code) is None:
        raise RuleError(_join(path, key), f"there is no {key} with code {_quote(code)}")
    return code


def _path_to(start: str, target: str, catalog: Catalog) -> list[str] | None:
    """The chain of group codes from `start` to `target` through stored conditions, or None."""
    from segments.graph import reference_path

    def refs_of(codes: list[str]) -> dict[str, set[str]]:
        rows = catalog.load_groups(codes)
        return {
            code: stored_references(condition)
            for code, (_name, based, condition) in rows.items()
            if based and condition
        }

    return reference_path(start=start, target=target, refs_of=refs_of)
