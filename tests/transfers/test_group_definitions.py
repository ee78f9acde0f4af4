"""Group definitions: export as JSON, import elsewhere; missing references listed, never guessed."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from segments.models import ContactGroup
from tests.factories import ConsentFactory, ContactFieldFactory, ContactGroupFactory
from transfers import group_definitions as gd

pytestmark = pytest.mark.django_db


def field(name, op, value):
    return {"type": "field", "field": name, "operator": op, "value": value}


def tree(*children):
    return {"version": 1, "root": {"type": "group", "combinator": "and", "children": list(children)}}


def definition(code, condition=None, **kwargs):
    return {"code": code, "name": code.upper(), "description": "", "is_condition_based": condition is not None,
            "scheduled_rebuild": False, "condition": condition, **kwargs}  # fmt: skip


def a_file(*groups):
    return json.dumps({"format": gd.FORMAT, "version": 1, "groups": list(groups)})


def test_export_round_trips_through_import_in_dependency_order():
    ContactFieldFactory(code="plan", type="choice", choices=[{"code": "pro"}])
    ConsentFactory(code="newsletter")
    base = ContactGroupFactory(code="base", name="Base", is_condition_based=True,
                               condition=tree(field("custom.plan", "equals", "pro")), description="Paying")  # fmt: skip
    member = {"type": "membership", "group": "base", "operator": "is_member"}
    agreed = {"type": "consent", "consent": "newsletter", "operator": "agreed"}
    reader = ContactGroupFactory(code="reader", name="Reader", is_condition_based=True, scheduled_rebuild=True,
                                 condition=tree(member, agreed))  # fmt: skip
    data = gd.group_definitions_export(groups=ContactGroup.objects.order_by("-code"))
    assert [g["code"] for g in data["groups"]] == ["base", "reader"]  # dependencies first, whatever the order asked
    assert data["groups"][1] == {"code": "reader", "name": "Reader", "description": "", "is_condition_based": True,
                                 "scheduled_rebuild": True, "condition": reader.condition}  # fmt: skip
    text = json.dumps(data)
    ContactGroup.objects.all().delete()
    # the file lists the reader first: it still imports, its dependency created before it
    data["groups"].reverse()
    created = gd.group_definitions_import(definitions=gd.definitions_parse(json.dumps(data)))
    assert [g.code for g in created] == ["base", "reader"]
    again = ContactGroup.objects.get(code="reader")
    assert (again.condition, again.scheduled_rebuild, again.is_condition_based) == (reader.condition, True, True)
    assert ContactGroup.objects.get(code="base").description == base.description
    assert gd.definitions_parse(text)[0].code == "base"


def test_missing_references_are_listed_and_nothing_is_written():
    ContactFieldFactory(code="old", type="text", is_active=False)
    groups = [
        definition("a", tree(field("custom.plan", "equals", "pro"))),  # no such field here
        definition("b", tree({"type": "consent", "consent": "sms", "operator": "agreed"})),  # no such consent
        definition("c", tree({"type": "membership", "group": "elsewhere", "operator": "is_member"})),
        definition("d", tree(field("custom.old", "equals", "x"))),  # retired here
        definition(
            "e",
            tree(
                {
                    "type": "activity",
                    "activity": "email_open",
                    "where": [{"field": "campaign", "operator": "equals", "value": 77}],
                }
            ),
        ),  # fmt: skip
        definition("f", tree({"type": "membership", "group": "a", "operator": "is_member"})),  # a is refused
        definition("ok", tree(field("country", "equals", "CZ"))),
    ]
    plan = gd.group_definitions_plan(definitions=gd.definitions_parse(a_file(*groups)))
    assert plan.missing == ["custom field “plan”", "consent “sms”", "group “elsewhere”",
                            "custom field “old” (retired here)", "campaign #77"]  # fmt: skip
    status = {g.definition.code: g.status for g in plan.groups}
    assert status == {"a": "missing", "b": "missing", "c": "missing", "d": "missing", "e": "missing",
                      "f": "blocked", "ok": "ready"}  # fmt: skip
    assert ContactGroup.objects.count() == 0  # the plan's dry run left nothing
    with pytest.raises(gd.ImportRefused):
        gd.group_definitions_import(definitions=gd.definitions_parse(a_file(*groups)))
    assert ContactGroup.objects.count() == 0
    created = gd.group_definitions_import(definitions=gd.definitions_parse(a_file(*groups)), only_resolving=True)
    assert [g.code for g in created] == ["ok"]


def test_invalid_trees_and_existing_codes_are_refused_by_the_rule_engine():
    ContactGroupFactory(code="taken")
    groups = [
        definition("taken"),
        definition("bad", tree(field("lead_score", "gt", "many"))),
        definition("cycle", tree({"type": "membership", "group": "cycle", "operator": "is_member"})),
        definition("fine"),
    ]
    plan = gd.group_definitions_plan(definitions=gd.definitions_parse(a_file(*groups)))
    by_code = {g.definition.code: g for g in plan.groups}
    assert by_code["taken"].status == "exists"
    assert by_code["bad"].status == "invalid" and "expected a number" in by_code["bad"].problem
    assert by_code["cycle"].status == "invalid" and "“cycle”" in by_code["cycle"].problem  # refers to itself
    assert by_code["fine"].ready
    assert set(ContactGroup.objects.values_list("code", flat=True)) == {"taken"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a JSON file"),
        ("[1, 2]", "not a group definitions file"),
        (json.dumps({"format": gd.FORMAT, "version": 9, "groups": []}), "Unsupported version"),
        (json.dumps({"format": gd.FORMAT, "version": 1, "groups": []}), "holds no groups"),
        (a_file({"code": "Bad Code", "name": "x"}), "groups[0].code"),
        (a_file({"code": "x", "name": ""}), "groups[0].name"),
        (a_file({"code": "x", "name": "X", "colour": "red"}), "unknown key colour"),
        (a_file({"code": "x", "name": "X", "is_condition_based": "yes"}), "expected true or false"),
        (a_file({"code": "x", "name": "X", "is_condition_based": True}), "needs a condition"),
        (a_file({"code": "x", "name": "X"}, {"code": "x", "name": "Y"}), "appears twice"),
    ],
)
def test_files_that_are_not_definitions_are_refused(text, message):
    with pytest.raises(gd.DefinitionsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gd.definitions_parse(text)


def test_import_page_shows_the_plan_then_imports(marketer_client):
    ContactGroupFactory(code="existing")
    content = a_file(definition("new_one", tree(field("country", "equals", "CZ"))),
                     definition("other", tree(field("custom.nope", "equals", "x"))))  # fmt: skip
    upload = SimpleUploadedFile("groups.json", content.encode())
    url = reverse("transfers:group_definitions_import")
    response = marketer_client.post(url, {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "custom field “nope”" in page and "Will be created" in page and "Import only the 1 group" in page
    assert not ContactGroup.objects.filter(code="new_one").exists()
    text = response.context["text"]
    refused = marketer_client.post(url, {"text": text})
    assert refused.status_code == 400 and not ContactGroup.objects.filter(code="new_one").exists()
    done = marketer_client.post(url, {"text": text, "only_resolving": "on"})
    assert done.status_code == 302 and ContactGroup.objects.filter(code="new_one").exists()
    assert not ContactGroup.objects.filter(code="other").exists()


def test_import_page_refuses_a_bad_file_with_a_message(marketer_client):
    url = reverse("transfers:group_definitions_import")
    response = marketer_client.post(url, {"file": SimpleUploadedFile("x.json", b"\x89PNG\x00\x01")})
    assert response.status_code == 400 and "not UTF-8 text" in response.content.decode()
    response = marketer_client.post(url, {"file": SimpleUploadedFile("x.json", b'{"a": 1}')})
    assert response.status_code == 400 and "not a group definitions file" in response.content.decode()
    assert marketer_client.post(url, {}).status_code == 400


def test_definition_downloads(marketer_client):
    group = ContactGroupFactory(code="vip", name="VIP")
    one = marketer_client.get(reverse("transfers:group_definition", args=[group.pk]))
    assert one["Content-Disposition"] == 'attachment; filename="group-vip.json"'
    assert [g["code"] for g in json.loads(one.content)["groups"]] == ["vip"]
    everything = json.loads(marketer_client.get(reverse("transfers:group_definitions")).content)
    assert everything["format"] == gd.FORMAT and [g["code"] for g in everything["groups"]] == ["vip"]


def test_group_definition_commands(tmp_path, capsys):
    ContactGroupFactory(
        code="vip", name="VIP", is_condition_based=True, condition=tree(field("country", "equals", "CZ"))
    )
    out = tmp_path / "groups.json"
    call_command("export_group_definitions", "--output", str(out))
    ContactGroup.objects.all().delete()
    call_command("import_group_definitions", str(out))
    assert ContactGroup.objects.get(code="vip").condition == tree(field("country", "equals", "CZ"))
    with pytest.raises(CommandError, match="already exists") as refused:
        call_command("import_group_definitions", str(out))  # it exists now: refused, exit 1
    assert refused.value.returncode == 1
