"""Realistic, deterministic demo data: accounts, contacts, custom fields, consents and activities.

Invariant: the same seed and the same `now` give the same data (every random draw comes from a
`random.Random` seeded here, never from the database or from `hash()`); dates are relative to `now`
so the demo stays fresh. `demo_data_seed` only fills a database that holds no contacts (or one it
was told to reset), so running it twice never duplicates anything. Every e-mail and web domain ends
in the reserved `.example` top-level domain (RFC 2606): demo data can never reach a real mailbox.

Extension point: other apps add their own demo data (e.g. sample contact groups) without
`contacts` importing them. Put a `demo.py` module in the app and register a step:

    from contacts.demo import DemoContext, demo_step

    @demo_step(order=100)
    def seed_sample_groups(ctx: DemoContext) -> str | None:
        ...  # idempotent; ctx.created is True when the contacts were (re)generated in this run
        return "Created 4 sample groups"  # printed by seed_demo (None prints nothing)

`seed_demo` imports every installed app's `demo` module (`autodiscover_modules("demo")`) and runs
the registered steps, in `order`, after the contacts exist.

The static vocabularies below are also used by `bench.generate`, so the benchmark data has the
same custom fields, consents and pages as the demo.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from contacts.custom_fields import field_value
from contacts.models import Account, Activity, ActivityType, Consent, Contact, ContactConsent, ContactField, name_key
from contacts.roles import Role
from contacts.services import ActivityRow, activities_delete_all, activities_load, activity_rises_fold

# ---------------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------------


class CountryData(NamedTuple):
    weight: int  # relative share of contacts
    male_first: tuple[str, ...]
    female_first: tuple[str, ...]
    last: tuple[tuple[str, str], ...]  # (male form, female form): Czech, Slovak and Polish surnames differ
    cities: tuple[str, ...]
    phone_format: str  # "#" is a random digit; fictional ranges where a country has them (US, GB)
    company_suffixes: tuple[str, ...]
    language: str  # a choice code of the custom field "preferred_language"


def _same(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, n) for n in names)


COUNTRIES: dict[str, CountryData] = {
    "CZ": CountryData(
        30,
        ("Jan", "Petr", "Jiří", "Tomáš", "Martin", "Pavel", "Jakub", "Lukáš", "Ondřej", "Michal", "David", "Vojtěch"),
        ("Eva", "Jana", "Tereza", "Lucie", "Kateřina", "Petra", "Veronika", "Markéta", "Barbora", "Anna", "Klára"),
        (
            ("Novák", "Nováková"),
            ("Svoboda", "Svobodová"),
            ("Novotný", "Novotná"),
            ("Dvořák", "Dvořáková"),
            ("Černý", "Černá"),
            ("Procházka", "Procházková"),
            ("Kučera", "Kučerová"),
            ("Veselý", "Veselá"),
            ("Horák", "Horáková"),
            ("Němec", "Němcová"),
            ("Marek", "Marková"),
            ("Pokorný", "Pokorná"),
            ("Růžička", "Růžičková"),
            ("Beneš", "Benešová"),
            ("Fiala", "Fialová"),
            ("Sedláček", "Sedláčková"),
        ),
        ("Praha", "Brno", "Ostrava", "Plzeň", "Olomouc", "Liberec", "České Budějovice", "Hradec Králové"),
        "+420 6## ### ###",
        ("s.r.o.", "a.s."),
        "cs",
    ),
    "DE": CountryData(
        15,
        ("Lukas", "Maximilian", "Felix", "Jonas", "Leon", "Paul", "Thomas", "Stefan", "Michael", "Andreas"),
        ("Anna", "Sophie", "Marie", "Laura", "Julia", "Katharina", "Sabine", "Claudia", "Lena", "Hannah"),
        _same(
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "Koch",
            "Richter",
            "Bauer",
            "Klein",
            "Wolf",
            "Neumann",
        ),
        ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Düsseldorf", "Leipzig"),
        "+49 15# ########",
        ("GmbH", "AG", "GmbH & Co. KG"),
        "de",
    ),
    "US": CountryData(
        12,
        ("James", "John", "Robert", "Michael", "William", "David", "Daniel", "Matthew", "Ryan", "Ethan"),
        ("Mary", "Jennifer", "Linda", "Emily", "Jessica", "Sarah", "Ashley", "Olivia", "Emma", "Madison"),
        _same(
            "Smith",
            "Johnson",
            "Williams",
            "Brown",
            "Jones",
            "Miller",
            "Davis",
            "Garcia",
            "Wilson",
            "Anderson",
            "Taylor",
            "Thomas",
            "Moore",
            "Martin",
            "Jackson",
            "Thompson",
        ),
        ("New York", "San Francisco", "Chicago", "Austin", "Boston", "Seattle", "Denver", "Atlanta"),
        "+1 2## 555 01##",
        ("Inc.", "LLC", "Corp."),
        "en",
    ),
    "GB": CountryData(
        8,
        ("Oliver", "George", "Harry", "Jack", "Charlie", "Thomas", "James", "William", "Alfie", "Henry"),
        ("Amelia", "Olivia", "Isla", "Emily", "Poppy", "Ava", "Jessica", "Sophie", "Charlotte", "Grace"),
        _same(
            "Smith",
            "Jones",
            "Taylor",
            "Brown",
            "Williams",
            "Wilson",
            "Evans",
            "Thomas",
            "Roberts",
            "Walker",
            "Wright",
            "Hughes",
            "Edwards",
            "Green",
            "Hall",
            "Wood",
        ),
        ("London", "Manchester", "Birmingham", "Leeds", "Bristol", "Edinburgh", "Glasgow", "Cambridge"),
        "+44 7700 900###",
        ("Ltd", "plc"),
        "en",
    ),
    "FR": CountryData(
        6,
        ("Louis", "Gabriel", "Léo", "Hugo", "Lucas", "Nicolas", "Julien", "Pierre", "Antoine", "Thomas"),
        ("Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Sarah", "Julie", "Claire", "Élise"),
        _same(
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Leroy",
            "Moreau",
            "Simon",
            "Laurent",
            "Lefèvre",
            "Michel",
            "Garnier",
            "Rousseau",
        ),
        ("Paris", "Lyon", "Marseille", "Toulouse", "Bordeaux", "Lille", "Nantes", "Strasbourg"),
        "+33 6 ## ## ## ##",
        ("SAS", "SARL", "SA"),
        "fr",
    ),
    "PL": CountryData(
        8,
        ("Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Michał", "Marcin", "Jakub", "Kamil", "Łukasz"),
        ("Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Magdalena", "Joanna", "Zofia", "Natalia", "Ewa", "Julia"),
        (
            ("Nowak", "Nowak"),
            ("Kowalski", "Kowalska"),
            ("Wiśniewski", "Wiśniewska"),
            ("Wójcik", "Wójcik"),
            ("Kowalczyk", "Kowalczyk"),
            ("Kamiński", "Kamińska"),
            ("Lewandowski", "Lewandowska"),
            ("Zieliński", "Zielińska"),
            ("Szymański", "Szymańska"),
            ("Woźniak", "Woźniak"),
            ("Dąbrowski", "Dąbrowska"),
            ("Kozłowski", "Kozłowska"),
        ),
        ("Warszawa", "Kraków", "Wrocław", "Poznań", "Gdańsk", "Łódź", "Katowice", "Lublin"),
        "+48 5## ### ###",
        ("sp. z o.o.", "S.A."),
        "pl",
    ),
    "SK": CountryData(
        7,
        ("Peter", "Martin", "Michal", "Tomáš", "Marek", "Juraj", "Lukáš", "Ján", "Matej", "Filip"),
        ("Jana", "Zuzana", "Mária", "Katarína", "Lucia", "Monika", "Simona", "Veronika", "Ivana", "Petra"),
        (
            ("Horváth", "Horváthová"),
            ("Kováč", "Kováčová"),
            ("Varga", "Vargová"),
            ("Tóth", "Tóthová"),
            ("Nagy", "Nagyová"),
            ("Baláž", "Balážová"),
            ("Szabó", "Szabóová"),
            ("Molnár", "Molnárová"),
            ("Lukáč", "Lukáčová"),
            ("Novák", "Nováková"),
            ("Kollár", "Kollárová"),
            ("Oravec", "Oravcová"),
        ),
        ("Bratislava", "Košice", "Prešov", "Žilina", "Nitra", "Banská Bystrica", "Trnava", "Trenčín"),
        "+421 9## ### ###",
        ("s.r.o.", "a.s."),
        "sk",
    ),
    "AT": CountryData(
        5,
        ("Lukas", "Tobias", "David", "Florian", "Simon", "Markus", "Christoph", "Alexander", "Elias", "Jakob"),
        ("Anna", "Lena", "Sarah", "Katharina", "Julia", "Johanna", "Magdalena", "Valentina", "Elena", "Theresa"),
        _same(
            "Gruber",
            "Huber",
            "Bauer",
            "Wagner",
            "Müller",
            "Pichler",
            "Steiner",
            "Moser",
            "Mayer",
            "Hofer",
            "Leitner",
            "Berger",
            "Fuchs",
            "Eder",
        ),
        ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Klagenfurt"),
        "+43 664 #######",
        ("GmbH", "AG"),
        "de",
    ),
    "NL": CountryData(
        4,
        ("Daan", "Sem", "Lucas", "Levi", "Bram", "Jesse", "Thijs", "Ruben", "Lars", "Stijn"),
        ("Emma", "Julia", "Sophie", "Tess", "Fleur", "Anna", "Lotte", "Sanne", "Eva", "Noor"),
        _same(
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "van Dijk",
            "Bakker",
            "Janssen",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
            "Mulder",
            "de Groot",
            "Bos",
        ),
        ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen"),
        "+31 6 ########",
        ("B.V.", "N.V."),
        "nl",
    ),
    "ES": CountryData(
        5,
        ("Hugo", "Martín", "Lucas", "Mateo", "Pablo", "Alejandro", "Javier", "Daniel", "Álvaro", "Diego"),
        ("Lucía", "Sofía", "Martina", "María", "Paula", "Julia", "Carmen", "Laura", "Elena", "Marta"),
        _same(
            "García",
            "Rodríguez",
            "González",
            "Fernández",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Martín",
            "Jiménez",
            "Ruiz",
            "Hernández",
            "Díaz",
        ),
        ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga", "Zaragoza"),
        "+34 6## ### ###",
        ("S.L.", "S.A."),
        "es",
    ),
}

INDUSTRIES = (
    "Software",
    "E-commerce",
    "Manufacturing",
    "Financial services",
    "Healthcare",
    "Education",
    "Retail",
    "Logistics",
    "Media",
    "Consulting",
    "Telecommunications",
    "Energy",
    "Travel",
    "Real estate",
    "Automotive",
)

# Company names are "<first> <second> <legal suffix>", e.g. "Blue Harbor Logistics s.r.o.".
COMPANY_FIRST = (
    "Blue",
    "North",
    "Bright",
    "Silver",
    "Green",
    "Red",
    "Swift",
    "Prime",
    "Nova",
    "Alpine",
    "Urban",
    "Golden",
    "Clear",
    "Smart",
    "Iron",
    "Cloud",
    "River",
    "Summit",
    "Atlas",
    "Vertex",
    "Orbit",
    "Pixel",
    "Maple",
    "Delta",
)
COMPANY_SECOND = (
    "Harbor",
    "Logistics",
    "Analytics",
    "Systems",
    "Labs",
    "Works",
    "Solutions",
    "Foods",
    "Media",
    "Energy",
    "Retail",
    "Health",
    "Digital",
    "Motors",
    "Finance",
    "Studio",
    "Networks",
    "Partners",
    "Robotics",
    "Textiles",
)

JOB_TITLES = (
    "Marketing Manager",
    "Head of Marketing",
    "CMO",
    "Marketing Specialist",
    "Content Manager",
    "E-mail Marketing Specialist",
    "Growth Lead",
    "Product Manager",
    "Sales Manager",
    "Account Executive",
    "CEO",
    "CTO",
    "Founder",
    "Operations Manager",
    "Data Analyst",
    "Software Engineer",
    "Customer Success Manager",
    "E-commerce Manager",
    "Brand Manager",
    "Digital Marketing Consultant",
    "Procurement Manager",
    "Business Development Manager",
    "HR Manager",
    "Office Manager",
)

FREE_MAIL_DOMAINS = ("mail.example", "inbox.example", "post.example", "webmail.example")
ROLE_MAILBOXES = ("info", "office", "sales", "marketing", "hello", "contact")

SITE = "https://www.example.com"

# (path, page title, relative weight) of the marketer's own website.
PAGES: tuple[tuple[str, str, int], ...] = (
    ("/", "Home", 20),
    ("/pricing", "Pricing", 9),
    ("/features/automation", "Features – Marketing automation", 6),
    ("/features/segmentation", "Features – Segmentation", 6),
    ("/features/email", "Features – E-mail campaigns", 5),
    ("/features/sms", "Features – SMS campaigns", 3),
    ("/features/analytics", "Features – Analytics", 4),
    ("/integrations/shopify", "Integrations – Shopify", 2),
    ("/integrations/salesforce", "Integrations – Salesforce", 2),
    ("/customers", "Customer stories", 3),
    ("/blog/segmentation-basics", "Blog – Segmentation basics for busy marketers", 4),
    ("/blog/email-deliverability-checklist", "Blog – The e-mail deliverability checklist", 4),
    ("/blog/lead-scoring-101", "Blog – Lead scoring 101", 3),
    ("/blog/gdpr-consent-guide", "Blog – A practical GDPR consent guide", 3),
    ("/blog/abandoned-cart-flows", "Blog – Abandoned cart flows that work", 3),
    ("/blog/sms-marketing-timing", "Blog – When to send marketing SMS", 2),
    ("/docs/getting-started", "Docs – Getting started", 3),
    ("/docs/api", "Docs – API reference", 2),
    ("/webinars", "Webinars", 2),
    ("/about", "About us", 2),
    ("/contact", "Contact us", 2),
    ("/careers", "Careers", 1),
)

# (form code, page path, page title, relative weight)
FORMS: tuple[tuple[str, str, str, int], ...] = (
    ("demo-request", "/demo", "Request a demo", 3),
    ("newsletter-signup", "/blog", "Newsletter sign-up", 4),
    ("contact-us", "/contact", "Contact us", 2),
    ("webinar-registration", "/webinars", "Webinar registration", 2),
    ("ebook-download", "/resources/segmentation-ebook", "E-book: The segmentation playbook", 2),
)
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
CONTACT_TOPICS = ("pricing", "partnership", "support", "integration")
WEBINARS = ("Segmentation 101", "Automating the customer journey", "E-mail deliverability in practice")

# (product, price in EUR)
PRODUCTS: tuple[tuple[str, int], ...] = (
    ("Starter plan (monthly)", 49),
    ("Starter plan (annual)", 490),
    ("Pro plan (monthly)", 149),
    ("Pro plan (annual)", 1490),
    ("Enterprise plan (annual)", 9900),
    ("SMS credits 10,000", 390),
    ("Onboarding package", 1200),
    ("Extra seats (5)", 250),
)
CUSTOM_EVENTS = (
    ("trial_started", "Trial started"),
    ("app_login", "Logged in to the app"),
    ("webinar_attended", "Attended a webinar"),
    ("integration_connected", "Connected an integration"),
)
SMS_TEXTS = (
    "Your trial ends in 3 days – upgrade today and keep your segments.",
    "Webinar starts in one hour: Segmentation 101.",
    "Spring offer: 20 % off annual plans until Friday.",
)

# (activity type, relative weight)
ACTIVITY_MIX: tuple[tuple[str, int], ...] = (
    (ActivityType.PAGE_VISIT, 50),
    (ActivityType.EMAIL_SENT, 14),
    (ActivityType.EMAIL_OPEN, 12),
    (ActivityType.EMAIL_CLICK, 6),
    (ActivityType.FORM_SUBMISSION, 6),
    (ActivityType.SMS_SENT, 4),
    (ActivityType.PURCHASE, 3),
    (ActivityType.CUSTOM, 5),
)

# Custom contact fields of every type. The codes are relied on by the benchmarks (bench/).
PLAN_CHOICES = ("free", "starter", "pro", "enterprise")
INTEREST_CHOICES = ("analytics", "automation", "email", "sms", "social", "ecommerce")


class FieldDefinition(NamedTuple):
    code: str
    label: str
    type: str
    choices: tuple[tuple[str, str], ...] = ()
    help_text: str = ""
    is_active: bool = True


FIELD_DEFINITIONS: tuple[FieldDefinition, ...] = (
    FieldDefinition(
        "plan", "Plan", "choice", tuple((c, c.capitalize()) for c in PLAN_CHOICES), "The product plan they use."
    ),
    FieldDefinition(
        "interests",
        "Interests",
        "multi_choice",
        (
            ("analytics", "Analytics"),
            ("automation", "Automation"),
            ("email", "E-mail"),
            ("sms", "SMS"),
            ("social", "Social media"),
            ("ecommerce", "E-commerce"),
        ),
        "Topics they asked about.",
    ),
    FieldDefinition(
        "preferred_language",
        "Preferred language",
        "choice",
        (
            ("cs", "Czech"),
            ("sk", "Slovak"),
            ("de", "German"),
            ("en", "English"),
            ("fr", "French"),
            ("pl", "Polish"),
            ("nl", "Dutch"),
            ("es", "Spanish"),
        ),
    ),
    FieldDefinition("birthday", "Birthday", "date"),
    FieldDefinition("is_customer", "Customer", "boolean", help_text="Has a paid subscription."),
    FieldDefinition("annual_budget", "Annual budget (EUR)", "number", help_text="Marketing budget they mentioned."),
    FieldDefinition("website", "Website", "url"),
    FieldDefinition("secondary_email", "Secondary e-mail", "email"),
    FieldDefinition("mobile", "Mobile phone", "phone"),
    # Not "Favourite product": README's tutorial adds that field itself (the code stays: bench data uses it).
    FieldDefinition("favourite_product", "Most used product", "text"),
    # Retired: hidden and unusable in new rules, but the old values stay on contacts.
    FieldDefinition(
        "legacy_source", "Lead source (old CRM)", "text", help_text="Imported from the old CRM.", is_active=False
    ),
)
FAVOURITE_PRODUCTS = (
    "Segment builder",
    "E-mail editor",
    "SMS campaigns",
    "Lead scoring",
    "Reports",
    "Shopify integration",
    "A/B tests",
    "Landing pages",
)
LEGACY_SOURCES = ("trade fair", "cold call", "partner referral", "webinar", "purchased list")

# (code, name, description)
CONSENTS: tuple[tuple[str, str, str], ...] = (
    ("newsletter", "Newsletter", "Monthly newsletter by e-mail."),
    ("sms", "SMS marketing", "Offers and reminders by SMS."),
    ("product_updates", "Product updates", "E-mails about new features and changes."),
)

# Characters that Unicode decomposition does not turn into ASCII.
_ASCII_FALLBACK = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "Ø": "O", "đ": "d", "æ": "ae"})


def ascii_slug(text: str, sep: str = "") -> str:
    """Lower-case ASCII letters and digits of `text` (diacritics dropped), words joined by `sep`."""
    plain = unicodedata.normalize("NFKD", text.translate(_ASCII_FALLBACK)).encode("ascii", "ignore").decode()
    words = ["".join(ch for ch in word if ch.isalnum()) for word in plain.lower().split()]
    return sep.join(w for w in words if w)


# ---------------------------------------------------------------------------------------------
# Extension point
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoContext:
    """What a demo step gets: the run's seed and `now`, and whether contacts were (re)generated."""

    seed: int
    now: dt.datetime
    created: bool
    rng: random.Random


