"""Trigram indexes for the contact search (PostgreSQL only): `contacts.selectors.contact_search_q`.

The search is `icontains` on first name, last name and email, which Django's PostgreSQL backend writes
as `UPPER("col"::text) LIKE UPPER('%word%')`. A GIN index with pg_trgm's `gin_trgm_ops` on exactly that
expression answers such a LIKE from the index (a bitmap of the rows holding the word's trigrams), where
a b-tree can only scan every row. SQLite has no trigram index: there the same query scans, as before.

Not in `Contact.Meta.indexes`: a GIN index cannot be created on SQLite, so the indexes live here only
(the model state does not know them; `makemigrations` has nothing to compare). Built CONCURRENTLY, so a
production table keeps taking writes while they build (hence `atomic = False`).
"""

from django.db import migrations

TRIGRAM_INDEXES = {
    "contact_first_name_trgm_idx": 'UPPER("first_name"::text)',
    "contact_last_name_trgm_idx": 'UPPER("last_name"::text)',
    "contact_email_trgm_idx": 'UPPER("email"::text)',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON contacts_contact USING gin ({expression} gin_trgm_ops)'
        )
    # TRICKY: PostgreSQL estimates `UPPER(col) LIKE …` from the statistics of an index on that expression,
    # which only ANALYZE gathers; until then it guesses 4 % of the table for every word, rare or common,
    # and cannot tell a search for one e-mail from one for "nov".
    schema_editor.execute("ANALYZE contacts_contact")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')  # the extension stays: others may use it


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0004_name_sort_puts_unnamed_last"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
