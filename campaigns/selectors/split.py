"""The deterministic A/B bucket: a contact's place 0–99 in a campaign, the same in SQL and in Python.

Invariant: `bucket_expression(seed)` computed by the database equals `bucket(pk, seed)` for every
contact id below 2**31, on SQLite and PostgreSQL (integer arithmetic only, every intermediate below
2**63). The same contact therefore lands in the same arm on every retry; the per-campaign seed makes
arms independent across campaigns.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import BigIntegerField, Case, CharField, ExpressionWrapper, F, Value, When
from django.db.models.expressions import Expression

# Knuth's multiplicative hash constant (an odd number near 2**32 / golden ratio).
MULTIPLIER = 2654435761
WRAP = 2**31
SPACE = 2**32
BUCKETS = 100


def bucket(pk: int, seed: int) -> int:
    """The contact's bucket (0–99) in a campaign with this seed."""
    return (((pk + seed) % WRAP) * MULTIPLIER % SPACE) * BUCKETS // SPACE


def bucket_expression(seed: int) -> Expression:
    """`bucket(pk, seed)` as a database expression over Contact."""
    wrapped = (F("pk") + Value(seed)) % Value(WRAP)
    hashed = (wrapped * Value(MULTIPLIER)) % Value(SPACE)
    return ExpressionWrapper(hashed * Value(BUCKETS) / Value(SPACE), output_field=BigIntegerField())


def arm_ranges(percents: Sequence[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(label, first bucket, bucket after the last) of each arm, in the given order."""
    ranges, start = [], 0
    for label, percent in percents:
        ranges.append((label, start, start + percent))
        start += percent
    return ranges


def arm_of(pk: int, seed: int, percents: Sequence[tuple[str, int]]) -> str | None:
    """The arm label a contact lands in (None when there is no split)."""
    b = bucket(pk, seed)
    for label, start, end in arm_ranges(percents):
        if start <= b < end:
            return label
    return None


def arm_expression(seed: int, percents: Sequence[tuple[str, int]]) -> Expression:
    """`arm_of` as a database expression (NULL without a split); percents must add up to 100."""
    if not percents:
        return Value(None, output_field=CharField())
    b = bucket_expression(seed)
    whens = [When(condition=_lt(b, end), then=Value(label)) for label, _, end in arm_ranges(percents)]
    return Case(*whens, default=Value(None), output_field=CharField())


def _lt(expression: Expression, bound: int) -> Expression:
    from django.db.models.lookups import LessThan

    return LessThan(expression, bound)