DemoStep = Callable[[DemoContext], "str | None"]
_STEPS: list[tuple[int, str, DemoStep]] = []


def demo_step(*, order: int = 100) -> Callable[[DemoStep], DemoStep]:
    """Register a function that adds demo data after the contacts exist (see the module docstring)."""

    def register(func: DemoStep) -> DemoStep:
        name = f"{func.__module__}.{func.__qualname__}"
        if all(existing != name for _, existing, _ in _STEPS):  # re-imports must not register twice
            _STEPS.append((order, name, func))
        return func

    return register


def demo_steps() -> list[tuple[str, DemoStep]]:
    """The registered demo steps as (dotted name, function), in the order they run."""
    return [(name, func) for _, name, func in sorted(_STEPS, key=lambda s: (s[0], s[1]))]


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    created: bool = False
    existing_contacts: int = 0
    deleted_contacts: int = 0
    accounts: int = 0
    contacts: int = 0
    merged: int = 0
    activities: int = 0
    consents: int = 0
    fields_created: list[str] = field(default_factory=list)
    consents_created: list[str] = field(default_factory=list)
    seconds: float = 0.0


# Demo labels renamed since an earlier seed (code: (old label, new label)); seeding renames them once.
RENAMED_FIELD_LABELS = {"favourite_product": ("Favourite product", "Most used product")}


