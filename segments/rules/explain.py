"""Why is this contact in (or not in) a segment: every node's verdict for one contact, in one query.

Invariant: a verdict is computed from exactly the Q the compiler uses for matching (each node's Q,
annotated on the one contact row), so an explanation can never disagree with `matching_contacts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import BooleanField, Case, IntegerField, OuterRef, Subquery, Value, When
from django.db.models import Count as CountAgg
from django.db.models.functions import Coalesce

from contacts.models import Contact
from segments.rules.clock import Clock
from segments.rules.compiler import activity_rows, node_q
from segments.rules.describe import capitalize, describe_node
from segments.rules.nodes import ActivityNode, GroupNode, Node, walk
from segments.rules.parser import Rule


@dataclass(frozen=True)
class NodeVerdict:
    """One node's verdict: `matched` includes the node's own `negate`; `count` is set for activity nodes."""

    path: str
    type: str
    description: str
    matched: bool
    negate: bool = False
    count: int | None = None
    children: tuple[NodeVerdict, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "description": self.description,
            "matched": self.matched,
            "negate": self.negate,
            "count": self.count,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(frozen=True)
class Explanation:
    """`matched` is the final answer: the root matched and the contact is not merged into another."""

    contact_id: int
    matched: bool
    merged: bool
    root: NodeVerdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "matched": self.matched,
            "merged": self.merged,
            "root": self.root.to_dict(),
        }


def explain_rule(rule: Rule, contact: Contact | int, clock: Clock) -> Explanation:
    contact_id = contact if isinstance(contact, int) else contact.pk
    nodes = walk(rule.root)
    annotations: dict[str, Any] = {}
    for i, node in enumerate(nodes):
        annotations[f"rule_m{i}"] = Case(
            When(node_q(node, clock, few=True), then=Value(True)), default=Value(False), output_field=BooleanField()
        )
        if isinstance(node, ActivityNode):
            counted = (
                activity_rows(node, clock)
                .filter(contact=OuterRef("pk"))
                .values("contact")
                .annotate(n=CountAgg("pk"))
                .values("n")
            )
            annotations[f"rule_c{i}"] = Coalesce(Subquery(counted, output_field=IntegerField()), 0)
    row = Contact.objects.filter(pk=contact_id).annotate(**annotations).values("merged_into_id", *annotations).first()
    if row is None:
        raise Contact.DoesNotExist(f"There is no contact with id {contact_id}.")
    index = {id(node): i for i, node in enumerate(nodes)}

    def verdict(node: Node) -> NodeVerdict:
        i = index[id(node)]
        children = tuple(verdict(c) for c in node.children) if isinstance(node, GroupNode) else ()
        count = row.get(f"rule_c{i}")
        return NodeVerdict(
            path=node.path,
            type=type(node).__name__.removesuffix("Node").lower(),
            description=capitalize(describe_node(node, rule, top=True)),
            matched=bool(row[f"rule_m{i}"]),
            negate=node.negate,
            count=int(count) if count is not None else None,
            children=children,
        )

    root = verdict(rule.root)
    merged = row["merged_into_id"] is not None
    return Explanation(contact_id=contact_id, matched=root.matched and not merged, merged=merged, root=root)
