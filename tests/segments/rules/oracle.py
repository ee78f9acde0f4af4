"""An independent, obviously-correct Python evaluator of rule trees, for differential tests.

It reads the raw JSON tree (not the engine's parsed nodes) and a plain snapshot of the database, and
applies DESIGN's semantics literally, one contact at a time: calendar dates via `astimezone(tz).date()`,
case-insensitive text via `str.lower`, numbers as Decimal, empty = absent / None / "" / [].
It shares no code with segments.rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from contacts.models import Activity, Contact, ContactConsent, ContactField
from segments.models import Membership

MISSING = object()
CONTACT_COLUMNS = {
    "email",
    "first_name",
    "last_name",
    "phone",
    "country",
    "city",
    "job_title",
    "lead_score",
    "created_at",
    "updated_at",
}
BUILTIN_TYPES = {
    "email": "email",
    "first_name": "text",
    "last_name": "text",
    "phone": "phone",
    "country": "choice",
    "city": "text",
    "job_title": "text",
    "lead_score": "number",
    "created_at": "datetime",
    "updated_at": "datetime",
    "account.name": "text",
    "account.domain": "text",
    "account.industry": "text",
    "account.country": "choice",
    "account.employees": "number",
    "url": "text",
    "title": "text",
    "value": "number",
    "campaign": "campaign",
}


@dataclass
class World:
    contacts: list[Contact]
    activities: dict[int, list[Activity]] = field(default_factory=dict)
    agreed: dict[int, set[str]] = field(default_factory=dict)  # contact id → consent codes agreed, not revoked
    members: dict[str, set[int]] = field(default_factory=dict)  # group code → contact ids
    custom_types: dict[str, str] = field(default_factory=dict)


def load_world() -> World:
    contacts = list(Contact.objects.select_related("account").order_by("pk"))
    world = World(contacts=contacts)
    for activity in Activity.objects.all():
        world.activities.setdefault(activity.contact_id, []).append(activity)
    for cc in ContactConsent.objects.select_related("consent"):
        if cc.revoked_at is None:
            world.agreed.setdefault(cc.contact_id, set()).add(cc.consent.code)
    for m in Membership.objects.select_related("group"):
        world.members.setdefault(m.group.code, set()).add(m.contact_id)
    world.custom_types = dict(ContactField.objects.values_list("code", "type"))
    return world


def _plain(value: Any) -> Any:
    """django-countries returns a Country object; the stored value is its code."""
    return value.code if type(value).__name__ == "Country" else value


def is_empty(value: Any) -> bool:
    return value is MISSING or value is None or (isinstance(value, str) and value == "") or value == []


def evaluate(tree: dict[str, Any], world: World, now: dt.datetime) -> set[int]:
    """Ids of the unmerged contacts matching `tree` at `now`."""
    oracle = _Oracle(world, now)
    return {c.pk for c in world.contacts if c.merged_into_id is None and oracle.node(tree["root"], c)}


class _Oracle:
    def __init__(self, world: World, now: dt.datetime) -> None:
        self.world = world
        self.now = now
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.today = now.astimezone(self.tz).date()

    def node(self, node: dict[str, Any], contact: Contact) -> bool:
        kind = node["type"]
        if kind == "group":
            results = [self.node(child, contact) for child in node["children"]]
            result = all(results) if node["combinator"] == "and" else any(results)
        elif kind == "field":
            value, type_ = self.contact_value(node["field"], contact)
            result = self.compare(type_, value, node["operator"], node.get("value"))
        elif kind == "activity":
            result = self.activity(node, contact)
        elif kind == "membership":
            member = contact.pk in self.world.members.get(node["group"], set())
            result = member if node["operator"] == "is_member" else not member
        elif kind == "consent":
            agreed = node["consent"] in self.world.agreed.get(contact.pk, set())
            result = agreed if node["operator"] == "agreed" else not agreed
        else:
            raise AssertionError(kind)
        return not result if node.get("negate") else result

    def contact_value(self, name: str, contact: Contact) -> tuple[Any, str]:
        if name.startswith("custom."):
            code = name.removeprefix("custom.")
            return contact.custom.get(code, MISSING), self.world.custom_types[code]
        if name.startswith("account."):
            account = contact.account
            value = MISSING if account is None else _plain(getattr(account, name.removeprefix("account.")))
            return value, BUILTIN_TYPES[name]
        return _plain(getattr(contact, name)), BUILTIN_TYPES[name]

    def activity(self, node: dict[str, Any], contact: Contact) -> bool:
        count = 0
        for activity in self.world.activities.get(contact.pk, []):
            if node["activity"] != "any" and activity.type != node["activity"]:
                continue
            if activity.occurred_at > self.now:
                continue
            window = node.get("window")
            if window and window.get("last_days") == 0:  # today, since local midnight
                if activity.occurred_at.astimezone(self.tz).date() != self.now.astimezone(self.tz).date():
                    continue
            elif window and "last_days" in window:
                since = self.now.astimezone(dt.UTC) - dt.timedelta(hours=24 * window["last_days"])
                if not activity.occurred_at > since:
                    continue
            if window and "between" in window:
                day = activity.occurred_at.astimezone(self.tz).date()
                start, end = (dt.date.fromisoformat(d) for d in window["between"])
                if not start <= day <= end:
                    continue
            if all(self.where(w, activity) for w in node.get("where", [])):
                count += 1
        spec = node.get("count", {"operator": "gte", "value": 1})
        k = spec["value"]
        return {
            "eq": count == k,
            "gte": count >= k,
            "gt": count > k,
            "lte": count <= k,
            "lt": count < k,
        }[spec["operator"]]

    def where(self, condition: dict[str, Any], activity: Activity) -> bool:
        name = condition["field"]
        if name.startswith("data."):
            value, type_ = activity.data.get(name.removeprefix("data."), MISSING), "text"
        elif name == "campaign":
            value, type_ = activity.campaign_id, "campaign"
        else:
            value, type_ = getattr(activity, name), BUILTIN_TYPES[name]
        return self.compare(type_, value, condition["operator"], condition.get("value"))

    # ---------------------------------------------------------------------------------------------

    def compare(self, type_: str, value: Any, op: str, arg: Any) -> bool:
        negations = {
            "not_equals": "equals",
            "not_contains": "contains",
            "not_in": "in",
            "contains_none": "contains_any",
            "is_not_empty": "is_empty",
        }
        if op in negations:
            return not self.compare(type_, value, negations[op], arg)
        if op == "is_empty":
            return is_empty(value)
        if type_ in ("text", "email", "url", "phone", "choice"):
            return self.text(value, op, arg)
        if type_ == "number":
            return self.number(value, op, arg)
        if type_ in ("date", "datetime"):
            return self.date(type_, value, op, arg)
        if type_ == "boolean":
            return value is (op == "is_true")
        if type_ == "multi_choice":
            if not isinstance(value, list) or not value:
                return False
            items = {v for v in value if isinstance(v, str)}
            wanted = set(arg)
            return bool(items & wanted) if op == "contains_any" else wanted <= items
        if type_ == "campaign":
            wanted = {arg} if op == "equals" else set(arg)
            return value is not None and value in wanted
        raise AssertionError(type_)

    @staticmethod
    def text(value: Any, op: str, arg: Any) -> bool:
        if not isinstance(value, str) or value == "":
            return False
        text = value.lower()
        if op == "in":
            return text in {a.lower() for a in arg}
        needle = arg.lower()
        return {
            "equals": text == needle,
            "contains": needle in text,
            "starts_with": text.startswith(needle),
            "ends_with": text.endswith(needle),
        }[op]

    @staticmethod
    def number(value: Any, op: str, arg: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return False
        number = Decimal(str(value))
        if op == "between":
            return Decimal(str(arg[0])) <= number <= Decimal(str(arg[1]))
        other = Decimal(str(arg))
        return {
            "equals": number == other,
            "lt": number < other,
            "lte": number <= other,
            "gt": number > other,
            "gte": number >= other,
        }[op]

    def date(self, type_: str, value: Any, op: str, arg: Any) -> bool:
        if type_ == "datetime":
            if value is None:
                return False
            day = value.astimezone(self.tz).date()
        else:
            if not isinstance(value, str) or value == "":
                return False
            day = dt.date.fromisoformat(value)
        today = self.today
        match op:
            case "on":
                return day == dt.date.fromisoformat(arg)
            case "before":
                return day < dt.date.fromisoformat(arg)
            case "after":
                return day > dt.date.fromisoformat(arg)
            case "between":
                return dt.date.fromisoformat(arg[0]) <= day <= dt.date.fromisoformat(arg[1])
            case "in_last_days":
                return today - dt.timedelta(days=arg) <= day <= today
            case "more_than_days_ago":
                return day < today - dt.timedelta(days=arg)
            case "in_next_days":
                return today <= day <= today + dt.timedelta(days=arg)
        raise AssertionError(op)