def demo_fields_ensure() -> tuple[dict[str, ContactField], list[str]]:
    """Create the demo custom fields that do not exist yet (never alters existing ones, except a demo label
    renamed since: see RENAMED_FIELD_LABELS); returns (fields, created)."""
    created: list[str] = []
    fields: dict[str, ContactField] = {}
    for code, (old, new) in RENAMED_FIELD_LABELS.items():
        renamed = ContactField.objects.filter(code=code, label=old).first()
        if renamed is not None and not ContactField.objects.filter(label_key=name_key(new)).exists():
            renamed.label = new
            renamed.save(update_fields=["label"])
    for order, definition in enumerate(FIELD_DEFINITIONS, start=1):
        obj, was_created = ContactField.objects.get_or_create(
            code=definition.code,
            defaults={
                "label": definition.label,
                "type": definition.type,
                "choices": [{"code": c, "label": label} for c, label in definition.choices],
                "help_text": definition.help_text,
                "order": order * 10,
                "is_active": definition.is_active,
            },
        )
        fields[obj.code] = obj
        if was_created:
            created.append(obj.code)
    return fields, created


def demo_consents_ensure() -> tuple[dict[str, Consent], list[str]]:
    """Create the demo consents that do not exist yet; returns (consents by code, created codes)."""
    created: list[str] = []
    consents: dict[str, Consent] = {}
    for code, name, description in CONSENTS:
        obj, was_created = Consent.objects.get_or_create(code=code, defaults={"name": name, "description": description})
        consents[code] = obj
        if was_created:
            created.append(code)
    return consents, created


