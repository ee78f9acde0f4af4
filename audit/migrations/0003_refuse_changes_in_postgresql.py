"""PostgreSQL: a trigger refuses every UPDATE and DELETE of an audit entry, whoever sends it (the app, a
script, a psql session with the app's role), except the one update Django makes when a user is deleted: the
entry's actor set to NULL (its actor_name keeps who it was). TRUNCATE is not a row operation: a test
database's flush and a deliberate purge by the database owner (`ALTER TABLE … DISABLE TRIGGER`) still work.
SQLite has no such trigger (its test flush deletes rows); the model and the pages refuse changes there too.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_entry_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;  -- the user was deleted: on_delete=SET_NULL
    END IF;
    RAISE EXCEPTION 'audit entries cannot be changed or deleted (% of entry %)', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_entry_immutable ON audit_auditentry;
CREATE TRIGGER audit_entry_immutable BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_immutable();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_entry_immutable ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_entry_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no placeholders: RAISE uses %


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_admins_view_audit_log")]

    operations = [migrations.RunPython(forwards, backwards)]
