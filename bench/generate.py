"""`python -m bench.generate [--contacts N]`: fill the DATABASE_URL database (PostgreSQL) with benchmark data.

Realistic contacts (ten countries, names, e-mails, phones, accounts, custom values of every demo field
type), N/20 accounts, consents and about ten activities per contact over the last two years, generated
set-based inside PostgreSQL (INSERT … SELECT over generate_series). Runs `migrate` first and wipes
contacts, accounts, activities and contact consents (TRUNCATE … CASCADE: memberships go too).

Deterministic: every "random" value is `hashint8extended(<series index>, <salt>)` (PostgreSQL's seeded
64-bit hash, the one hash partitioning relies on), so the same --contacts and --now give the same rows,
ids included. Contact-level facts an activity needs (when the contact was created, whether it is
dormant, "hot" or merged) are pure functions of the contact id, so activities are generated without
reading the contacts table; a contact's activity times are stratified and increasing, so its newest one
(Contact.last_activity_at) is computed in the contacts INSERT itself (set-based, no UPDATE pass, no rises).

Profiles (by contact id): 15 % dormant (no activity in the last 366 days), 3 % "hot" (3-6 visits to
/pricing in the last 28 days, higher lead score), 3 % silent (no activity at all), 0.2 % merged into
the previous contact (no activities, no consents); the rest active, skewed towards the recent past.
Activities are inserted in time order (as a real table grows), so the heap correlates with occurred_at.
The daily roll-up of activities (contacts_activityday) is then filled from them in one INSERT … SELECT
(contacts.services.activity_days.activity_days_fill), as the product's data migration does.

Speed: secondary indexes and constraints are dropped before the load and rebuilt after it; contacts
and activities load on two connections at once, and the rebuild runs on two connections. The dropped
definitions are first committed to the table bench_pending_ddl, so an interrupted run is repaired by
the next one. VACUUM ANALYZE at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import connection_params, require_postgresql, setup_django, timed

DAYS_ACTIVE = 730  # activities span the last two years

# Salts: one per independent random draw. Keep them distinct.
S = {
    name: n
    for n, name in enumerate(
        [
            "acc_country",
            "acc_w1",
            "acc_w2",
            "acc_suffix",
            "acc_industry",
            "acc_emp1",
            "acc_emp2",
            "acc_null",
            "acc_created",
            "profile",
            "created",
            "merged",
            "has_account",
            "account",
            "in_acc_country",
            "country",
            "female",
            "first",
            "last",
            "names",
            "has_email",
            "free_domain",
            "phone_yes",
            "phone",
            "city_yes",
            "city",
            "job_yes",
            "job",
            "score",
            "hot_bonus",
            "plan_yes",
            "plan",
            "int_yes",
            "int1",
            "int2",
            "int3",
            "int4",
            "int5",
            "int6",
            "lang_yes",
            "lang_en",
            "bday_yes",
            "bday",
            "cust_yes",
            "cust",
            "budget_yes",
            "budget1",
            "budget2",
            "web_yes",
            "sec_yes",
            "sec_n",
            "mobile_yes",
            "mobile",
            "fav_yes",
            "fav",
            "legacy_yes",
            "legacy",
            "act_n",
            "act_type",
            "act_variant",
            "act_time",
            "hot_n",
            "hot_time",
            "consent",
            "agreed",
            "revoked",
            "revoked_at",
        ],
        start=101,
    )
}


def R(key: str, salt: str) -> str:
    """SQL: a deterministic pseudo-random integer in [0, 2^32) for (key, salt)."""
    return f"(hashint8extended(({key})::bigint, {S[salt]}) & 4294967295)"


def U(key: str, salt: str) -> str:
    """SQL: a deterministic pseudo-random float in [0, 1)."""
    return f"({R(key, salt)}::float8 / 4294967296.0)"


def profile(c: str) -> str:
    return f"({R(c, 'profile')} % 100)"


def is_dormant(c: str) -> str:
    return f"({profile(c)} < 15)"


def is_hot(c: str) -> str:
    return f"({profile(c)} BETWEEN 15 AND 17)"


def is_silent(c: str) -> str:
    return f"({profile(c)} BETWEEN 18 AND 20)"


def is_merged(c: str) -> str:
    # Merged into the previous contact, which is never merged itself.
    return f"(({c}) > 1 AND {R(c, 'merged')} % 500 = 0 AND {R(f'({c}) - 1', 'merged')} % 500 <> 0)"


def created_at(c: str) -> str:
    return (
        f"(%(now)s::timestamptz - interval '1 day' * CASE WHEN {is_dormant(c)} "
        f"THEN 420 + {U(c, 'created')} * 680 ELSE 35 + {U(c, 'created')} * 1065 END)"
    )


def activity_count(c: str) -> str:
    """SQL: how many regular activities contact c has (mean PER; none when silent or merged)."""
    return f"(CASE WHEN {is_silent(c)} OR {is_merged(c)} THEN 0 ELSE (1 + {R(c, 'act_n')} % {2 * PER - 1})::int END)"


def stride() -> int:
    """Activity ids are c * stride + j: room for the regular activities and then up to 6 pricing visits."""
    return 2 * PER + 8


def activity_start(c: str, created: str | None = None) -> str:
    return f"greatest({created or created_at(c)}, %(now)s::timestamptz - interval '{DAYS_ACTIVE} days')"


def activity_end(c: str) -> str:
    return (
        f"(CASE WHEN {is_dormant(c)} THEN %(now)s::timestamptz - interval '366 days' "
        "ELSE %(now)s::timestamptz - interval '1 minute' END)"
    )


def activity_time(start: str, end: str, key: str, j: str, n: str) -> str:
    """SQL: when the j-th of a contact's n activities happened.

    Stratified (the j-th falls in the j-th n-th of the contact's span) and skewed towards the recent past
    by the power 0.6, so times increase with j: the newest is the n-th, which lets the contacts INSERT
    compute last_activity_at without reading the activities (generated_last_activity).
    """
    return f"({start} + ({end} - {start}) * power((({j}) - 1 + {U(key, 'act_time')}) / ({n}), 0.6))"


def hot_count(c: str) -> str:
    return f"(3 + {R(c, 'hot_n')} % 4)::int"


def hot_key(c: str, j: str) -> str:
    return f"(({c})::bigint * {stride()} + {2 * PER - 1} + ({j}))"


def hot_time(u: str) -> str:
    return f"(%(now)s::timestamptz - interval '1 day' * (0.01 + 27.98 * {u}))"


def generated_last_activity(c: str, n: str, created: str) -> str:
    """SQL: the newest activity time of contact c, exactly as insert_activities generates them (or NULL).

    `n` and `created` are the contact's activity_count and created_at, computed once by the caller.
    """
    regular = activity_time(activity_start(c, created), activity_end(c), f"({c})::bigint * {stride()} + {n}", n, n)
    hot_us = [U(hot_key(c, str(j)), "hot_time") for j in (1, 2, 3)] + [
        f"CASE WHEN {hot_count(c)} >= {j} THEN {U(hot_key(c, str(j)), 'hot_time')} END" for j in (4, 5, 6)
    ]
    hot = f"CASE WHEN {is_hot(c)} THEN {hot_time('least(' + ', '.join(hot_us) + ')')} END"
    return f"(CASE WHEN {n} = 0 THEN NULL ELSE greatest({regular}, {hot}) END)"


def std_normal(key: str, salt1: str, salt2: str) -> str:
    """SQL: a standard normal variate (Box-Muller)."""
    return f"(sqrt(-2 * ln(1.0 - {U(key, salt1)})) * cos(2 * pi() * {U(key, salt2)}))"


def pick(values: list[str] | tuple[str, ...], key: str, salt: str) -> str:
    """SQL: one of the given strings, uniformly."""
    array = "ARRAY[" + ", ".join(quote(v) for v in values) + "]"
    return f"({array})[1 + {R(key, salt)} % {len(values)}]"


def run(cursor: Any, query: str, params: dict[str, Any]) -> None:
    """Execute a parametrised query whose modulo operators are written ` % ` (escaped here for psycopg)."""
    cursor.execute(query.replace(" % ", " %% "), params)


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ----------------------------------------------------------------------------------------------
# Lookup tables (temporary) from the demo vocabularies, so benchmark data looks like the demo.
# ----------------------------------------------------------------------------------------------

FIRST_LEN, LAST_LEN, CITY_LEN = 12, 16, 8


def create_lookups(cursor: Any) -> dict[str, int]:
    from contacts.demo import ACTIVITY_MIX, COUNTRIES, CUSTOM_EVENTS, FORMS, PAGES, PRODUCTS, SMS_TEXTS, ascii_slug

    cursor.execute(
        """
        DROP TABLE IF EXISTS bench_country_pick, bench_country, bench_first, bench_last, bench_city,
            bench_type_pick, bench_variant;
        CREATE TEMP TABLE bench_country_pick (bucket int PRIMARY KEY, country text);
        CREATE TEMP TABLE bench_country (country text PRIMARY KEY, phone_prefix text, phone_digits int,
            language text, suffixes text[]);
        CREATE TEMP TABLE bench_first (country text, female bool, idx int, name text, slug text,
            PRIMARY KEY (country, female, idx));
        CREATE TEMP TABLE bench_last (country text, female bool, idx int, name text, slug text,
            PRIMARY KEY (country, female, idx));
        CREATE TEMP TABLE bench_city (country text, idx int, name text, PRIMARY KEY (country, idx));
        CREATE TEMP TABLE bench_type_pick (bucket int PRIMARY KEY, type text, variants int);
        CREATE TEMP TABLE bench_variant (type text, idx int, path text, title text, value numeric, data jsonb,
            PRIMARY KEY (type, idx));
        """
    )
    buckets = [code for code, data in COUNTRIES.items() for _ in range(data.weight)]
    assert len(buckets) == 100, "country weights must add up to 100"
    cursor.executemany("INSERT INTO bench_country_pick VALUES (%s, %s)", list(enumerate(buckets)))
    country_rows, first_rows, last_rows, city_rows = [], [], [], []
    for code, data in COUNTRIES.items():
        prefix = data.phone_format.split("#", 1)[0]
        country_rows.append((code, prefix, data.phone_format.count("#"), data.language, list(data.company_suffixes)))
        for female, names in ((False, data.male_first), (True, data.female_first)):
            first_rows += [
                (code, female, i, names[i % len(names)], ascii_slug(names[i % len(names)])) for i in range(FIRST_LEN)
            ]
            last_rows += [
                (code, female, i, pair[female], ascii_slug(pair[female]))
                for i in range(LAST_LEN)
                for pair in [data.last[i % len(data.last)]]
            ]
        city_rows += [(code, i, data.cities[i % len(data.cities)]) for i in range(CITY_LEN)]
    cursor.executemany("INSERT INTO bench_country VALUES (%s, %s, %s, %s, %s)", country_rows)
    cursor.executemany("INSERT INTO bench_first VALUES (%s, %s, %s, %s, %s)", first_rows)
    cursor.executemany("INSERT INTO bench_last VALUES (%s, %s, %s, %s, %s)", last_rows)
    cursor.executemany("INSERT INTO bench_city VALUES (%s, %s, %s)", city_rows)

    from psycopg.types.json import Jsonb

    variants: dict[str, list[tuple[str, str, Any, dict]]] = {}
    weighted_pages = [(path, title) for path, title, weight in PAGES for _ in range(weight)]
    variants["page_visit"] = [(path, title, None, {}) for path, title in weighted_pages]
    variants["email_click"] = [(path, "", None, {}) for path, _ in weighted_pages]
    variants["email_sent"] = [("", "", None, {})]
    variants["email_open"] = [("", "", None, {})]
    variants["form_submission"] = [
        (path, title, None, {"form": code}) for code, path, title, weight in FORMS for _ in range(weight)
    ]
    variants["sms_sent"] = [("", "Marketing SMS", None, {"text": text}) for text in SMS_TEXTS]
    variants["purchase"] = [("", product, price, {"currency": "EUR"}) for product, price in PRODUCTS]
    variants["custom"] = [("", title, None, {"event": event}) for event, title in CUSTOM_EVENTS]
    type_buckets = [str(kind) for kind, weight in ACTIVITY_MIX for _ in range(weight)]
    assert len(type_buckets) == 100, "activity weights must add up to 100"
    cursor.executemany(
        "INSERT INTO bench_type_pick VALUES (%s, %s, %s)",
        [(i, kind, len(variants[kind])) for i, kind in enumerate(type_buckets)],
    )
    rows = [(kind, i, p, t, v, Jsonb(d)) for kind, rows in variants.items() for i, (p, t, v, d) in enumerate(rows)]
    rows.append(("page_visit", -1, "/pricing", "Pricing", None, Jsonb({})))  # the hot contacts' visits
    cursor.executemany("INSERT INTO bench_variant VALUES (%s, %s, %s, %s, %s, %s)", rows)
    cursor.execute(
        "ANALYZE bench_country_pick, bench_country, bench_first, bench_last, bench_city, bench_type_pick, bench_variant"
    )
    return {kind: len(rows) for kind, rows in variants.items()}


# ----------------------------------------------------------------------------------------------
# The load
# ----------------------------------------------------------------------------------------------

LOADED_TABLES = (
    "contacts_activity",
    "contacts_activityday",  # the daily roll-up (no id column), filled from the activities after the load
    "contacts_contactconsent",
    "contacts_contact",
    "contacts_account",
)


def secondary_structures(cursor: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(constraints as (table, name, definition), indexes as (name, definition)) on the loaded tables, PKs excepted."""
    cursor.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u', 'c', 'x')
        ORDER BY conrelid::regclass::text, conname
        """,
        [list(LOADED_TABLES)],
    )
    constraints = list(cursor.fetchall())
    cursor.execute(
        """
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype <> 'f')
        ORDER BY c.relname
        """,
        [list(LOADED_TABLES)],
    )
    # TRICKY: a partitioned table's index reads "CREATE INDEX … ON ONLY table" (the parent alone, left invalid):
    # recreated that way, no partition would get it. Without ONLY it is built on every partition.
    indexes = [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in cursor.fetchall()]
    return constraints, indexes


def activity_partitions_fit(now: dt.datetime) -> str:
    """PostgreSQL's monthly activity partitions for exactly the generated span (and the months ahead the app keeps).

    Called on the emptied tables: months a former run (another `now`) left outside the span are dropped (empty).
    """
    from django.conf import settings
    from django.db import connection

    from contacts.partitions import attached_partitions, months_ahead, months_between
    from contacts.services.partitions import activity_partitions_create

    wanted = months_between(now.date() - dt.timedelta(days=DAYS_ACTIVE), now.date())
    wanted += months_ahead(today=now.date(), ahead=settings.ACTIVITY_PARTITIONS_AHEAD)[1:]
    created = activity_partitions_create(months=wanted)
    stale = [p.table for p in attached_partitions() if p.month not in wanted]
    with connection.cursor() as cursor:
        for table in stale:
            cursor.execute(f"DROP TABLE {table}")
    connection.close()
    return f"{len(created)} created, {len(stale)} empty ones dropped"


def insert_accounts(cursor: Any, accounts: int) -> None:
    from contacts.demo import COMPANY_FIRST, COMPANY_SECOND, INDUSTRIES

    a = "a"
    w1, w2 = pick(COMPANY_FIRST, a, "acc_w1"), pick(COMPANY_SECOND, a, "acc_w2")
    run(
        cursor,
        f"""
        INSERT INTO contacts_account (id, name, domain, industry, country, employees, created_at)
        SELECT a, w1 || ' ' || w2 || ' ' || k.suffixes[1 + {R(a, "acc_suffix")} % array_length(k.suffixes, 1)],
               lower(w1 || '-' || w2) || '-' || a || '.example',
               {pick(INDUSTRIES, a, "acc_industry")},
               p.country,
               CASE WHEN {R(a, "acc_null")} % 100 < 8 THEN NULL
                    ELSE least(50000, greatest(1, floor(exp(3.6 + 1.5 * {std_normal(a, "acc_emp1", "acc_emp2")}))))
               END,
               %(now)s::timestamptz - interval '1 day' * (30 + {U(a, "acc_created")} * 1470)
        FROM (SELECT a, {w1} AS w1, {w2} AS w2 FROM generate_series(1, %(accounts)s) a) g
        JOIN bench_country_pick p ON p.bucket = {R(a, "acc_country")} % 100
        JOIN bench_country k ON k.country = p.country
        """,
        {"accounts": accounts, "now": NOW},
    )


def insert_contacts(cursor: Any, contacts: int, accounts: int) -> None:
    from contacts.demo import (
        FAVOURITE_PRODUCTS,
        FREE_MAIL_DOMAINS,
        INTEREST_CHOICES,
        JOB_TITLES,
        LEGACY_SOURCES,
    )

    i = "b.i"
    interests = ", ".join(
        f"CASE WHEN {R(i, f'int{n}')} % 10 < 3 THEN {quote(code)} END" for n, code in enumerate(INTEREST_CHOICES, 1)
    )
    free_domain = pick(FREE_MAIL_DOMAINS, i, "free_domain")
    has_names = f"({R(i, 'names')} % 100 >= 3)"
    has_last = f"({R(i, 'names')} % 100 >= 6)"
    budget = f"round(exp(9.3 + {std_normal(i, 'budget1', 'budget2')})::numeric, -2)::bigint"
    run(
        cursor,
        f"""
        INSERT INTO contacts_contact (id, email, first_name, last_name, phone, country, city, job_title, lead_score,
                                      account_id, merged_into_id, custom, last_activity_at, created_at, updated_at)
        SELECT b.i,
               CASE WHEN {R(i, "has_email")} % 100 < 5 THEN NULL
                    WHEN NOT {has_names} THEN 'user' || b.i || '@' || coalesce(a.domain, {free_domain})
                    WHEN NOT {has_last} THEN f.slug || b.i || '@' || coalesce(a.domain, {free_domain})
                    ELSE f.slug || '.' || l.slug || b.i || '@' || coalesce(a.domain, {free_domain})
               END,
               CASE WHEN {has_names} THEN f.name ELSE '' END,
               CASE WHEN {has_last} THEN l.name ELSE '' END,
               CASE WHEN {R(i, "phone_yes")} % 100 < 60
                    THEN k.phone_prefix || lpad(({R(i, "phone")} % (10 ^ k.phone_digits)::bigint)::text,
                                                k.phone_digits, '0')
                    ELSE '' END,
               b.country,
               CASE WHEN {R(i, "city_yes")} % 100 < 90 THEN ci.name ELSE '' END,
               CASE WHEN {R(i, "job_yes")} % 100 < 85 THEN {pick(JOB_TITLES, i, "job")} ELSE '' END,
               least(100, floor(-ln(1.0 - {U(i, "score")}) * 14)::int
                          + CASE WHEN {is_hot(i)} THEN 25 + {R(i, "hot_bonus")} % 36 ELSE 0 END),
               b.account_id,
               CASE WHEN {is_merged(i)} THEN b.i - 1 END,
               jsonb_strip_nulls(jsonb_build_object(
                   'plan', b.plan,
                   'interests', CASE WHEN {R(i, "int_yes")} % 100 < 75
                                THEN nullif(to_jsonb(array_remove(ARRAY[{interests}]::text[], NULL)), '[]') END,
                   'preferred_language', CASE WHEN {R(i, "lang_yes")} % 100 < 70 THEN
                       CASE WHEN {R(i, "lang_en")} % 100 < 85 THEN k.language ELSE 'en' END END,
                   'birthday', CASE WHEN {R(i, "bday_yes")} % 100 < 45
                       THEN to_char(date '1960-01-01' + ({R(i, "bday")} % 15695)::int, 'YYYY-MM-DD') END,
                   'is_customer', CASE WHEN {R(i, "cust_yes")} % 100 < 80
                       THEN to_jsonb(b.plan IN ('starter', 'pro', 'enterprise') AND {R(i, "cust")} % 100 < 85) END,
                   'annual_budget', CASE WHEN {R(i, "budget_yes")} % 100 < 40 THEN to_jsonb({budget}) END,
                   'website', CASE WHEN a.id IS NOT NULL AND {R(i, "web_yes")} % 100 < 70
                       THEN 'https://www.' || a.domain END,
                   'secondary_email', CASE WHEN {has_names} AND {R(i, "sec_yes")} % 100 < 15
                       THEN f.slug || '.' || l.slug || (1 + {R(i, "sec_n")} % 99) || '@' || {free_domain} END,
                   'mobile', CASE WHEN {R(i, "mobile_yes")} % 100 < 45
                       THEN k.phone_prefix || lpad(({R(i, "mobile")} % (10 ^ k.phone_digits)::bigint)::text,
                                                   k.phone_digits, '0') END,
                   'favourite_product', CASE WHEN {R(i, "fav_yes")} % 100 < 30
                       THEN {pick(FAVOURITE_PRODUCTS, i, "fav")} END,
                   'legacy_source', CASE WHEN {R(i, "legacy_yes")} % 100 < 20
                       THEN {pick(LEGACY_SOURCES, i, "legacy")} END
               )),
               {generated_last_activity(i, "b.act_n", "b.created")},
               b.created,
               b.created
        FROM (
            SELECT g.i, g.account_id, g.female, g.act_n, g.created,
                   CASE WHEN g.account_id IS NOT NULL AND {R("g.i", "in_acc_country")} % 100 < 85
                        THEN acc.country ELSE p.country END AS country,
                   CASE WHEN {R("g.i", "plan_yes")} % 100 < 90 THEN
                       CASE WHEN coalesce(acc.employees, 0) > 500
                            THEN (ARRAY['free', 'starter', 'pro', 'enterprise'])[
                                 CASE WHEN {R("g.i", "plan")} % 100 < 25 THEN 1 WHEN {R("g.i", "plan")} % 100 < 50
                                 THEN 2 WHEN {R("g.i", "plan")} % 100 < 80 THEN 3 ELSE 4 END]
                            ELSE (ARRAY['free', 'starter', 'pro', 'enterprise'])[
                                 CASE WHEN {R("g.i", "plan")} % 100 < 45 THEN 1 WHEN {R("g.i", "plan")} % 100 < 73
                                 THEN 2 WHEN {R("g.i", "plan")} % 100 < 92 THEN 3 ELSE 4 END]
                       END
                   END AS plan
            FROM (
                SELECT i,
                       CASE WHEN {R("i", "has_account")} % 100 < 80 THEN 1 + {R("i", "account")} % %(accounts)s
                       END AS account_id,
                       {R("i", "female")} % 2 = 1 AS female,
                       {activity_count("i")} AS act_n,
                       {created_at("i")} AS created
                FROM generate_series(1, %(contacts)s) i
                OFFSET 0  -- a fence: compute these once per contact, however often they are used above
            ) g
            LEFT JOIN contacts_account acc ON acc.id = g.account_id
            JOIN bench_country_pick p ON p.bucket = {R("g.i", "country")} % 100
        ) b
        LEFT JOIN contacts_account a ON a.id = b.account_id
        JOIN bench_country k ON k.country = b.country
        JOIN bench_first f ON f.country = b.country AND f.female = b.female AND f.idx = {R(i, "first")} % {FIRST_LEN}
        JOIN bench_last l ON l.country = b.country AND l.female = b.female AND l.idx = {R(i, "last")} % {LAST_LEN}
        JOIN bench_city ci ON ci.country = b.country AND ci.idx = {R(i, "city")} % {CITY_LEN}
        """,
        {"contacts": contacts, "accounts": accounts, "now": NOW},
    )


def insert_activities(cursor: Any, contacts: int) -> None:
    """All activities in one INSERT, in time order (as a real table grows), ids assigned in that order."""
    from contacts.demo import SITE

    key = f"cc.c::bigint * {stride()} + j"
    hot_k = hot_key("c", "j")
    run(
        cursor,
        f"""
        INSERT INTO contacts_activity (contact_id, type, occurred_at, url, title, value, campaign_id, data)
        SELECT s.c, s.type, s.occurred_at,
               CASE WHEN v.path = '' THEN ''
                    WHEN s.type = 'email_click' THEN %(site)s || v.path
                         || '?utm_source=newsletter&utm_medium=email&utm_campaign=' || to_char(s.occurred_at, 'YYYY-MM')
                    ELSE %(site)s || v.path END,
               CASE WHEN s.type IN ('email_sent', 'email_open', 'email_click')
                    THEN to_char(s.occurred_at, 'FMMonth YYYY') || ' newsletter' ELSE v.title END,
               v.value, NULL,
               CASE WHEN s.type = 'purchase' THEN v.data || jsonb_build_object('order_id', 'SO-' || s.k)
                    ELSE v.data END
        FROM (
            -- Narrow rows sorted by time; the wide columns are joined on afterwards (the join keeps the order).
            SELECT * FROM (
                SELECT {key} AS k, cc.c, t.type, {R(key, "act_variant")} % t.variants AS variant,
                       {activity_time("cc.start", "cc.finish", key, "j", "cc.n")} AS occurred_at
                FROM (
                    SELECT c, n, start, finish FROM (
                        SELECT c, {activity_count("c")} AS n, {activity_start("c")} AS start,
                               {activity_end("c")} AS finish
                        FROM generate_series(1, %(contacts)s) c
                        OFFSET 0  -- a fence: compute the contact-level values once per contact
                    ) q WHERE n > 0
                ) cc
                CROSS JOIN LATERAL generate_series(1, cc.n) j
                JOIN bench_type_pick t ON t.bucket = {R(key, "act_type")} % 100
                UNION ALL
                -- "Hot" contacts: in the market, 3-6 pricing page visits in the last four weeks.
                SELECT {hot_k}, c, 'page_visit', -1, {hot_time(U(hot_k, "hot_time"))}
                FROM generate_series(1, %(contacts)s) c
                CROSS JOIN LATERAL generate_series(1, {hot_count("c")}) j
                WHERE {is_hot("c")} AND NOT {is_merged("c")}
            ) u
            ORDER BY occurred_at, k
        ) s
        JOIN bench_variant v ON v.type = s.type AND v.idx = s.variant
        """,
        {"contacts": contacts, "now": NOW, "site": SITE},
    )


def insert_consents(cursor: Any, consent_ids: dict[str, int]) -> None:
    key = "c.id * 4 + k.n"
    run(
        cursor,
        f"""
        INSERT INTO contacts_contactconsent (contact_id, consent_id, agreed_at, revoked_at)
        SELECT x.contact_id, x.consent_id, x.agreed_at,
               CASE WHEN {R("x.k", "revoked")} % 100 < 12
                    THEN x.agreed_at + (%(now)s::timestamptz - x.agreed_at) * {U("x.k", "revoked_at")} END
        FROM (
            SELECT c.id AS contact_id, k.consent_id, {key} AS k,
                   c.created_at + (%(now)s::timestamptz - c.created_at) * {U(key, "agreed")} AS agreed_at
            FROM contacts_contact c
            CROSS JOIN (VALUES (1, %(newsletter)s::bigint, 60, true, false),
                               (2, %(sms)s::bigint, 35, false, true),
                               (3, %(product_updates)s::bigint, 40, true, false))
                 AS k(n, consent_id, percent, needs_email, needs_phone)
            WHERE c.merged_into_id IS NULL
              AND {R(key, "consent")} % 100 < k.percent
              AND (NOT k.needs_email OR c.email IS NOT NULL)
              AND (NOT k.needs_phone OR c.phone <> '' OR c.custom ? 'mobile')
        ) x
        """,
        {"now": NOW, **{code: consent_ids[code] for code in ("newsletter", "sms", "product_updates")}},
    )


NOW: dt.datetime
PER = 10  # average activities per contact


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts to generate (default 1,000,000)")
    parser.add_argument("--accounts", type=int, help="accounts (default: contacts / 20)")
    parser.add_argument("--activities-per-contact", type=int, default=10, help="average activities (default 10)")
    parser.add_argument(
        "--now",
        help="the moment the data is relative to, ISO-8601 (default: today 00:00 UTC, so the same day gives "
        "the same data)",
    )
    args = parser.parse_args(argv)
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")
    setup_django()
    require_postgresql("bench.generate")
    return generate(
        contacts=args.contacts,
        accounts=args.accounts or max(1, args.contacts // 20),
        per_contact=args.activities_per_contact,
        now=parse_now(args.now),
    )


def parse_now(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


PENDING = "bench_pending_ddl"


def pending_statements(conn: Any) -> list[tuple[int, str]]:
    """Index and constraint statements dropped by a load and not yet restored, as (position, SQL)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {PENDING} (position int PRIMARY KEY, statement text NOT NULL)")
    rows = conn.execute(f"SELECT position, statement FROM {PENDING} ORDER BY position").fetchall()
    conn.commit()
    return [(position, statement) for position, statement in rows]