@transaction.atomic
def demo_data_delete() -> int:
    """Delete every contact, account, activity and contact consent (not fields or consents); returns contacts."""
    count = Contact.objects.count()
    activities_delete_all()
    ContactConsent.objects.all().delete()
    Contact.objects.exclude(merged_into=None).delete()
    Contact.objects.all().delete()
    Account.objects.all().delete()
    return count


def _ids_restart() -> None:
    """Ids from 1 in the emptied demo tables: the same seed gives the same ids (A/B arms hash the contact's id)."""
    models = (Contact, Account, Activity, ContactConsent)
    if any(model.objects.exists() for model in models):
        return
    tables = [{"table": model._meta.db_table, "column": "id"} for model in models]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_by_name_sql(no_style(), tables):
            cursor.execute(statement)


@transaction.atomic
def demo_data_seed(
    *, contacts: int = 5000, seed: int = 42, now: dt.datetime | None = None, reset: bool = False
) -> DemoResult:
    """Fill an empty database (or, with reset, a wiped one) with demo data; never duplicates."""
    started = time.perf_counter()
    now = now or timezone.now().replace(second=0, microsecond=0)
    result = DemoResult()
    fields, result.fields_created = demo_fields_ensure()
    consents, result.consents_created = demo_consents_ensure()
    if reset:
        result.deleted_contacts = demo_data_delete()
    result.existing_contacts = Contact.objects.count()
    if result.existing_contacts == 0 and contacts > 0:
        _ids_restart()
        generator = _Generator(seed=seed, now=now, fields=fields, consents=consents)
        generator.run(contacts=contacts, result=result)
        result.created = True
    result.seconds = time.perf_counter() - started
    return result


