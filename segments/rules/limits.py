"""Bounds on the work a rule tree may cause: a cost estimate at validation, a deadline at evaluation.

Invariant: `check_cost` is pure (no database) and raises only RuleError, naming what makes the tree
costly; `deadline` stops the statements run inside it after `seconds` (PostgreSQL: a transaction-local
statement_timeout; SQLite: a progress handler that interrupts the statement) and turns the stop into
`EvaluationTimeout`, never a database error; on PostgreSQL the statements also get `PREVIEW_WORK_MEM`.
The validator (`validate`, used on Save and by the preview) applies the cost limit; previews also run
under the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction

from config.replica import read_connection
from segments.rules.errors import RuleError
from segments.rules.nodes import (
    ANY_ACTIVITY,
    ActivityNode,
    ConsentNode,
    FieldNode,
    MembershipNode,
    Node,
    Op,
    walk,
)

# What one node costs, in units of "one pass of cheap comparisons over the contacts". An activity
# condition reads the activities of every contact; a text pattern (contains, starts/ends with) or
# a data.<key> filter is evaluated on each of those rows and can use no index, so it costs most.
COST_FIELD = 1
COST_CODED = 2  # membership, consent: one index probe per contact
COST_ACTIVITY = 10
COST_HEAVY_ACTIVITY = 30
MAX_COST = 600  # 20 heavy activity conditions, 60 plain ones, 300 memberships/consents, or a mix
PATTERN_OPS = frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH})


@dataclass
class _Tally:
    heavy: int = 0  # activity conditions with a data.<key> or text-pattern filter
    activity: int = 0  # other activity conditions
    coded: int = 0  # membership and consent conditions
    fields: int = 0

    @property
    def cost(self) -> int:
        return (
            self.heavy * COST_HEAVY_ACTIVITY
            + self.activity * COST_ACTIVITY
            + self.coded * COST_CODED
            + self.fields * COST_FIELD
        )


def is_heavy(node: ActivityNode) -> bool:
    """An activity condition whose filters are checked row by row: data.<key>, or contains / starts / ends with."""
    return any(c.attribute.name.startswith("data.") or c.operator in PATTERN_OPS for c in node.where)


def tree_cost(root: Node) -> int:
    """The estimated cost of evaluating a parsed tree (see MAX_COST)."""
    tally = _Tally()
    for node in walk(root):
        _count(tally, node)
    return tally.cost


def _count(tally: _Tally, node: Node) -> None:
    match node:
        case ActivityNode():
            if is_heavy(node):
                tally.heavy += 1
            elif node.activity != ANY_ACTIVITY or node.where:
                tally.activity += 1
            else:
                tally.fields += 1  # "any activity" without filters reads Contact.last_activity_at
        case MembershipNode() | ConsentNode():
            tally.coded += 1
        case FieldNode():
            tally.fields += 1


def check_cost(root: Node) -> None:
    """Raise RuleError (at the node that crosses the limit) when the tree would be too slow to evaluate."""
    tally = _Tally()
    for node in walk(root):
        _count(tally, node)
        if tally.cost > MAX_COST:
            raise RuleError(node.path, _too_costly(tally))


def _too_costly(tally: _Tally) -> str:
    kinds = [
        (tally.heavy, COST_HEAVY_ACTIVITY, "activity condition{s} filtering by “contains”, “starts with”, "
         "“ends with” or a data.<key> field"),
        (tally.activity, COST_ACTIVITY, "other activity condition{s}"),
        (tally.coded, COST_CODED, "group or consent condition{s}"),
    ]  # fmt: skip
    parts = [(f"{n} " + words.format(s="s" if n != 1 else ""), MAX_COST // cost) for n, cost, words in kinds if n]
    if len(parts) == 1:
        cause = f"{parts[0][0]} (at most {parts[0][1]})"
    else:
        cause = " and ".join(text for text, _ in parts) + " are too many together"
    return (
        f"this condition would be too slow to evaluate: {cause}. "
        "Use fewer activity conditions (one condition can match several values with “is one of”), "
        "or build parts as their own groups and combine them with “is a member of”."
    )


# ---------------------------------------------------------------------------------------------
# Deadlines.


class EvaluationTimeout(Exception):
    """The evaluation ran past its deadline and was stopped; nothing was changed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"counting the matching contacts took longer than {seconds:g} seconds and was stopped. "
            "Simplify the condition: activity conditions with “contains” or data.<key> filters cost the most."
        )


_SQLITE_STEPS = 20_000  # virtual machine instructions between two looks at the clock


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Run the block in a transaction whose statements stop after `seconds` (EvaluationTimeout).

    On the database the block's reads use (the replica in a lagging read: config.replica)."""
    connection = read_connection()
    vendor = connection.vendor
    if vendor == "postgresql":
        try:
            with transaction.atomic(using=connection.alias):
                with connection.cursor() as cursor:
                    # TRICKY: SET LOCAL lasts until the end of the transaction (or the savepoint's
                    # rollback); reset both so an enclosing transaction keeps its own settings.
                    # work_mem: at 4 MB the bitmap of a large country's contacts goes lossy and every row of
                    # its pages is checked again (tree (d) of bench.preview at 3M: 1.19 s → 0.89 s at 16 MB).
                    cursor.execute(
                        "SELECT set_config('statement_timeout', %s, true), set_config('work_mem', %s, true)",
                        [str(max(1, int(seconds * 1000))), settings.PREVIEW_WORK_MEM],
                    )
                yield
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = DEFAULT")
                    cursor.execute("SET LOCAL work_mem = DEFAULT")
        except DatabaseError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
                raise EvaluationTimeout(seconds) from None
            raise
        return
    if vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        stop_at = time.monotonic() + seconds
        fired = False

        def progress() -> int:
            nonlocal fired
            fired = fired or time.monotonic() > stop_at
            return 1 if fired else 0  # non-zero interrupts the running statement

        raw.set_progress_handler(progress, _SQLITE_STEPS)
        try:
            yield
        except DatabaseError:
            if fired:
                raise EvaluationTimeout(seconds) from None
            raise
        finally:
            raw.set_progress_handler(None, _SQLITE_STEPS)
        return
    yield  # pragma: no cover - other databases: no deadline
