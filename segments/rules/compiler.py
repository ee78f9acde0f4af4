# Invariant: every Q built here is two-valued — for every row of the model it filters (Contact, or
# Account / Activity inside a subquery) it is TRUE or FALSE, never SQL NULL — and a Contact-level Q
# reads only columns of the contact row itself plus correlated EXISTS / IN subqueries (no joins).
# Hence `~q` is exactly the complement of `q` (no three-valued-logic holes, no join promotion), which
# is what the complement law of DESIGN needs: matches(N) ∪ matches(not N) = all unmerged contacts.
"""Compile a parsed rule tree into a Django Q over Contact.

One registry (`OPERATORS`) maps each positive operator to one small function returning a Q; the
complement operators (not_equals, not_in, not_contains, contains_none, is_not_empty) are the exact
negation of their positive twin, so empty values match them. Where a value is read from (a contact
column, a key of Contact.custom, an account column, an activity column or a key of Activity.data) is
the business of a `Target`, whose primitives all return two-valued Qs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

from django.db.models import Count as CountAgg
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from contacts import custom_sql
from contacts.custom_sql import NumberLookup, TextLookup, casefold_q
from contacts.models import LAST_ACTIVITY_OR_NEVER, NEVER, Account, Activity, ActivityRise, ContactConsent
from segments.models import ContactGroup, Membership
from segments.rules.clock import Clock, day_range, shift
from segments.rules.nodes import (
    ANY_ACTIVITY,
    COMPLEMENT_OF,
    TEXT_LIKE,
    ActivityNode,
    Attribute,
    Between,
    Combinator,
    Condition,
    ConsentNode,
    ConsentOp,
    CountOp,
    FieldNode,
    GroupNode,
    LastDays,
    MembershipNode,
    MembershipOp,
    Node,
    Op,
    Scope,
    ValueType,
)
from segments.rules.rollup import rolled_up_q

# Never an empty Q(): Django drops it from an OR, turning "A or nothing" into "A or everything".
MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__isnull=True)


def exact_bound(lookup: NumberLookup, value: Decimal, scale: int) -> tuple[str, Decimal] | None:
    """Rewrite `column <lookup> value` for a column holding numbers with `scale` decimal places into
    an equivalent comparison with a bound of that scale; None when nothing can be equal.

    TRICKY: Django rounds a lookup value to the field's type (IntegerField: int(10.5) = 10), which would
    make `lead_score >= 10.5` match 10. Here `gt 10.5` becomes `gte 11` and `equals 10.5` matches none.
    """
    step = Decimal(1).scaleb(-scale)
    floor = value.quantize(step, rounding=ROUND_FLOOR)
    ceiling = value.quantize(step, rounding=ROUND_CEILING)
    match lookup:
        case "exact":
            return ("exact", floor) if floor == value else None
        case "gt":
            return "gte", floor + step
        case "gte":
            return "gte", ceiling
        case "lt":
            return "lte", ceiling - step
        case "lte":
            return "lte", floor
    raise ValueError(lookup)


class Target:
    """How to read one attribute of the model it lives on; every primitive returns a two-valued Q."""

    def __init__(self, attribute: Attribute) -> None:
        self.attribute = attribute

    def text(self, lookup: TextLookup, value: str | tuple[str, ...]) -> Q:
        raise NotImplementedError

    def number(self, lookup: NumberLookup, value: Decimal) -> Q:
        raise NotImplementedError

    def days(self, start: Any, end: Any, clock: Clock) -> Q:
        raise NotImplementedError

    def boolean(self, value: bool) -> Q:
        raise NotImplementedError

    def codes(self, codes: tuple[str, ...], *, every: bool) -> Q:
        raise NotImplementedError

    def ids(self, ids: tuple[int, ...]) -> Q:
        raise NotImplementedError

    def empty(self) -> Q:
        raise NotImplementedError


class ColumnTarget(Target):
    """A model column (Contact, Account or Activity)."""

    @property
    def column(self) -> str:
        return self.attribute.column

    def present(self, q: Q) -> Q:
        # TRICKY: `NULL = x` is NULL, not FALSE; "IS NOT NULL AND …" is FALSE for NULL, keeping q two-valued.
        if self.attribute.nullable:
            return Q(**{f"{self.column}__isnull": False}) & q
        return q

    def text(self, lookup: TextLookup, value: str | tuple[str, ...]) -> Q:
        if self.attribute.exact_codes and lookup in ("exact", "in"):
            # Canonical upper-case country codes against an indexed column: plain `=` / `IN`.
            rhs: Any = value if isinstance(value, str) else list(value)
            return self.present(Q(**{f"{self.column}__{lookup}": rhs}))
        return self.present(casefold_q(expression=F(self.column), lookup=lookup, value=value))

    def number(self, lookup: NumberLookup, value: Decimal) -> Q:
        scale = self.attribute.scale
        assert scale is not None
        bound = exact_bound(lookup, value, scale)
        if bound is None:
            return MATCH_NONE
        name, limit = bound
        rhs: Any = int(limit) if scale == 0 else limit
        return self.present(Q(**{f"{self.column}__{name}": rhs}))

    def days(self, start: Any, end: Any, clock: Clock) -> Q:
        q = MATCH_ALL
        low = clock.day_start(start)
        if low is not None:
            q &= Q(**{f"{self.column}__gte": low})
        high = clock.day_start(shift(end, 1)) if end is not None else None
        if high is not None:
            q &= Q(**{f"{self.column}__lt": high})
        return self.present(q)

    def ids(self, ids: tuple[int, ...]) -> Q:
        return self.present(Q(**{f"{self.column}__in": list(ids)}))

    def empty(self) -> Q:
        if self.attribute.type in TEXT_LIKE:
            blank = Q(**{self.column: ""})
            return Q(**{f"{self.column}__isnull": True}) | blank if self.attribute.nullable else blank
        return Q(**{f"{self.column}__isnull": True}) if self.attribute.nullable else MATCH_NONE


class JsonTarget(Target):
    """A key of a JSON column (Contact.custom, Activity.data), read according to the field's type.

    Every primitive is the shared condition of contacts.custom_sql, which the contact list's filters use
    too: a group and the list never disagree on what a custom value means.
    """

    def __init__(self, attribute: Attribute) -> None:
        super().__init__(attribute)
        assert attribute.key is not None
        self.key = attribute.key

    def text(self, lookup: TextLookup, value: str | tuple[str, ...]) -> Q:
        # Two-valued as is: JsonText is never NULL ('' when empty) and rule texts are never "".
        return custom_sql.json_text_q(column=self.attribute.column, key=self.key, lookup=lookup, value=value)

    def number(self, lookup: NumberLookup, value: Decimal) -> Q:
        return custom_sql.json_number_q(column=self.attribute.column, key=self.key, lookup=lookup, value=value)

    def days(self, start: Any, end: Any, clock: Clock) -> Q:
        return custom_sql.json_days_q(column=self.attribute.column, key=self.key, start=start, end=end)

    def boolean(self, value: bool) -> Q:
        return custom_sql.json_boolean_q(column=self.attribute.column, key=self.key, value=value)

    def codes(self, codes: tuple[str, ...], *, every: bool) -> Q:
        return custom_sql.json_codes_q(column=self.attribute.column, key=self.key, codes=codes, every=every)

    def empty(self) -> Q:
        return custom_sql.json_empty_q(column=self.attribute.column, key=self.key)


def target_for(attribute: Attribute) -> Target:
    return JsonTarget(attribute) if attribute.key is not None else ColumnTarget(attribute)


# ---------------------------------------------------------------------------------------------
# The operator registry: positive operator → one small function returning a two-valued Q.

OpFunction = Callable[[Target, Op, Any, Clock], Q]
OPERATORS: dict[Op, OpFunction] = {}


def _operator(*ops: Op) -> Callable[[OpFunction], OpFunction]:
    def register(function: OpFunction) -> OpFunction:
        for op in ops:
            OPERATORS[op] = function
        return function

    return register


@_operator(Op.EQUALS)
def _equals(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    if target.attribute.type == ValueType.NUMBER:
        return target.number("exact", value)
    if target.attribute.type == ValueType.CAMPAIGN:
        return target.ids((value,))
    return target.text("exact", value)


@_operator(Op.IN)
def _in(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    if target.attribute.type == ValueType.CAMPAIGN:
        return target.ids(value)
    return target.text("in", value)


@_operator(Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH)
def _pattern(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    lookups: dict[Op, TextLookup] = {Op.CONTAINS: "contains", Op.STARTS_WITH: "startswith", Op.ENDS_WITH: "endswith"}
    return target.text(lookups[op], value)


@_operator(Op.LT, Op.LTE, Op.GT, Op.GTE)
def _compare(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    lookups: dict[Op, NumberLookup] = {Op.LT: "lt", Op.LTE: "lte", Op.GT: "gt", Op.GTE: "gte"}
    return target.number(lookups[op], value)


@_operator(Op.BETWEEN)
def _between(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    if target.attribute.type == ValueType.DATE:
        return _dates(target, op, value, clock)
    low, high = value
    return target.number("gte", low) & target.number("lte", high)


@_operator(Op.ON, Op.BEFORE, Op.AFTER, Op.IN_LAST_DAYS, Op.MORE_THAN_DAYS_AGO, Op.IN_NEXT_DAYS)
def _dates(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    days = day_range(op, value, clock.today)
    if days is None:
        return MATCH_NONE
    return target.days(days[0], days[1], clock)


@_operator(Op.IS_TRUE, Op.IS_FALSE)
def _boolean(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    return target.boolean(op == Op.IS_TRUE)


@_operator(Op.CONTAINS_ANY, Op.CONTAINS_ALL)
def _codes(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    return target.codes(value, every=op == Op.CONTAINS_ALL)


@_operator(Op.IS_EMPTY)
def _empty(target: Target, op: Op, value: Any, clock: Clock) -> Q:
    return target.empty()


def _on_account(q: Q, *, matches_empty: bool) -> Q:
    """Lift a Q over Account to contacts; a contact without an account has every account field empty."""
    has = Q(Exists(Account.objects.filter(pk=OuterRef("account_id")).filter(q)))
    return has | Q(account__isnull=True) if matches_empty else has


def condition_q(condition: Condition, clock: Clock) -> Q:
    """The Q (over the model holding the attribute, or Contact for account fields) of one comparison."""
    positive = COMPLEMENT_OF.get(condition.operator, condition.operator)
    q = OPERATORS[positive](target_for(condition.attribute), positive, condition.value, clock)
    if condition.attribute.scope == Scope.ACCOUNT:
        q = _on_account(q, matches_empty=positive == Op.IS_EMPTY)
    return ~q if positive != condition.operator else q


# ---------------------------------------------------------------------------------------------
# Nodes.


def node_q(node: Node, clock: Clock, *, few: bool = False) -> Q:
    """The two-valued Q over Contact of one node, its `negate` included (merged contacts not excluded).

    `few`: the query will be limited to a handful of contacts (a re-check, an explanation), so count
    conditions are correlated per contact instead of one grouped pass over all matching activities.
    """
    match node:
        case GroupNode():
            join = operator.and_ if node.combinator == Combinator.AND else operator.or_
            q = functools.reduce(join, (node_q(child, clock, few=few) for child in node.children))
        case FieldNode():
            q = condition_q(node.condition, clock)
        case ActivityNode():
            return activity_q(node, clock, few=few)
        case MembershipNode():
            # TRICKY: the group's id as a one-row sub-select (run once), not a join on its code:
            # then the membership lookup is one probe of the (group, contact) index, whatever the
            # plan — a generic plan (re-checks' prepared statements) joined every group by code.
            group_id = Subquery(ContactGroup.objects.filter(code=node.group).values("pk")[:1])
            q = Q(Exists(Membership.objects.filter(contact=OuterRef("pk"), group_id=group_id)))
            if node.operator == MembershipOp.IS_NOT_MEMBER:
                q = ~q
        case ConsentNode():
            agreed = ContactConsent.objects.filter(
                contact=OuterRef("pk"), consent__code=node.consent, revoked_at__isnull=True
            )
            q = Q(Exists(agreed))
            if node.operator == ConsentOp.NOT_AGREED:
                q = ~q
    return ~q if node.negate else q


def activity_rows(node: ActivityNode, clock: Clock) -> QuerySet[Activity]:
    """The activities an activity node counts: its type, `where` and window; never future ones."""
    rows = Activity.objects.filter(occurred_at__lte=clock.now)
    if node.activity != ANY_ACTIVITY:
        rows = rows.filter(type=node.activity)
    if isinstance(node.window, LastDays):
        since = clock.window_start(node.window.days)
        if since is not None:
            rows = rows.filter(occurred_at__gt=since)
    elif isinstance(node.window, Between):
        start = clock.day_start(node.window.start)
        if start is not None:
            rows = rows.filter(occurred_at__gte=start)
        end_day = shift(node.window.end, 1)
        end = clock.day_start(end_day) if end_day is not None else None
        if end is not None:
            rows = rows.filter(occurred_at__lt=end)
    for condition in node.where:
        rows = rows.filter(condition_q(condition, clock))
    return rows.order_by()


def normalized_count(node: ActivityNode) -> tuple[Literal["at_least", "exactly", "all"], int, bool]:
    """(kind, k, complement): the count condition as "at least k" / "exactly k" / "always", possibly negated.

    Conditions that hold for 0 activities (eq 0, lt k, lte k) are complements of "at least k", so they
    compile to NOT EXISTS / NOT IN of the contacts that did it — the set of contacts with no rows at all
    comes out right without ever counting them.
    """
    op, k = node.count.operator, node.count.value
    match op:
        case CountOp.GTE:
            return ("all", 0, False) if k <= 0 else ("at_least", k, False)
        case CountOp.GT:
            return "at_least", k + 1, False
        case CountOp.EQ:
            return ("at_least", 1, True) if k == 0 else ("exactly", k, False)
        case CountOp.LTE:
            return "at_least", k + 1, True
        case CountOp.LT:
            return ("all", 0, True) if k <= 0 else ("at_least", k, True)
    raise ValueError(op)


def activity_q(node: ActivityNode, clock: Clock, *, few: bool = False) -> Q:
    kind, k, complement = normalized_count(node)
    want_complement = complement != node.negate
    if kind == "all":
        return MATCH_NONE if want_complement else MATCH_ALL
    # For a few contacts the per-contact EXISTS below is an index lookup already; the fast form would
    # only add its probe for future activities.
    if kind == "at_least" and k == 1 and not few:
        fast = last_activity_forms(node, clock)
        if fast is not None:
            did, did_not = fast
            return did_not if want_complement else did
    rows = activity_rows(node, clock)
    if not few:
        # The whole days of the window from the daily roll-up, its two partial days from `rows`: exact.
        url_filter = functools.reduce(operator.and_, (condition_q(c, clock) for c in node.where), MATCH_ALL)
        rolled = rolled_up_q(node, clock, raw=rows, url_filter=url_filter, kind=kind, k=k)
        if rolled is not None:
            return ~rolled if want_complement else rolled
    having = {"n__gte": k} if kind == "at_least" else {"n": k}
    if kind == "at_least" and k == 1:
        q = Q(Exists(rows.filter(contact=OuterRef("pk"))))
    elif few:
        # TRICKY: for a few contacts the grouped IN below would still count every matching activity of
        # every contact (seconds on 10M rows); correlated, each contact's count is an index range scan.
        own = rows.filter(contact=OuterRef("pk")).values("contact").annotate(n=CountAgg("pk")).filter(**having)
        q = Q(Exists(own))
    else:
        # A grouped IN (SELECT contact_id … GROUP BY contact_id HAVING count(*) >= k): one pass over the
        # matching activities, not a correlated count per contact.
        counted = rows.values("contact").annotate(n=CountAgg("pk")).filter(**having).values("contact")
        q = Q(pk__in=counted)
    return ~q if want_complement else q


def last_activity_forms(node: ActivityNode, clock: Clock) -> tuple[Q, Q] | None:
    """For "did any activity (in the last N days / ever)": (did, did not) read from the newest activity time.

    Precondition: newest = the later of Contact.last_activity_at and the contact's ActivityRise.at = the newest
    occurred_at of its activities (contacts.services.last_activity; it may lie in the future). Then with the
    window (now − N×24 h, now]: did not ⇔ newest IS NULL OR newest ≤ now − N OR (newest > now AND NOT EXISTS
    an activity in the window), and "did" is its exact complement.
    """
    if node.activity != ANY_ACTIVITY or node.where or isinstance(node.window, Between):
        return None
    since = clock.window_start(node.window.days) if isinstance(node.window, LastDays) else None
    now = clock.now
    # TRICKY: the future branch forces PostgreSQL to visit every contact (an OR across the index). When no
    # activity is dated after `now` — one probe of the occurred_at index — it cannot match, and "did not"
    # becomes one range of contact_inactive_idx (coalesce(last_activity_at, NEVER), unmerged contacts
    # only, answered from the index alone) minus the contacts whose rise is later (an anti-join with the
    # narrow ActivityRise table, which holds only the rises not folded yet).
    if not Activity.objects.filter(occurred_at__gt=now).exists():
        rises = ActivityRise.objects.filter(contact=OuterRef("pk"))
        if since is None:
            did_not = Q(last_activity_at__isnull=True) & ~Q(Exists(rises))
        else:
            did_not = Q(LessThanOrEqual(LAST_ACTIVITY_OR_NEVER, since)) & ~Q(Exists(rises.filter(at__gt=since)))
        return ~did_not, did_not
    # The newest time, NEVER for none (never NULL, so "did not" is the plain negation of "did").
    rise = Subquery(ActivityRise.objects.filter(contact=OuterRef("pk")).values("at")[:1])
    newest = Greatest(LAST_ACTIVITY_OR_NEVER, Coalesce(rise, Value(NEVER)))
    recent = Q(Exists(activity_rows(node, clock).filter(contact=OuterRef("pk"))))
    did = Q(GreaterThan(newest, NEVER if since is None else since)) & (Q(LessThanOrEqual(newest, now)) | recent)
    return did, ~did


def rule_q(root: Node, clock: Clock, *, few: bool = False) -> Q:
    """The Q over Contact for a whole tree (without the unmerged filter, which the callers add)."""
    return node_q(root, clock, few=few)
