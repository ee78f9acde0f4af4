"""Fixtures for the contact and account tests: one active custom field of every type."""

import pytest

from tests.factories import ContactFieldFactory

CHOICES_PLAN = [
    {"code": "basic", "label": "Basic"},
    {"code": "pro", "label": "Pro"},
    {"code": "enterprise", "label": "Enterprise"},
]
CHOICES_TOPICS = [
    {"code": "ai", "label": "AI"},
    {"code": "cloud", "label": "Cloud"},
    {"code": "security", "label": "Security"},
]


@pytest.fixture
def custom_fields(db):
    """code → ContactField, one per type, in this order."""
    specs = [
        ("nickname", "text", []),
        ("budget", "number", []),
        ("renewal", "date", []),
        ("vip", "boolean", []),
        ("plan", "choice", CHOICES_PLAN),
        ("topics", "multi_choice", CHOICES_TOPICS),
        ("website", "url", []),
        ("work_email", "email", []),
        ("mobile", "phone", []),
    ]
    return {
        code: ContactFieldFactory(
            code=code, label=code.replace("_", " ").capitalize(), type=kind, choices=choices, order=i
        )
        for i, (code, kind, choices) in enumerate(specs)
    }
