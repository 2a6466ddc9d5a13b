import pytest

from tests.factories import StaffFactory, UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


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
