"""The restore drill job on the app's own database, whichever engine it is: SQLite here, PostgreSQL in the
`python -m tests.on_postgresql` pass (a `<test database>_drill_<id>` made and dropped on its server)."""

import pytest

from backups.models import DrillOutcome
from backups.services.making import backup_create
from backups.sources import Database
from jobs.models import JobStatus
from tests.backups.conftest import NOW, folder_names
from tests.backups.test_drills import run_drill
from tests.factories import ChannelGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_job_drills_the_apps_own_database(backup_dir):
    ChannelGroupFactory(name="News")
    backup = backup_create(now=NOW)

    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    backup.refresh_from_db()
    assert backup.drill_outcome == DrillOutcome.PASSED
    assert backup.database_vendor == Database.default().vendor
    assert backup.table_rows["channels_channelgroup"] == 1
    assert (backup.drill_tables, backup.drill_rows) == (len(backup.table_rows), sum(backup.table_rows.values()))
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]
    if backup.database_vendor == "postgresql":
        import psycopg

        own = Database.default()
        with psycopg.connect(dbname=own.name, host=own.host, port=own.port, user=own.user,
                             password=own.password or None) as conn:
            names = [name for (name,) in conn.execute("SELECT datname FROM pg_database")]
        assert [name for name in names if name.startswith(f"{own.name}_drill_")] == []
