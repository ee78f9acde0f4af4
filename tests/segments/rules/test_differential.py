"""Differential tests: hypothesis draws small random databases (contacts with empty and non-empty values
of every type, accounts, activities including future ones, consents, memberships, merged contacts) and
random valid trees; `matching_contacts` must equal the independent Python oracle, the complement law
must hold and `explain` must agree. Random *invalid* trees must raise RuleError and nothing else."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Account, Activity, Consent, Contact, ContactConsent
from contacts.services import contacts_refresh_last_activity
from segments.models import ContactGroup, Membership
from segments.rules import RuleError, explain, matching_contacts, parse, validate
from segments.rules.batch import VerdictQuery
from segments.rules.clock import Clock
from tests.factories import CampaignFactory, ConsentFactory, ContactGroupFactory
from tests.segments.rules import oracle
from tests.segments.rules.conftest import TZ, local

pytestmark = pytest.mark.django_db

HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Evaluation moments: an ordinary noon, just after midnight on a daylight-saving day, late on the
# 25-hour day, the first second of a year.
NOWS = [local(2026, 3, 15, 12, 0), local(2026, 3, 29, 0, 30), local(2026, 10, 25, 23, 45), local(2026, 1, 1, 0, 0, 1)]
MISSING = object()

TEXTS = ["", "Žofie", "žofie", "Adam", "ADAM", "Praha", "praha", "a_b", "x%y", "Čedok"]
TEXT_NEEDLES = ["ž", "Ž", "OF", "ad", "praha", "_", "%", "a", "x%", "čED", "e"]
CUSTOM_VALUES: dict[str, list[Any]] = {
    "nickname": [MISSING, None, "", "Praha", "PRAHA", "Žluť", "žLUŤ", "a_b", "a%b", 5],
    "work_email": [MISSING, None, "", "Z@Acme.cz", "a@b.sk"],
    "site": [MISSING, "", "https://acme.cz/Pricing", "https://b.sk"],
    "mobile": [MISSING, "", "+420 777", "+421 900"],
    "score": [MISSING, None, "", 0, 9, 10, 10.5, -3, 49.99, 50, "12", True],
    "opted_in": [MISSING, None, "", True, False, "yes", 1],
    "plan": [MISSING, None, "", "pro", "PRO", "free", "enterprise", 3],
    "interests": [MISSING, None, [], ["a"], ["a", "b"], ["c"], ["b", "c"], "a", ["a", 1], {"a": 1}],
}
FIELD_TYPES = {
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "phone": "text",
    "country": "country",
    "city": "text",
    "job_title": "text",
    "lead_score": "number",
    "created_at": "date",
    "updated_at": "date",
    "account.name": "text",
    "account.domain": "text",
    "account.industry": "text",
    "account.country": "country",
    "account.employees": "number",
    "custom.nickname": "text",
    "custom.work_email": "text",
    "custom.site": "text",
    "custom.mobile": "text",
    "custom.score": "number",
    "custom.renewal": "date",
    "custom.opted_in": "boolean",
    "custom.plan": "choice",
    "custom.interests": "multi",
}
TEXT_OPS = ["equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with", "in", "not_in",
            "is_empty", "is_not_empty"]  # fmt: skip
OPS = {
    "text": TEXT_OPS,
    "country": TEXT_OPS,
    "choice": TEXT_OPS,
    "number": ["equals", "not_equals", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty"],
    "date": [
        "on",
        "before",
        "after",
        "between",
        "in_last_days",
        "more_than_days_ago",
        "in_next_days",
        "is_empty",
        "is_not_empty",
    ],  # fmt: skip
    "boolean": ["is_true", "is_false", "is_empty"],
    "multi": ["contains_any", "contains_all", "contains_none", "is_empty", "is_not_empty"],
    "campaign": ["equals", "not_equals", "in", "not_in"],
}
NUMBERS = [-3, 0, 9, 9.5, 10, 10.5, 49.99, 50, 100, 120]


@dataclass
class Setup:
    campaigns: list[int]


@pytest.fixture
def setup(custom_fields) -> Setup:
    ConsentFactory(code="newsletter", name="Newsletter")
    ConsentFactory(code="sms", name="SMS")
    ContactGroupFactory(code="vip", name="VIP")
    ContactGroupFactory(code="gold", name="Gold")
    return Setup(campaigns=[CampaignFactory().pk, CampaignFactory().pk])


# --- random data -------------------------------------------------------------------------------


def moment(draw, now: dt.datetime, kinds: tuple[str, ...] = ("midnight", "edge", "any")) -> dt.datetime:
    """A time near `now`, often exactly on a local midnight or a rolling-window edge."""
    today = now.astimezone(TZ).date()
    kind = draw(st.sampled_from(kinds))
    if kind == "edge":
        days = draw(st.sampled_from([0, 1, 30]))  # now itself, and the edges of the windows drawn below
        delta = draw(
            st.sampled_from([dt.timedelta(0), dt.timedelta(0), dt.timedelta(seconds=1), -dt.timedelta(seconds=1)])
        )
        return now.astimezone(dt.UTC) - dt.timedelta(days=days) + delta
    day = today + dt.timedelta(days=draw(st.integers(-35, 3)))
    start = dt.datetime.combine(day, dt.time(), tzinfo=TZ)
    if kind == "midnight":
        return start + draw(st.sampled_from([dt.timedelta(0), dt.timedelta(seconds=-1), dt.timedelta(seconds=1)]))
    return start + dt.timedelta(minutes=draw(st.integers(0, 24 * 60 - 1)))


def make_world(draw, setup: Setup, now: dt.datetime) -> None:
    today = now.astimezone(TZ).date()
    accounts = Account.objects.bulk_create(
        Account(
            name=draw(st.sampled_from(["", "Acme s.r.o.", "ACME", "Beta", "Čedok"])),
            domain=draw(st.sampled_from(["", "acme.cz", "beta.sk"])),
            industry=draw(st.sampled_from(["", "Software", "software"])),
            country=draw(st.sampled_from(["", "CZ", "SK"])),
            employees=draw(st.sampled_from([None, 0, 10, 120])),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    contacts = []
    for i in range(draw(st.integers(1, 7))):
        # Emails are unique ignoring case, "" included: only the first contact may have "".
        email = draw(st.sampled_from([None, "", "Ana@Example.com", "bob@x.cz"]))
        email = f"{i}{email}" if email else ("" if email == "" and i == 0 else None)
        custom = {}
        for code, values in CUSTOM_VALUES.items():
            value = draw(st.sampled_from(values))
            if value is not MISSING:
                custom[code] = value
        renewal = draw(st.sampled_from([MISSING, None, "", "date"]))
        if renewal == "date":
            renewal = (today + dt.timedelta(days=draw(st.integers(-40, 5)))).isoformat()
        if renewal is not MISSING:
            custom["renewal"] = renewal
        contacts.append(
            Contact(
                email=email,
                first_name=draw(st.sampled_from(TEXTS)),
                last_name=draw(st.sampled_from(TEXTS)),
                phone=draw(st.sampled_from(["", "+420 601", "+421 9"])),
                country=draw(st.sampled_from(["", "CZ", "SK", "DE"])),
                city=draw(st.sampled_from(TEXTS)),
                job_title=draw(st.sampled_from(["", "CEO", "Head of Marketing"])),
                lead_score=draw(st.sampled_from([-3, 0, 9, 10, 11, 50, 100])),
                account=draw(st.sampled_from([None, *accounts])),
                created_at=moment(draw, now),
                custom=custom,
            )
        )
    contacts = Contact.objects.bulk_create(contacts)
    for i, contact in enumerate(contacts):
        fields: dict[str, Any] = {"updated_at": moment(draw, now)}
        if i and draw(st.integers(0, 4)) == 0:
            fields["merged_into"] = contacts[draw(st.integers(0, i - 1))]
        Contact.objects.filter(pk=contact.pk).update(**fields)
    activities = []
    for contact in contacts:
        for _ in range(draw(st.integers(0, 3))):
            activities.append(
                Activity(
                    contact=contact,
                    type=draw(st.sampled_from(["page_visit", "form_submission", "email_open"])),
                    occurred_at=moment(draw, now, ("midnight", "edge", "edge", "any"))
                    if draw(st.integers(0, 3))
                    else now + dt.timedelta(hours=1),
                    url=draw(
                        st.sampled_from(["", "https://x.cz/pricing", "https://x.cz/PRICING", "https://x.cz/blog"])
                    ),
                    title=draw(st.sampled_from(["", "Pricing", "Blog"])),
                    value=draw(st.sampled_from([None, Decimal("0.00"), Decimal("10.50"), Decimal("99.99")])),
                    campaign_id=draw(st.sampled_from([None, *setup.campaigns])),
                    data=draw(st.sampled_from([{}, {"plan": "pro"}, {"plan": "PRO"}, {"plan": ""}, {"plan": 5}])),
                )
            )
    Activity.objects.bulk_create(activities)
    consents = {c.code: c for c in Consent.objects.all()}
    rows = []
    for contact in contacts:
        for consent in consents.values():
            state = draw(st.sampled_from(["none", "agreed", "revoked"]))
            if state != "none":
                rows.append(
                    ContactConsent(contact=contact, consent=consent, revoked_at=now if state == "revoked" else None)
                )
    ContactConsent.objects.bulk_create(rows)
    groups = list(ContactGroup.objects.all())
    Membership.objects.bulk_create(
        Membership(group=g, contact=c, via_manual=True) for c in contacts for g in groups if draw(st.booleans())
    )
    contacts_refresh_last_activity()


# --- random valid trees ------------------------------------------------------------------------


def field_value(draw, name: str, kind: str, op: str, today: dt.date) -> Any:
    def day() -> str:
        return (today + dt.timedelta(days=draw(st.integers(-40, 5)))).isoformat()

    if op in ("is_empty", "is_not_empty", "is_true", "is_false"):
        return MISSING
    if kind in ("text", "country", "choice"):
        codes = op in ("equals", "not_equals", "in", "not_in")
        if kind == "country" and codes:
            text = st.sampled_from(["CZ", "cz", "SK", "DE"])
        elif kind == "choice" and codes:
            text = st.sampled_from(["pro", "PRO", "free", "Enterprise"])
        else:
            pool = TEXT_NEEDLES + ["acme", "pricing", "@", "+42", ".cz", "cz", "Software", "Beta"]
            text = st.sampled_from(pool) | st.text(alphabet="aPžŽ_%.", min_size=1, max_size=3)
        return draw(st.lists(text, min_size=1, max_size=3)) if op in ("in", "not_in") else draw(text)
    if kind == "number":
        if op == "between":
            return sorted(draw(st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=2)))
        return draw(st.sampled_from(NUMBERS))
    if kind == "date":
        if op == "between":
            return sorted([day(), day()])
        if op in ("on", "before", "after"):
            return day()
        return draw(st.integers(0, 40))
    if kind == "multi":
        return draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3))
    raise AssertionError(kind)


def field_node(draw, today: dt.date) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(FIELD_TYPES)))
    kind = FIELD_TYPES[name]
    op = draw(st.sampled_from(OPS[kind]))
    node: dict[str, Any] = {"type": "field", "field": name, "operator": op}
    value = field_value(draw, name, kind, op, today)
    if value is not MISSING:
        node["value"] = value
    return node


def where_condition(draw, setup: Setup) -> dict[str, Any]:
    name = draw(st.sampled_from(["url", "title", "campaign", "value", "data.plan"]))
    kind = {"url": "text", "title": "text", "campaign": "campaign", "value": "number", "data.plan": "text"}[name]
    op = draw(st.sampled_from(OPS[kind]))
    condition: dict[str, Any] = {"field": name, "operator": op}
    if kind == "campaign":
        ids = st.sampled_from(setup.campaigns)
        condition["value"] = draw(st.lists(ids, min_size=1, max_size=2)) if op in ("in", "not_in") else draw(ids)
    else:
        value = field_value(draw, name, kind, op, dt.date(2026, 1, 1))
        if value is not MISSING:
            condition["value"] = value
    return condition


def activity_node(draw, setup: Setup, today: dt.date) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "activity",
        "activity": draw(st.sampled_from(["any", "any", "page_visit", "form_submission", "email_open"])),
    }
    where = [where_condition(draw, setup) for _ in range(draw(st.sampled_from([0, 0, 1, 2])))]
    if where:
        node["where"] = where
    if draw(st.booleans()):
        node["count"] = {
            "operator": draw(st.sampled_from(["eq", "gte", "gt", "lte", "lt"])),
            "value": draw(st.integers(0, 3)),
        }
    window = draw(st.sampled_from(["none", "last", "between"]))
    if window == "last":
        node["window"] = {"last_days": draw(st.sampled_from([0, 1, 30]))}
    elif window == "between":
        days = sorted(today + dt.timedelta(days=draw(st.integers(-35, 3))) for _ in range(2))
        node["window"] = {"between": [d.isoformat() for d in days]}
    return node


@st.composite
def trees(draw, setup: Setup, now: dt.datetime) -> dict[str, Any]:
    today = now.astimezone(TZ).date()

    @st.composite
    def leaf(draw) -> dict[str, Any]:
        kind = draw(st.sampled_from(["field", "field", "field", "activity", "activity", "activity", "membership",
                                     "consent"]))  # fmt: skip
        if kind == "field":
            node = field_node(draw, today)
        elif kind == "activity":
            node = activity_node(draw, setup, today)
        elif kind == "membership":
            node = {"type": "membership", "group": draw(st.sampled_from(["vip", "gold"])),
                    "operator": draw(st.sampled_from(["is_member", "is_not_member"]))}  # fmt: skip
        else:
            node = {"type": "consent", "consent": draw(st.sampled_from(["newsletter", "sms"])),
                    "operator": draw(st.sampled_from(["agreed", "not_agreed"]))}  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            node["negate"] = True
        return node

    def groups(children):
        return st.builds(
            lambda combinator, kids, negate: {
                "type": "group",
                "combinator": combinator,
                "children": kids,
                **({"negate": True} if negate else {}),
            },  # fmt: skip
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=1, max_size=3),
            st.booleans(),
        )

    return {"version": 1, "root": draw(st.recursive(leaf(), groups, max_leaves=5))}


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for child in node.get("children", []) for n in _nodes(child)]


# --- the properties ----------------------------------------------------------------------------


@HYPOTHESIS
@given(data=st.data())
def test_matching_contacts_equals_the_oracle(setup, data):
    now = data.draw(st.sampled_from(NOWS), label="now")
    with transaction.atomic():
        make_world(data.draw, setup, now)
        world = oracle.load_world()
        unmerged = {c.pk for c in world.contacts if c.merged_into_id is None}
        batch = []
        for _ in range(4):
            raw = data.draw(trees(setup, now), label="tree")
            expected = oracle.evaluate(raw, world, now)
            batch.append((raw, expected))
            got = set(matching_contacts(raw, now=now).values_list("pk", flat=True))
            assert got == expected
            # The shape for re-checks (a few contacts, counts correlated per contact) agrees too.
            some = data.draw(st.sets(st.sampled_from(sorted(c.pk for c in world.contacts))), label="among")
            assert set(matching_contacts(raw, now=now, among=some).values_list("pk", flat=True)) == expected & some
            for node in _nodes(raw["root"])[1:]:  # each part on its own too: no masking by and/or
                part = {"version": 1, "root": node}
                assert set(matching_contacts(part, now=now).values_list("pk", flat=True)) == oracle.evaluate(
                    part, world, now
                ), node
            # Complement law: flipping the root's negate gives exactly the other unmerged contacts.
            flipped = {**raw, "root": {**raw["root"], "negate": not raw["root"].get("negate", False)}}
            opposite = set(matching_contacts(flipped, now=now).values_list("pk", flat=True))
            assert got.isdisjoint(opposite) and got | opposite == unmerged
            # explain agrees, for one contact, and validation is idempotent.
            contact = data.draw(st.sampled_from(world.contacts), label="contact")
            assert explain(raw, contact, now=now).matched == (contact.pk in got)
            assert validate(validate(raw)) == validate(raw)
        # All trees as one re-usable query (re-checks): compiled for the day, bound to `now` when run.
        query = VerdictQuery.build(
            [(f"t{i}", parse(raw)) for i, (raw, _) in enumerate(batch)], today=Clock.at(now).today
        )
        assert query is not None
        some = sorted(data.draw(st.sets(st.sampled_from(sorted(unmerged))), label="among batch"))
        verdicts = dict(query.run(some, now=now))
        assert sorted(verdicts) == some
        for i, (_, expected) in enumerate(batch):
            assert {pk for pk, flags in verdicts.items() if flags[i]} == expected & set(some)
        transaction.set_rollback(True)


# --- invalid trees -----------------------------------------------------------------------------

KEYS = ["type", "combinator", "children", "negate", "field", "operator", "value", "activity", "where", "count",
        "window", "last_days", "between", "group", "consent", "version", "root"]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(
        [
            "group",
            "field",
            "activity",
            "membership",
            "consent",
            "and",
            "or",
            "equals",
            "gte",
            "eq",
            "country",
            "custom.plan",
            "custom.legacy",
            "account.name",
            "data.x",
            "url",
            "vip",
            "any",
            "2026-01-01",
            "2026-13-01",
            "in_last_days",
            "contains_any",
            "\x00",
            "\ud800",
        ]
    )  # fmt: skip
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=25,
)


def _dicts(value: Any) -> list[dict]:
    found = []
    if isinstance(value, dict):
        found.append(value)
        for v in value.values():
            found += _dicts(v)
    elif isinstance(value, list):
        for v in value:
            found += _dicts(v)
    return found


def _only_rule_errors(raw: Any) -> None:
    try:
        canonical = validate(raw)
    except RuleError as error:
        assert str(error).startswith(error.path + ": ")
        return
    matching_contacts(canonical).count()  # a tree that validates also compiles and runs


@HYPOTHESIS
@given(raw=JSON | st.builds(lambda root: {"version": 1, "root": root}, JSON))
def test_random_json_raises_only_rule_error(setup, raw):
    _only_rule_errors(raw)


@HYPOTHESIS
@given(data=st.data())
def test_mutated_valid_trees_raise_only_rule_error(setup, data):
    raw = data.draw(trees(setup, NOWS[0]), label="tree")
    target = data.draw(st.sampled_from(_dicts(raw)), label="target")
    action = data.draw(st.sampled_from(["delete", "replace", "add"]), label="action")
    if action == "delete" and target:
        del target[data.draw(st.sampled_from(sorted(target)))]
    elif action == "replace" and target:
        target[data.draw(st.sampled_from(sorted(target)))] = data.draw(JSON)
    else:
        target[data.draw(st.sampled_from(KEYS))] = data.draw(JSON)
    _only_rule_errors(raw)