def restore_priority(statement: str) -> tuple[int, int]:
    """Indexes before constraints (an FK check waits for index builds on its table), longest first."""
    table = statement.split(" ON ", 1)[1] if statement.startswith("CREATE") else statement.split()[2]
    table_rank = next((n for n, name in enumerate(LOADED_TABLES) if table.split()[0].endswith(name)), 9)
    kind = 0 if statement.startswith("CREATE") else 1 if "FOREIGN KEY" not in statement else 2
    return (kind, 0 if "(type, occurred_at" in statement else 1 + table_rank)


def restore_statements(statements: list[tuple[int, str]], timings: list, workers: int = 2) -> None:
    """Run the pending index/constraint statements on `workers` connections; each is deleted once done."""
    queue = list(statements)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with session() as conn:
                while True:
                    with lock:
                        if not queue or errors:
                            return
                        position, statement = queue.pop(0)
                    name = (
                        statement.split(" ON ")[0].split()[-1]
                        if statement.startswith("CREATE")
                        else (statement.split('"')[1])
                    )
                    with timed(f"  {name}"[:46], timings):
                        conn.execute(statement)
                        conn.execute(f"DELETE FROM {PENDING} WHERE position = %s", [position])
                        conn.commit()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextmanager
def session() -> Iterator[Any]:
    """A psycopg connection tuned for bulk loading (not autocommit: commit explicitly)."""
    import psycopg

    with psycopg.connect(**connection_params()) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET jit = off")  # compiling these very large expressions costs more than it saves
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        conn.commit()
        yield conn


