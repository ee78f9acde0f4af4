import pytest
from django.core.management import call_command

from segments.models import ContactGroup, Membership
from segments.rules import matching_contacts

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_sample_groups_of_every_kind_with_true_members():
    call_command("seed_demo", contacts=300, verbosity=0)
    groups = {g.code: g for g in ContactGroup.objects.all()}
    assert not groups["trade_fair_2026"].is_condition_based and groups["trade_fair_2026"].member_count == 40
    assert groups["key_accounts"].group_accounts.count() == 3
    assert Membership.objects.filter(group=groups["key_accounts"], via_account=True).exists()
    dependent = groups["czech_newsletter_vips"]
    assert any(c["type"] == "membership" for c in dependent.condition["root"]["children"])
    for group in groups.values():
        if group.is_condition_based:
            expected = set(matching_contacts(group.condition).values_list("pk", flat=True))
            stored = set(
                Membership.objects.filter(group=group, via_condition=True).values_list("contact_id", flat=True)
            )
            assert stored == expected, group.code
            assert group.member_count == Membership.objects.filter(group=group).count()

    call_command("seed_demo", contacts=300, verbosity=0)
    assert ContactGroup.objects.count() == len(groups)
    assert ContactGroup.objects.get(code="trade_fair_2026").member_count == 40
