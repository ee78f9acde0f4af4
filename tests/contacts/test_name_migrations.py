"""The look-alike-name migrations (contacts 0007-0008, segments 0008-0009) on old data holding duplicates."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("contacts", "0006_name_sort_covering_index"), ("segments", "0007_membership_covering_unique")]
AFTER = [("contacts", "0008_contactfield_label_key_unique"), ("segments", "0009_contactgroup_unique_names")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest():
    """Every app's newest migration: going back to BEFORE also unapplied later ones (of any app)."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_old_look_alike_names_are_suffixed_and_the_constraints_hold(capsys):
    old = migrate(BEFORE)
    Field = old.get_model("contacts", "ContactField")
    Group = old.get_model("segments", "ContactGroup")
    for code, label in [("fav", "Favourite product"), ("fav2", "favourite  PRODUCT"), ("fav3", "Favourité product")]:
        Field.objects.create(code=code, label=label, type="text")
    Field.objects.create(code="tag__isnull", label="Tag", type="text")
    for code, name in [("inactive", "Inactive contacts"), ("inactive2", "Inactivé contacts"), ("vip", "VIP")]:
        Group.objects.create(code=code, name=name)
    try:
        new = migrate(AFTER)
        Field = new.get_model("contacts", "ContactField")
        Group = new.get_model("segments", "ContactGroup")
        assert dict(Field.objects.values_list("code", "label")) == {
            "fav": "Favourite product",
            "fav2": "favourite  PRODUCT (2)",
            "fav3": "Favourité product (3)",
            "tag__isnull": "Tag",
        }
        assert Field.objects.get(code="fav2").label_key == "favourite product (2)"
        assert dict(Group.objects.values_list("code", "name")) == {
            "inactive": "Inactive contacts",
            "inactive2": "Inactivé contacts (2)",
            "vip": "VIP",
        }
        printed = capsys.readouterr().out
        assert "'favourite  PRODUCT' -> 'favourite  PRODUCT (2)'" in printed
        assert "'Inactivé contacts' -> 'Inactivé contacts (2)'" in printed
        assert "'tag__isnull' contains '__'" in printed
    finally:
        migrate_to_latest()
