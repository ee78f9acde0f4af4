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
