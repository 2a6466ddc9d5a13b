import datetime as dt

import pytest

from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.factories import StaffFactory, UserFactory


@pytest.fixture(autouse=True)
def default_backup_schedule(request):
    """The data migration's "Daily database backup" schedule, made deterministic for tests.

    It is in the test database until the first transactional test flushes it, so whether a test saw
    it would depend on the order. Tests start without it, counting schedules from zero; those about
    it are marked `@pytest.mark.default_backup_schedule` and get it (created as the migration does).
    """
    marker = request.node.get_closest_marker("django_db")
    wants_db = marker is not None or {"db", "transactional_db"} & set(request.fixturenames)
    if not wants_db:
        return None
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction", False))
    request.getfixturevalue("transactional_db" if transactional else "db")
    from importlib import import_module

    from django.apps import apps

    migration = import_module("backups.migrations.0003_default_backup_schedule")
    if request.node.get_closest_marker("default_backup_schedule"):
        migration.create(apps, None)
        return ScheduledTask.objects.get(name=migration.NAME)
    migration.remove(apps, None)
    ScheduleAuditEntry.objects.filter(schedule_name=migration.NAME, schedule=None).delete()
    return None


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def operator(db):
    """A user who may cancel and retry jobs (jobs.change_job), as in the admin."""
    return UserFactory(permissions=["jobs.change_job"])


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(scope="session")
def postgres_url_template():
    """A throwaway PostgreSQL server for the whole session: format the result with a db name."""
    from tests.servers import postgres_server

    with postgres_server() as template:
        yield template


@pytest.fixture
def make_schedule(db):
    """Create a schedule the way every entrance does: through the service, at a given instant."""

    def make(*, now: dt.datetime, **fields) -> ScheduledTask:
        base = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily",
                "schedule_time": "02:00", "timezone": "UTC", "params": {}}
        return services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=now)

    return make