# username, password, role, Django superuser (the Admin role also gets the Django admin site)
DEMO_USERS: tuple[tuple[str, str, Role, bool], ...] = (
    ("marketer", "marketer-demo", Role.MARKETER, False),
    ("admin", "admin-demo", Role.ADMIN, True),
    ("staff", "staff-demo", Role.STAFF, False),
)


@transaction.atomic
def demo_users_ensure() -> list[tuple[str, str, Role, bool]]:
    """Create or reset the demo logins (demo password, only their role's group); returns (name, password, role, new)."""
    User = get_user_model()
    result = []
    for username, password, role, superuser in DEMO_USERS:
        group = Group.objects.get(name=role.value)  # created by the contacts roles migration
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.set_password(password)
        user.is_active = True
        user.is_staff = superuser
        user.is_superuser = superuser
        user.save()
        user.groups.set([group])
        result.append((username, password, role, created))
    return result


def demo_steps_run(*, seed: int, now: dt.datetime, created: bool) -> list[tuple[str, str | None]]:
    """Run the registered demo steps of other apps; returns (step name, its summary line)."""
    lines: list[tuple[str, str | None]] = []
    for name, func in demo_steps():
        ctx = DemoContext(seed=seed, now=now, created=created, rng=random.Random(f"{seed}:{name}"))
        with transaction.atomic():
            lines.append((name, func(ctx)))
    activity_rises_fold()  # the activities the steps recorded (campaign opens…): their times onto the contact rows
    return lines


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------

