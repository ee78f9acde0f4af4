"""Group overlap (every region of up to four groups, one query) against Python sets; the A/B bucket
(SQL = Python, deterministic, evenly spread) and the variant choice (first by priority, else default)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import selectors, services
from campaigns.models import Campaign, Channel
from campaigns.selectors.split import arm_expression, arm_of, bucket, bucket_expression
from contacts.models import Contact
from segments.models import Membership
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    memberships=st.lists(st.sets(st.integers(0, 3), max_size=4), min_size=1, max_size=25),
    chosen=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
    merged=st.sets(st.integers(0, 24)),
)
def test_overlap_regions_match_python_sets(memberships, chosen, merged):
    Contact.objects.all().delete()
    groups = [ContactGroupFactory(code=f"o{i}") for i in range(4)]
    contacts = [ContactFactory(email=None) for _ in memberships]
    Membership.objects.bulk_create(
        [
            Membership(group=groups[g], contact=c, via_manual=True)
            for c, gs in zip(contacts, memberships, strict=True)
            for g in gs
        ]
    )
    # a merged contact's stray membership (should not exist) is never counted
    for i in merged:
        if i < len(contacts) and i > 0:
            Contact.objects.filter(pk=contacts[i].pk).update(merged_into=contacts[0])
    ids = [groups[i].pk for i in chosen]
    with CaptureQueriesContext(connection) as queries:
        overlap = selectors.group_overlap(group_ids=ids)
    assert len(queries) == 2  # the groups, then one query for every region
    expected: Counter[int] = Counter()
    for i, gs in enumerate(memberships):
        if i in merged and i > 0:
            continue
        mask = sum(1 << k for k, g in enumerate(chosen) if g in gs)
        if mask:
            expected[mask] += 1
    assert {r.mask: r.count for r in overlap.regions} == dict(expected)
    assert [g.pk for g in overlap.groups] == ids
    for region in overlap.regions:
        assert [g.pk for g in region.groups] == [ids[k] for k in range(len(ids)) if region.mask & (1 << k)]


def test_overlap_keeps_four_groups_at_most():
    groups = [ContactGroupFactory(code=f"x{i}") for i in range(6)]
    assert len(selectors.group_overlap(group_ids=[g.pk for g in groups]).groups) == 4


def test_the_bucket_in_sql_equals_the_bucket_in_python():
    contacts = [ContactFactory(email=None) for _ in range(40)]
    for seed in (0, 1, 12345, 2**24 - 1):
        rows = dict(Contact.objects.annotate(b=bucket_expression(seed)).values_list("pk", "b"))
        assert rows == {c.pk: bucket(c.pk, seed) for c in contacts}
    # large ids too (every intermediate stays below 2**63)
    big = [ContactFactory(pk=pk, email=None) for pk in (2**31 - 1, 2**31 + 5, 10**12 + 7)]
    rows = dict(
        Contact.objects.filter(pk__in=[c.pk for c in big])
        .annotate(b=bucket_expression(2**24 - 1))
        .values_list("pk", "b")
    )
    assert rows == {c.pk: bucket(c.pk, 2**24 - 1) for c in big}


def test_arms_are_deterministic_and_follow_the_percentages():
    percents = [("A", 50), ("B", 30), ("C", 20)]
    rng = random.Random(7)
    ids = rng.sample(range(1, 10**8), 20000)
    first = [arm_of(pk, 991, percents) for pk in ids]
    assert first == [arm_of(pk, 991, percents) for pk in ids]  # a retry lands every contact in the same arm
    shares = Counter(first)
    assert abs(shares["A"] / len(ids) - 0.5) < 0.02
    assert abs(shares["B"] / len(ids) - 0.3) < 0.02
    assert abs(shares["C"] / len(ids) - 0.2) < 0.02
    # another campaign (seed) splits the same people differently
    other = [arm_of(pk, 5, percents) for pk in ids]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > len(ids) * 0.3


def test_the_arm_in_sql_equals_the_arm_in_python():
    contacts = [ContactFactory(email=None) for _ in range(60)]
    percents = [("A", 25), ("B", 25), ("C", 25), ("D", 25)]
    rows = dict(Contact.objects.annotate(arm=arm_expression(77, percents)).values_list("pk", "arm"))
    assert rows == {c.pk: arm_of(c.pk, 77, percents) for c in contacts}


def _campaign(include, **kwargs) -> Campaign:
    return services.campaign_create(name="Spring", channel=Channel.EMAIL, include=include, **kwargs)


def test_variant_choice_first_by_priority_else_default():
    vip, cz, rest = (ContactGroupFactory(code=c) for c in ("vip", "cz", "rest"))
    both, only_cz, only_rest = (ContactFactory(email=f"{n}@example.com") for n in ("both", "cz", "rest"))
    for group, contact in ((vip, both), (cz, both), (cz, only_cz), (rest, only_rest)):
        Membership.objects.create(group=group, contact=contact, via_manual=True)
    campaign = _campaign([vip, cz, rest], subject="Hi")
    v_cz = services.variant_save(campaign=campaign, group=cz, priority=1, subject="Ahoj")
    v_vip = services.variant_save(campaign=campaign, group=vip, priority=2, subject="Dear VIP")
    got = dict(selectors.assigned_audience(campaign=campaign).values_list("pk", "variant_id"))
    assert got == {both.pk: v_cz.pk, only_cz.pk: v_cz.pk, only_rest.pk: None}
    services.variant_save(campaign=campaign, variant=v_vip, group=vip, priority=0, subject="Dear VIP")
    got = dict(selectors.assigned_audience(campaign=campaign).values_list("pk", "variant_id"))
    assert got[both.pk] == v_vip.pk and got[only_cz.pk] == v_cz.pk
    cells = {(c.variant.pk if c.variant else None): c.count for c in selectors.audience_split(campaign=campaign)}
    assert cells == {v_vip.pk: 1, v_cz.pk: 1, None: 1}
    # three contacts of different variants for the preview
    previews = selectors.preview_contacts(campaign=campaign)
    assert {c.variant_id for c in previews} == {v_vip.pk, v_cz.pk, None}


def test_a_variant_needs_an_included_group_and_follows_it_out():
    vip, other = ContactGroupFactory(code="vip"), ContactGroupFactory(code="other")
    campaign = _campaign([vip])
    with pytest.raises(services.CampaignError, match="not one of the campaign's included groups"):
        services.variant_save(campaign=campaign, group=other, priority=1)
    services.variant_save(campaign=campaign, group=vip, priority=1, subject="x")
    services.campaign_update(campaign=campaign, name="Spring", channel=Channel.EMAIL, include=[other])
    assert not campaign.variants.exists()


@pytest.mark.parametrize(
    "percents, message",
    [([100], "2 to 4"), ([20, 20, 20, 20, 20], "2 to 4"), ([50, 40], "add up to 90"), ([0, 100], "between 1 and 99")],
)
def test_split_is_refused_unless_two_to_four_arms_adding_to_100(percents, message):
    campaign = _campaign([ContactGroupFactory(code="g")])
    with pytest.raises(services.CampaignError, match=message):
        services.split_set(campaign=campaign, arms=[services.ArmInput(percent=p) for p in percents])
    assert not campaign.arms.exists()
    arms = services.split_set(campaign=campaign, arms=[services.ArmInput(percent=60), services.ArmInput(percent=40)])
    assert [(a.label, a.percent) for a in arms] == [("A", 60), ("B", 40)]


def test_the_audience_report_is_the_breakdown_and_the_split_in_one_query():
    vip, cz, blocked = (ContactGroupFactory(code=c) for c in ("vip", "cz", "blocked"))
    for i in range(30):
        contact = ContactFactory(email=f"r{i}@example.com" if i % 5 else None)
        for k, group in enumerate((vip, cz, blocked)):
            if (i >> k) & 1 or k == 0 and i % 3 == 0:
                Membership.objects.create(group=group, contact=contact, via_manual=True)
    campaign = _campaign([vip, cz], exclude=[blocked])
    services.variant_save(campaign=campaign, group=cz, priority=1, subject="CZ")
    services.split_set(campaign=campaign, arms=[services.ArmInput(percent=30), services.ArmInput(percent=70)])
    with CaptureQueriesContext(connection) as queries:
        breakdown, cells = selectors.audience_report(campaign=campaign)
    grouped = [q for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert len(grouped) == 1
    assert breakdown == selectors.audience_breakdown(spec=selectors.audience_spec(campaign=campaign))
    assert cells == selectors.audience_split(campaign=campaign)
    assert sum(c.count for c in cells) == breakdown.audience > 0
