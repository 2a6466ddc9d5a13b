import datetime as dt

import pytest

from scheduling import services
from scheduling.models import ScheduledTask
from tests.factories import StaffFactory, UserFactory


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
