"""factory_boy factories for every model, in one place."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import Account, Activity, Consent, Contact, ContactConsent, ContactField
from contacts.services.activity_days import activity_days_add, day_counts
from segments.models import ContactGroup, GroupAccount, Membership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("secret-pass-123")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n}")
    domain = factory.LazyAttribute(lambda a: f"{a.name.lower().replace(' ', '')}.example")
    industry = "Software"
    country = "CZ"
    employees = 50


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    country = "CZ"
    city = "Prague"
    job_title = "Marketing manager"
    lead_score = 10
    custom = factory.LazyFunction(dict)


class ContactFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactField
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda f: f.code.replace("_", " ").capitalize())
    type = "text"
    choices = factory.LazyFunction(list)
    order = factory.Sequence(lambda n: n)


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    subject = "Hello"


class ActivityFactory(factory.django.DjangoModelFactory):
    """An activity written around the services (no signal, no last_activity_at: call
    contacts_refresh_last_activity for that), but counted in the daily roll-up, which the rule engine
    reads for whole days: a factory activity must count as a recorded one does."""

    class Meta:
        model = Activity

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        activity = super()._create(model_class, *args, **kwargs)
        activity_days_add(counts=day_counts([(activity.contact_id, activity.occurred_at, activity.type, activity.url)]))
        return activity

    contact = factory.SubFactory(ContactFactory)
    type = "page_visit"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    url = "https://example.com/pricing"
    title = "Pricing"
    data = factory.LazyFunction(dict)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"consent_{n}")
    name = factory.LazyAttribute(lambda c: c.code.replace("_", " ").capitalize())


class ContactConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactConsent

    contact = factory.SubFactory(ContactFactory)
    consent = factory.SubFactory(ConsentFactory)
    agreed_at = factory.LazyFunction(timezone.now)


class ContactGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactGroup
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"group_{n}")
    name = factory.LazyAttribute(lambda g: g.code.replace("_", " ").capitalize())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    group = factory.SubFactory(ContactGroupFactory)
    contact = factory.SubFactory(ContactFactory)
    via_manual = True


class GroupAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GroupAccount

    group = factory.SubFactory(ContactGroupFactory)
    account = factory.SubFactory(AccountFactory)
