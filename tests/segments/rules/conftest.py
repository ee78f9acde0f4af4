"""Fixtures for the rule engine tests: one custom field of every type and a small, named set of contacts
whose values cover every kind of empty (absent key, JSON null, "", [], no account)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacts.models import Contact
from tests.factories import AccountFactory, ContactFactory, ContactFieldFactory

TZ = ZoneInfo("Europe/Prague")
NOTHING = object()


def local(*args: int) -> dt.datetime:
    """An aware datetime in the project time zone (Europe/Prague in these tests)."""
    return dt.datetime(*args, tzinfo=TZ)  # type: ignore[misc]


NOW = local(2026, 3, 15, 12, 0)  # "today" is 2026-03-15


def tree(root: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": root}


def field(name: str, operator: str, value: Any = NOTHING, *, negate: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "field", "field": name, "operator": operator}
    if value is not NOTHING:
        node["value"] = value
    if negate:
        node["negate"] = True
    return node


def group(combinator: str, *children: dict[str, Any], negate: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "group", "combinator": combinator, "children": list(children)}
    if negate:
        node["negate"] = True
    return node


@pytest.fixture(autouse=True)
def _project_time_zone(settings):
    settings.TIME_ZONE = "Europe/Prague"


CUSTOM_FIELDS = [
    ("nickname", "text", []),
    ("score", "number", []),
    ("renewal", "date", []),
    ("opted_in", "boolean", []),
    ("plan", "choice", [("pro", "Pro"), ("enterprise", "Enterprise"), ("free", "Free")]),
    ("interests", "multi_choice", [("a", "Analytics"), ("b", "Blogging"), ("c", "Commerce")]),
    ("work_email", "email", []),
    ("site", "url", []),
    ("mobile", "phone", []),
]


@pytest.fixture
def custom_fields(db):
    made = {
        code: ContactFieldFactory(
            code=code,
            label=code.replace("_", " ").capitalize(),
            type=type_,
            choices=[{"code": c, "label": label} for c, label in choices],
        )
        for code, type_, choices in CUSTOM_FIELDS
    }
    made["legacy"] = ContactFieldFactory(code="legacy", label="Legacy", type="text", is_active=False)
    return made


@pytest.fixture
def people(custom_fields) -> dict[str, Contact]:
    """Five unmerged contacts (full, other, blank, nulls, blanks) and one merged into `full`."""
    acme = AccountFactory(name="Acme s.r.o.", domain="acme.cz", industry="Software", country="CZ", employees=120)
    beta = AccountFactory(name="Beta", domain="", industry="", country="", employees=None)
    full_custom = {
        "nickname": "Žluťoučký kůň",
        "score": 10.5,
        "renewal": "2026-03-15",
        "opted_in": True,
        "plan": "pro",
        "interests": ["a", "b"],
        "work_email": "z@acme.cz",
        "site": "https://acme.cz/Pricing",
        "mobile": "+420 777 000 111",
    }
    empty_names = {"first_name": "", "last_name": "", "phone": "", "country": "", "city": "", "job_title": ""}
    people = {
        "full": ContactFactory(
            email="Full@Example.com",
            first_name="Žofie",
            last_name="Nováková",
            phone="+420 601 123 456",
            country="CZ",
            city="Praha",
            job_title="Head of Marketing",
            lead_score=50,
            account=acme,
            created_at=local(2026, 3, 10, 0, 30),
            custom=full_custom,
        ),
        "other": ContactFactory(
            email="other@example.org",
            first_name="Adam",
            last_name="Smith",
            phone="",
            country="SK",
            city="Bratislava",
            job_title="CEO",
            lead_score=9,
            account=beta,
            created_at=local(2026, 3, 14, 23, 59, 59),
            custom={
                "nickname": "hello_world",
                "score": 9,
                "renewal": "2026-02-01",
                "opted_in": False,
                "plan": "free",
                "interests": ["c"],
                "work_email": "a@beta.sk",
                "site": "https://beta.sk",
                "mobile": "+421 900 000",
            },
        ),
        "blank": ContactFactory(
            email=None, lead_score=0, created_at=local(2026, 3, 15, 0, 0), custom={}, **empty_names
        ),
        "nulls": ContactFactory(
            email="",
            lead_score=-3,
            created_at=local(2025, 12, 31, 23, 0),
            custom={code: None for code, _, _ in CUSTOM_FIELDS},
            **empty_names,
        ),
        "blanks": ContactFactory(
            email=None,
            lead_score=100,
            created_at=local(2026, 3, 16, 0, 0),
            **empty_names,
            custom={
                "nickname": "",
                "score": "",
                "renewal": "",
                "opted_in": "",
                "plan": "",
                "interests": [],
                "work_email": "",
                "site": "",
                "mobile": "",
            },
        ),
    }
    parent = people["full"]
    people["merged"] = ContactFactory(
        email=None,
        first_name="Žofie",
        last_name="Nováková",
        phone=parent.phone,
        country="CZ",
        city="Praha",
        job_title=parent.job_title,
        lead_score=50,
        account=acme,
        created_at=parent.created_at,
        custom=full_custom,
        merged_into=parent,
    )
    return people


UNMERGED = frozenset({"full", "other", "blank", "nulls", "blanks"})
