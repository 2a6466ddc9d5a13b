import datetime as dt

import pytest

from channels import handlers as channel_handlers
from channels import sync
from jobs import registry
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.factories import StaffFactory, UserFactory
from tests.servers import free_port


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
    # The restore drill's weekly schedule (backups 0005) is never kept: tests about it create it.
    drill_migration = import_module("backups.migrations.0006_restore_drill")
    drill_migration.remove(apps, None)
    ScheduleAuditEntry.objects.filter(schedule_name=drill_migration.NAME, schedule=None).delete()
    if request.node.get_closest_marker("default_backup_schedule"):
        migration.create(apps, None)
        return ScheduledTask.objects.get(name=migration.NAME)
    migration.remove(apps, None)
    ScheduleAuditEntry.objects.filter(schedule_name=migration.NAME, schedule=None).delete()
    return None


@pytest.fixture(autouse=True)
def empty_redis():
    """On the Redis pass (tests.on_postgresql) the cache and the broker's queue are one Redis database that
    no transaction rolls back: each test starts with it empty, as each SQLite test starts with an empty
    cache table and queue (and with no refused API tokens counted against 127.0.0.1: core.throttle)."""
    from django.conf import settings

    if settings.REDIS_URL:
        from django.core.cache import cache

        cache.clear()


@pytest.fixture
def quick_sync_handler(monkeypatch):
    """The QUICK_SYNC handler registered afresh for this test, and the app's own put back after.

    The app registers it once, at start-up: `make mutation` forks its runs from a process that had
    registered it already, so the mutants of `register_handlers` (its time limit, its retries, how
    the pages name its jobs) never ran without this.
    """
    monkeypatch.delitem(registry._handlers, sync.JOB_TYPE)
    channel_handlers.register_handlers()
    return registry.get(sync.JOB_TYPE)


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


# --- the internet, simulated, for notifications -------------------------------------------------
# `webhook.url` is an Apprise URL (json://) posting to a pytest-httpserver on 127.0.0.1; `smtp` is an
# aiosmtpd server on a free port with Django's SMTP backend pointed at it. Both keep what they were
# sent and can be told to refuse (`webhook.answer(500)`, `smtp.refuse = True`).

class Webhook:
    path = "/alerts"

    def __init__(self, server):
        self.server = server

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.port}{self.path}"

    def answer(self, status: int = 200) -> None:
        self.server.clear_all_handlers()
        self.server.expect_request(self.path, method="POST").respond_with_data("ok" if status < 400 else "nope",
                                                                               status=status)

    @property
    def messages(self) -> list[dict]:
        """The JSON Apprise posted: {"title": ..., "message": ..., "type": ...}, oldest first."""
        return [request.get_json() for request, _ in self.server.log if request.path == self.path]

    @property
    def titles(self) -> list[str]:
        return [message["title"] for message in self.messages]


@pytest.fixture
def webhook(httpserver, monkeypatch):
    # Apprise sends through two module-level thread pools, made on its first send. A process forked
    # after that send keeps the pools but not their threads: each send then waits out its time limit
    # and fails. `make mutation` runs every mutant's tests in such a fork (of the process that ran the
    # clean tests), where the alerts tests failed whatever the mutant. So each test gets pools of its own.
    from apprise import apprise

    for pool in ("_shared_executor", "_coordinator_executor"):
        monkeypatch.setattr(apprise, pool, None)
    hook = Webhook(httpserver)
    hook.answer(200)
    yield hook
    httpserver.clear()
    for pool in (apprise._shared_executor, apprise._coordinator_executor):
        if pool is not None:
            pool.shutdown(wait=False)


class Inbox:
    """aiosmtpd's handler: keeps each message, or refuses it with a 550 while `refuse` is set."""

    def __init__(self):
        self.messages = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "550 5.7.1 Relaying denied"
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    @property
    def subjects(self) -> list[str]:
        return [str(message["Subject"]).strip() for message in self.messages]


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield inbox
    controller.stop()
