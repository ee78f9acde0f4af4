"""Audience arithmetic against a Python oracle on random data: include / exclude / dedupe / address /
consent / unsubscribed / merged, and the reasons' counts (each left-out candidate counted once, under
its first reason)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import selectors
from campaigns.models import Channel, Unsubscribe
from campaigns.selectors import AudienceSpec
from contacts.models import Contact, ContactConsent
from segments.models import Membership
from tests.factories import ConsentFactory, ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db

N_GROUPS = 4
person = st.fixed_dictionaries(
    {
        "groups": st.sets(st.integers(0, N_GROUPS - 1), max_size=N_GROUPS),
        "email": st.booleans(),
        "phone": st.booleans(),
        "consent": st.sampled_from(["none", "agreed", "revoked"]),
        "unsub": st.sets(st.sampled_from([Channel.EMAIL, Channel.SMS])),
        "merged_into": st.one_of(st.none(), st.integers(0, 6)),  # small: most merges find their target
    }
)
scenario = st.fixed_dictionaries(
    {
        "people": st.lists(person, min_size=2, max_size=30),
        "include": st.sets(st.integers(0, N_GROUPS - 1), min_size=1, max_size=3),
        "exclude": st.lists(st.integers(0, N_GROUPS - 1), max_size=2, unique=True),
        "channel": st.sampled_from([Channel.EMAIL, Channel.SMS]),
        "needs_consent": st.booleans(),
    }
)


def build(people):
    Contact.objects.all().delete()
    groups = [ContactGroupFactory(code=f"g{i}") for i in range(N_GROUPS)]
    consent = ConsentFactory(code="newsletter")
    contacts = [
        ContactFactory(email=f"p{i}@example.com" if p["email"] else None, phone="+420600000000" if p["phone"] else "")
        for i, p in enumerate(people)
    ]
    rows = []
    for contact, p in zip(contacts, people, strict=True):
        target = p["merged_into"]
        merged = target is not None and target < len(contacts) and contacts[target] is not contact
        if merged and contacts[target].merged_into_id is None:
            contact.merged_into = contacts[target]
            contact.save(update_fields=["merged_into"])
        else:
            p["merged_into"] = None
        if contact.merged_into_id is None:  # the membership invariant: merged contacts hold no memberships
            rows += [Membership(group=groups[g], contact=contact, via_manual=True) for g in p["groups"]]
        if p["consent"] != "none":
            ContactConsent.objects.create(
                contact=contact, consent=consent, revoked_at=contact.created_at if p["consent"] == "revoked" else None
            )
        for channel in p["unsub"]:
            Unsubscribe.objects.create(contact=contact, channel=channel)
    Membership.objects.bulk_create(rows)
    return groups, consent, contacts


def oracle(people, contacts, groups, spec):
    """(audience ids, reason → count) computed in Python."""
    index = {c.pk: i for i, c in enumerate(contacts)}
    members = {g.pk: set() for g in groups}
    for m in Membership.objects.all():
        members[m.group_id].add(m.contact_id)
    audience, reasons = set(), {}
    for contact, p in zip(contacts, people, strict=True):
        if contact.merged_into_id is not None:
            continue
        if not any(contact.pk in members[g] for g in spec.include):
            continue
        unsub = spec.channel in p["unsub"] or any(
            spec.channel in people[index[c.pk]]["unsub"] for c in contacts if c.merged_into_id == contact.pk
        )
        address = p["email"] if spec.channel == Channel.EMAIL else p["phone"]
        reason = next((f"group:{g}" for g in spec.exclude if contact.pk in members[g]), None)
        if reason is None and not address:
            reason = "no_address"
        if reason is None and unsub:
            reason = "unsubscribed"
        if reason is None and spec.consent_id is not None and p["consent"] != "agreed":
            reason = "no_consent"
        if reason is None:
            audience.add(contact.pk)
        else:
            reasons[reason] = reasons.get(reason, 0) + 1
    return audience, reasons


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=scenario)
def test_audience_matches_the_python_oracle(case):
    groups, consent, contacts = build(case["people"])
    spec = AudienceSpec(
        channel=case["channel"],
        include=tuple(groups[i].pk for i in sorted(case["include"])),
        exclude=tuple(groups[i].pk for i in case["exclude"] if i not in case["include"]),
        consent_id=consent.pk if case["needs_consent"] else None,
    )
    expected, expected_reasons = oracle(case["people"], contacts, groups, spec)
    got = set(selectors.audience_contacts(spec=spec).values_list("pk", flat=True))
    assert got == expected
    breakdown = selectors.audience_breakdown(spec=spec)
    assert breakdown.audience == len(expected)
    assert {r.key: r.count for r in breakdown.reasons if r.count} == expected_reasons
    assert breakdown.candidates == breakdown.audience + sum(r.count for r in breakdown.reasons)
    # deduplicated: a contact in several included groups is counted once
    assert selectors.audience_contacts(spec=spec).count() == len(got)


def test_reasons_are_named_and_counted_once_in_order():
    vip, blocked = ContactGroupFactory(code="vip", name="VIP"), ContactGroupFactory(code="blocked", name="Blocked")
    consent = ConsentFactory(code="news")
    ok = ContactFactory(email="ok@example.com")
    ContactConsent.objects.create(contact=ok, consent=consent)
    excluded_and_no_email = ContactFactory(email=None)
    no_email = ContactFactory(email=None)
    unsub = ContactFactory(email="u@example.com")
    Unsubscribe.objects.create(contact=unsub, channel=Channel.EMAIL)
    no_consent = ContactFactory(email="n@example.com")
    for c in (ok, excluded_and_no_email, no_email, unsub, no_consent):
        Membership.objects.create(group=vip, contact=c, via_manual=True)
    Membership.objects.create(group=blocked, contact=excluded_and_no_email, via_manual=True)
    spec = AudienceSpec(channel=Channel.EMAIL, include=(vip.pk,), exclude=(blocked.pk,), consent_id=consent.pk)
    breakdown = selectors.audience_breakdown(spec=spec)
    assert [(r.label, r.count) for r in breakdown.reasons] == [
        ("excluded by group “Blocked”", 1),
        ("no email address", 1),
        ("unsubscribed", 1),
        ("no consent", 1),
    ]
    assert breakdown.audience == 1 and breakdown.candidates == 5
    assert list(selectors.audience_contacts(spec=spec)) == [ok]


def test_an_unsubscribe_of_a_merged_contact_counts_for_its_parent():
    group = ContactGroupFactory(code="all_people")
    parent = ContactFactory(email="parent@example.com")
    child = ContactFactory(email="child@example.com", merged_into=parent)
    Membership.objects.create(group=group, contact=parent, via_manual=True)
    spec = AudienceSpec(channel=Channel.EMAIL, include=(group.pk,))
    assert list(selectors.audience_contacts(spec=spec)) == [parent]
    Unsubscribe.objects.create(contact=child, channel=Channel.EMAIL)
    assert list(selectors.audience_contacts(spec=spec)) == []
    assert list(selectors.audience_contacts(spec=AudienceSpec(channel=Channel.SMS, include=(group.pk,)))) == []


def test_no_included_group_means_nobody():
    ContactGroupFactory(code="g")
    assert selectors.audience_breakdown(spec=AudienceSpec(channel=Channel.EMAIL, include=())).audience == 0


def test_the_audience_reads_consent_as_the_rule_engine_does():
    newsletter, other = ConsentFactory(code="newsletter"), ConsentFactory(code="other")
    group = ContactGroupFactory(code="all")
    people = {name: ContactFactory(email=f"{name}@example.com") for name in ("agreed", "revoked", "other", "none")}
    ContactConsent.objects.create(contact=people["agreed"], consent=newsletter)
    ContactConsent.objects.create(contact=people["revoked"], consent=newsletter, revoked_at="2026-01-01T00:00Z")
    ContactConsent.objects.create(contact=people["other"], consent=other)
    Membership.objects.bulk_create([Membership(group=group, contact=c, via_manual=True) for c in people.values()])
    spec = AudienceSpec(channel=Channel.EMAIL, include=(group.pk,), consent_id=newsletter.pk)
    reached = set(selectors.audience_contacts(spec=spec).values_list("pk", flat=True))
    from campaigns.selectors.audience import consent_agreed

    assert reached == set(Contact.objects.filter(consent_agreed("newsletter")).values_list("pk", flat=True))
    assert reached == {people["agreed"].pk}
