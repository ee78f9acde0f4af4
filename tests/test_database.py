import pytest
from django.db import connection

from config.database import planner_statistics_refresh
from tests.factories import ContactFactory


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's autovacuum gathers statistics itself")
def test_sqlite_gets_planner_statistics():
    ContactFactory.create_batch(3)
    planner_statistics_refresh()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'contacts_contact'")
        assert cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a kept PostgreSQL connection whose server went away")
def test_a_kept_connection_that_the_server_dropped_is_replaced_before_the_next_task():
    """After a database restart, a worker's next task (or a web request) reconnects instead of failing on its dead
    connection (bench.faults (d): the first task of every worker process failed and a rebuild stayed queued)."""
    import psycopg
    from django.db import close_old_connections

    from bench import connection_params

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    with psycopg.connect(**{k: v for k, v in connection_params().items() if v is not None}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])  # what a restart does to every connection
    close_old_connections()  # django-q2's worker before each task; Django's request_started signal
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != backend