def run_parallel(*jobs: Any) -> None:
    """Run the callables in threads (each uses its own connection); re-raise the first error."""
    errors: list[BaseException] = []

    def wrap(job: Any) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def generate(*, contacts: int, accounts: int, per_contact: int = 10, now: dt.datetime) -> dict:
    """Wipe and regenerate the benchmark data; returns the row counts and timings."""
    global NOW, PER
    NOW, PER = now, per_contact
    from django.core.management import call_command
    from django.db import connection

    from contacts.demo import demo_consents_ensure, demo_fields_ensure

    timings: list[tuple[str, float, str]] = []
    counts: dict[str, int] = {}
    started = time.perf_counter()
    print(
        f"bench.generate: {contacts:,} contacts, {accounts:,} accounts, ~{per_contact} activities per contact, "
        f"relative to {now.isoformat()} -> {connection.settings_dict['NAME']}"
    )
    with timed("migrate, custom fields, consents", timings) as info:
        call_command("migrate", verbosity=0, interactive=False)
        _, new_fields = demo_fields_ensure()
        consents, _ = demo_consents_ensure()
        consent_ids = {code: consent.pk for code, consent in consents.items()}
        info["detail"] = f"{len(new_fields)} fields created" if new_fields else ""
    connection.close()

    with session() as conn:
        leftover = pending_statements(conn)
    if leftover:
        with timed("restore indexes left by an interrupted run", timings):
            restore_statements(leftover, timings)

    with timed("wipe; drop secondary indexes and constraints", timings) as info, session() as conn:
        # Memberships and their history have no foreign keys (segments.models): named, not reached by CASCADE.
        conn.execute(
            f"TRUNCATE {', '.join(LOADED_TABLES)}, contacts_activityrise, segments_membership, "
            "segments_membershipevent "
            "RESTART IDENTITY CASCADE"
        )
        cursor = conn.cursor()
        constraints, indexes = secondary_structures(cursor)
        # Recorded in the same transaction as the drops, so an interrupted run is repaired by the next one.
        statements = sorted(definition for _, definition in indexes) + [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in constraints
        ]
        statements.sort(key=restore_priority)
        cursor.executemany(f"INSERT INTO {PENDING} VALUES (%s, %s)", list(enumerate(statements)))
        for table, name, _ in constraints:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.commit()
        info["detail"] = f"{len(constraints)} constraints, {len(indexes)} indexes"
    with timed("activity partitions by month", timings) as info:
        info["detail"] = activity_partitions_fit(now)

    def load_contacts() -> None:
        with session() as conn:
            cursor = conn.cursor()
            create_lookups(cursor)
            with timed("accounts", timings) as info:
                insert_accounts(cursor, accounts)
                counts["accounts"] = cursor.rowcount
                info["detail"] = f"{cursor.rowcount:,} rows"
            with timed("contacts (with last_activity_at)", timings) as info:
                insert_contacts(cursor, contacts, accounts)
                counts["contacts"] = cursor.rowcount
                info["detail"] = f"{cursor.rowcount:,} rows"
            with timed("consents", timings) as info:
                insert_consents(cursor, consent_ids)
                counts["consents"] = cursor.rowcount
                info["detail"] = f"{cursor.rowcount:,} rows"
            conn.commit()

    def load_activities() -> None:
        with session() as conn:
            cursor = conn.cursor()
            create_lookups(cursor)
            conn.execute("SET work_mem = '1GB'")  # sort 10M narrow rows by time in memory
            with timed("activities (sorted by time)", timings) as info:
                insert_activities(cursor, contacts)
                cursor.execute("SELECT count(*) FROM contacts_activity")
                counts["activities"] = cursor.fetchone()[0]
                info["detail"] = f"{counts['activities']:,} rows"
            conn.commit()

    with timed("load (two connections in parallel)", timings):
        run_parallel(load_contacts, load_activities)

    with timed("activity roll-up (by contact, UTC day, type, URL)", timings) as info:
        from contacts.services.activity_days import activity_days_fill

        with connection.cursor() as cursor:
            cursor.execute("SET work_mem = '1GB'")  # the grouping of every activity, in memory
            cursor.execute("SET jit = off")
        counts["activity_days"] = activity_days_fill()
        info["detail"] = f"{counts['activity_days']:,} rows"
        connection.close()

    with session() as conn:
        for table in LOADED_TABLES:
            if table == "contacts_activityday":
                continue
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        conn.commit()
        pending = pending_statements(conn)
    with timed("recreate indexes and constraints (two connections)", timings) as info:
        restore_statements(pending, timings)
        info["detail"] = f"{len(pending)} statements"
    with timed("vacuum analyze", timings):
        import psycopg

        with psycopg.connect(**connection_params(), autocommit=True) as conn:
            for table in LOADED_TABLES:
                conn.execute(f"VACUUM (ANALYZE) {table}")
    total = time.perf_counter() - started
    print(f"  {'total':<46}{total:8.2f} s")
    result = {**counts, "total_s": round(total, 1)}
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return {"counts": counts, "timings": timings, "total": total}


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
