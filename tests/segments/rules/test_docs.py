"""Every rule-tree example in docs/rules.md validates, and the first one reads as documented."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings

from segments.rules import describe, validate
from tests.factories import ConsentFactory, ContactFieldFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db

DOC = (settings.BASE_DIR / "docs" / "rules.md").read_text(encoding="utf-8")
EXAMPLES = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.S) if '"version"' in block]


@pytest.fixture(autouse=True)
def _catalog():
    ContactFieldFactory(
        code="plan",
        label="Plan",
        type="choice",
        choices=[{"code": "pro", "label": "Pro"}, {"code": "enterprise", "label": "Enterprise"}],
    )
    ContactFieldFactory(
        code="interests", label="Interests", type="multi_choice", choices=[{"code": "analytics", "label": "Analytics"}]
    )
    ContactFieldFactory(code="renewal", label="Renewal", type="date")
    ConsentFactory(code="newsletter", name="Newsletter")
    ContactGroupFactory(code="vip", name="VIP")  # fmt: skip


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_example_validates(example):
    assert validate(validate(example)) == validate(example)


def test_first_example_sentence():
    assert describe(EXAMPLES[0]) in DOC.replace("*", "").replace("\n", " ")