DAY = dt.timedelta(days=1)
BATCH = 5000


@dataclass
class _Plan:
    """What the activity pass needs to know about one generated contact."""

    contact: Contact
    profile: str  # "normal", "dormant" (nothing in the last year), "hot" (recent pricing visits), "silent"
    customer: bool


class _Generator:
    def __init__(
        self, *, seed: int, now: dt.datetime, fields: dict[str, ContactField], consents: dict[str, Consent]
    ) -> None:
        self.seed = seed
        self.now = now
        self.fields = fields
        self.consents = consents
        self.emails: set[str] = set()
        self.countries = list(COUNTRIES)
        self.country_weights = [COUNTRIES[c].weight for c in self.countries]
        self.pages = [p[:2] for p in PAGES]
        self.page_weights = [p[2] for p in PAGES]
        self.forms = [f[:3] for f in FORMS]
        self.form_weights = [f[3] for f in FORMS]
        self.activity_types = [t for t, _ in ACTIVITY_MIX]
        self.activity_weights = [w for _, w in ACTIVITY_MIX]

    # -- helpers ----------------------------------------------------------------------------

    def _rng(self, part: str) -> random.Random:
        # One independent stream per part, so e.g. a change in activities never shifts contact names.
        return random.Random(f"demo:{self.seed}:{part}")

    def _country(self, rng: random.Random) -> str:
        return rng.choices(self.countries, self.country_weights)[0]

    @staticmethod
    def _phone(rng: random.Random, country: str) -> str:
        return "".join(str(rng.randint(0, 9)) if ch == "#" else ch for ch in COUNTRIES[country].phone_format)

    def _unique_email(self, local: str, domain: str, rng: random.Random) -> str:
        email = f"{local}@{domain}"
        while email.lower() in self.emails:
            email = f"{local}{rng.randint(2, 999)}@{domain}"
        self.emails.add(email.lower())
        return email

    def _ago(self, rng: random.Random, low_days: float, high_days: float) -> dt.datetime:
        return self.now - dt.timedelta(days=rng.uniform(low_days, high_days))

    # -- accounts ---------------------------------------------------------------------------

    def accounts(self, count: int) -> list[Account]:
        rng = self._rng("accounts")
        accounts: list[Account] = []
        names: set[str] = set()
        domains: set[str] = set()
        for _ in range(count):
            country = self._country(rng)
            first, second = rng.choice(COMPANY_FIRST), rng.choice(COMPANY_SECOND)
            base = f"{first} {second}"
            if base in names:
                base = f"{base} {rng.choice(COUNTRIES[country].cities)}"
            names.add(base)
            domain = f"{ascii_slug(base, '-')}.example"
            while domain in domains:
                domain = f"{ascii_slug(base, '-')}-{rng.randint(2, 99)}.example"
            domains.add(domain)
            employees = max(1, min(50_000, int(rng.lognormvariate(3.6, 1.5))))
            accounts.append(
                Account(
                    name=f"{base} {rng.choice(COUNTRIES[country].company_suffixes)}",
                    domain=domain,
                    industry=rng.choice(INDUSTRIES),
                    country=country,
                    employees=None if rng.random() < 0.08 else employees,
                    created_at=self._ago(rng, 30, 1500),
                )
            )
        return accounts

    # -- contacts ---------------------------------------------------------------------------

    def _custom(
        self, rng: random.Random, *, country: str, first: str, last: str, account: Account | None
    ) -> tuple[dict[str, Any], bool]:
        values: dict[str, Any] = {}
        roll = rng.random()
        plan = None
        if roll < 0.9:
            big = account is not None and (account.employees or 0) > 500
            plan = rng.choices(PLAN_CHOICES, (25, 25, 30, 20) if big else (45, 28, 19, 8))[0]
            values["plan"] = plan
        if rng.random() < 0.75:
            values["interests"] = [code for code in INTEREST_CHOICES if rng.random() < 0.3]
        if rng.random() < 0.7:
            values["preferred_language"] = COUNTRIES[country].language if rng.random() < 0.85 else "en"
        if rng.random() < 0.45:
            values["birthday"] = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randint(0, 43 * 365))
        customer = plan in ("starter", "pro", "enterprise") and rng.random() < 0.85
        if rng.random() < 0.8:
            values["is_customer"] = customer
        if rng.random() < 0.4:
            budget = round(rng.lognormvariate(9.3, 1.0), -2)
            values["annual_budget"] = budget + 0.5 if rng.random() < 0.05 else int(budget)
        if account is not None and rng.random() < 0.7:
            values["website"] = f"https://www.{account.domain}"
        elif first and last and rng.random() < 0.08:
            values["website"] = f"https://{ascii_slug(first)}{ascii_slug(last)}.example"
        if first and rng.random() < 0.15:
            local = f"{ascii_slug(first)}.{ascii_slug(last) or 'private'}"
            values["secondary_email"] = f"{local}{rng.randint(1, 99)}@{rng.choice(FREE_MAIL_DOMAINS)}"
        if rng.random() < 0.45:
            values["mobile"] = self._phone(rng, country)
        if rng.random() < 0.3:
            values["favourite_product"] = rng.choice(FAVOURITE_PRODUCTS)
        if rng.random() < 0.2:
            values["legacy_source"] = rng.choice(LEGACY_SOURCES)
        return self._canonical(values), customer

    def _canonical(self, values: dict[str, Any]) -> dict[str, Any]:
        # The one validator decides; a value that does not fit an existing (admin-changed) field is left out.
        custom: dict[str, Any] = {}
        for code, raw in values.items():
            field_obj = self.fields.get(code)
            if field_obj is None:
                continue
            try:
                value = field_value(field=field_obj, value=raw)
            except ValidationError:
                continue
            if value is not None:
                custom[code] = value
        return custom

    def contacts(self, count: int, accounts: list[Account]) -> list[_Plan]:
        rng = self._rng("contacts")
        plans: list[_Plan] = []
        for _ in range(count):
            account = rng.choice(accounts) if accounts and rng.random() < 0.8 else None
            in_account_country = account is not None and rng.random() < 0.85
            country = str(account.country) if account is not None and in_account_country else self._country(rng)
            data = COUNTRIES[country]
            female = rng.random() < 0.5
            first = rng.choice(data.female_first if female else data.male_first)
            last = rng.choice(data.last)[1 if female else 0]
            roll = rng.random()
            if roll < 0.03:  # only an e-mail (e.g. a newsletter sign-up)
                first = last = ""
            elif roll < 0.06:
                last = ""
            email = None
            if rng.random() >= 0.05:  # about 5 % are anonymous (no e-mail, e.g. tracked web visitors)
                domain = account.domain if account is not None else rng.choice(FREE_MAIL_DOMAINS)
                f, la = ascii_slug(first), ascii_slug(last)
                if f and la:
                    local = rng.choice((f"{f}.{la}", f"{f[0]}.{la}", f"{f}{la}", f"{f}_{la}", f"{la}.{f}"))
                elif f:
                    local = f"{f}{rng.randint(1, 99)}"
                else:
                    local = rng.choice(ROLE_MAILBOXES) if account is not None else f"user{rng.randint(100, 99999)}"
                email = self._unique_email(local, domain, rng)
            profile = rng.choices(("normal", "dormant", "hot", "silent"), (78, 15, 4, 3))[0]
            created_at = self._ago(rng, 420, 1100) if profile == "dormant" else self._ago(rng, 35, 1100)
            score = int(rng.expovariate(1 / 14)) + (rng.randint(25, 60) if profile == "hot" else 0)
            custom, customer = self._custom(rng, country=country, first=first, last=last, account=account)
            contact = Contact(
                email=email,
                first_name=first,
                last_name=last,
                phone=self._phone(rng, country) if rng.random() < 0.6 else "",
                country=country,
                city=rng.choice(data.cities) if rng.random() < 0.9 else "",
                job_title=rng.choice(JOB_TITLES) if rng.random() < 0.85 else "",
                lead_score=min(score, 100),
                account=account,
                custom=custom,
                created_at=created_at,
            )
            plans.append(_Plan(contact=contact, profile=profile, customer=customer))
        return plans

    def merged(self, count: int, parents: list[Contact]) -> list[Contact]:
        """Older duplicates already merged into a parent: same person, an old private address."""
        rng = self._rng("merged")
        candidates = [c for c in parents if c.first_name and c.last_name]
        duplicates: list[Contact] = []
        for parent in rng.sample(candidates, min(count, len(candidates))):
            local = f"{ascii_slug(parent.first_name)}.{ascii_slug(parent.last_name)}"
            duplicates.append(
                Contact(
                    email=self._unique_email(local, rng.choice(FREE_MAIL_DOMAINS), rng),
                    first_name=parent.first_name,
                    last_name=parent.last_name,
                    country=parent.country,
                    city=parent.city,
                    merged_into=parent,
                    created_at=parent.created_at - dt.timedelta(days=rng.randint(1, 300)),
                )
            )
        return duplicates

    # -- consents ---------------------------------------------------------------------------

    def contact_consents(self, plans: list[_Plan]) -> list[ContactConsent]:
        rng = self._rng("consents")
        rows: list[ContactConsent] = []
        for plan in plans:
            contact = plan.contact
            reachable_by_sms = bool(contact.phone or contact.custom.get("mobile"))
            chances = {
                "newsletter": 0.6 if contact.email else 0.0,
                "sms": 0.35 if reachable_by_sms else 0.0,
                "product_updates": (0.7 if plan.customer else 0.3) if contact.email else 0.0,
            }
            for code, chance in chances.items():
                if code not in self.consents or rng.random() >= chance:
                    continue
                span = max((self.now - contact.created_at) / DAY, 1.0)
                agreed_at = contact.created_at + dt.timedelta(days=rng.uniform(0, span))
                revoked_at = None
                if rng.random() < 0.12:
                    revoked_at = agreed_at + (self.now - agreed_at) * rng.random()
                rows.append(
                    ContactConsent(
                        contact=contact, consent=self.consents[code], agreed_at=agreed_at, revoked_at=revoked_at
                    )
                )
        return rows

    # -- activities -------------------------------------------------------------------------

    def activities(self, plans: list[_Plan]) -> Iterator[ActivityRow]:
        rng = self._rng("activities")
        two_years_ago = self.now - 730 * DAY
        for plan in plans:
            if plan.profile == "silent":
                continue
            contact = plan.contact
            count = max(1, min(150, int(rng.lognormvariate(2.75, 0.75))))
            start = max(contact.created_at, two_years_ago)
            end = self.now - 366 * DAY if plan.profile == "dormant" else self.now - dt.timedelta(minutes=1)
            span = end - start
            hot = rng.randint(3, 6) if plan.profile == "hot" else 0
            for index in range(count):
                if index < hot:  # in the market: several pricing visits in the last four weeks
                    occurred = self.now - dt.timedelta(days=rng.uniform(0.01, 28))
                    yield ActivityRow(contact.pk, ActivityType.PAGE_VISIT, occurred, SITE + "/pricing", "Pricing")
                    continue
                # Skewed towards the recent past: more activity lately than two years ago.
                occurred = start + span * (rng.random() ** 0.6)
                yield self._activity(rng, contact, occurred)

    def _activity(self, rng: random.Random, contact: Contact, occurred: dt.datetime) -> ActivityRow:
        kind = rng.choices(self.activity_types, self.activity_weights)[0]
        if kind in (ActivityType.EMAIL_SENT, ActivityType.EMAIL_OPEN, ActivityType.EMAIL_CLICK) and not contact.email:
            kind = ActivityType.PAGE_VISIT
        if kind == ActivityType.PAGE_VISIT:
            path, title = rng.choices(self.pages, self.page_weights)[0]
            return ActivityRow(contact.pk, kind, occurred, SITE + path, title)
        newsletter = occurred.strftime("%B %Y newsletter")
        if kind in (ActivityType.EMAIL_SENT, ActivityType.EMAIL_OPEN):
            return ActivityRow(contact.pk, kind, occurred, "", newsletter)
        if kind == ActivityType.EMAIL_CLICK:
            path, _ = rng.choices(self.pages, self.page_weights)[0]
            url = f"{SITE}{path}?utm_source=newsletter&utm_medium=email&utm_campaign={occurred:%Y-%m}"
            return ActivityRow(contact.pk, kind, occurred, url, newsletter)
        if kind == ActivityType.FORM_SUBMISSION:
            code, path, title = rng.choices(self.forms, self.form_weights)[0]
            return ActivityRow(contact.pk, kind, occurred, SITE + path, title, data=self._form_data(rng, code, contact))
        if kind == ActivityType.SMS_SENT:
            return ActivityRow(contact.pk, kind, occurred, "", "Marketing SMS", data={"text": rng.choice(SMS_TEXTS)})
        if kind == ActivityType.PURCHASE:
            product, price = rng.choice(PRODUCTS)
            value = Decimal(price) if rng.random() < 0.8 else Decimal(price) * Decimal("0.8")
            order = {"order_id": f"SO-{occurred:%Y}-{rng.randint(1, 999999):06d}", "currency": "EUR"}
            return ActivityRow(contact.pk, kind, occurred, "", product, value=value, data=order)
        event, title = rng.choice(CUSTOM_EVENTS)
        data: dict[str, Any] = {"event": event}
        if event == "webinar_attended":
            data["webinar"] = rng.choice(WEBINARS)
        return ActivityRow(contact.pk, ActivityType.CUSTOM, occurred, "", title, data=data)

    @staticmethod
    def _form_data(rng: random.Random, code: str, contact: Contact) -> dict[str, Any]:
        data: dict[str, Any] = {"form": code}
        if code == "demo-request":
            data["company_size"] = rng.choice(COMPANY_SIZES)
            if contact.job_title:
                data["role"] = contact.job_title
        elif code == "contact-us":
            data["topic"] = rng.choice(CONTACT_TOPICS)
        elif code == "webinar-registration":
            data["webinar"] = rng.choice(WEBINARS)
        elif code == "ebook-download":
            data["ebook"] = "The segmentation playbook"
        if contact.email:
            data["email"] = contact.email
        return data

    # -- orchestration ----------------------------------------------------------------------

    def run(self, *, contacts: int, result: DemoResult) -> None:
        merged_count = contacts // 200
        accounts = self.accounts(max(1, round(contacts / 20)))
        Account.objects.bulk_create(accounts, batch_size=BATCH)
        result.accounts = len(accounts)

        plans = self.contacts(contacts - merged_count, accounts)
        Contact.objects.bulk_create([p.contact for p in plans], batch_size=BATCH)
        duplicates = self.merged(merged_count, [p.contact for p in plans])
        Contact.objects.bulk_create(duplicates, batch_size=BATCH)
        result.contacts = len(plans) + len(duplicates)
        result.merged = len(duplicates)

        consents = self.contact_consents(plans)
        ContactConsent.objects.bulk_create(consents, batch_size=BATCH)
        result.consents = len(consents)

        result.activities = activities_load(rows=self.activities(plans))
        activity_rises_fold()  # the newest activity times onto the contact rows now, not at the worker's next fold


def format_duration(seconds: float) -> str:
    """A duration for humans: 1.23 s, or 850 ms below a second."""
    return f"{seconds:.2f} s" if seconds >= 1 else f"{math.ceil(seconds * 1000)} ms"
