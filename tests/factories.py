"""factory_boy factories, one place for the whole suite."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from channels.models import Channel, ChannelGroup, Video
from jobs.models import Job
from scheduling.models import ScheduledTask

UTC = dt.timezone.utc


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")

    @factory.post_generation
    def permissions(user, create, names, **kwargs):
        """UserFactory(permissions=["jobs.change_job", ...]): Django model permissions by "app.codename"."""
        for name in names or ():
            app_label, codename = name.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class ChannelGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelGroup

    name = factory.Sequence(lambda n: f"Group {n}")


class ChannelFactory(factory.django.DjangoModelFactory):
    """A channel in no group; `ChannelFactory(group=g)` puts it in one, `groups=[a, b]` in several."""

    class Meta:
        model = Channel
        skip_postgeneration_save = True

    youtube_id = factory.Sequence(lambda n: f"UC{n:022d}")
    title = factory.Sequence(lambda n: f"Channel {n}")

    @factory.post_generation
    def group(self, create, extracted, **kwargs):
        if create and extracted is not None:
            self.groups.add(extracted)

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*extracted)


class VideoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Video

    channel = factory.SubFactory(ChannelFactory)
    youtube_id = factory.Sequence(lambda n: f"vid{n:08d}")
    title = factory.Sequence(lambda n: f"Video {n}")
    url = factory.LazyAttribute(lambda v: f"https://www.youtube.com/watch?v={v.youtube_id}")
    published_at = dt.datetime(2026, 1, 1, tzinfo=UTC)


class ScheduledTaskFactory(factory.django.DjangoModelFactory):
    """A valid daily backup schedule; saved as is (use scheduling.services to compute next_run_at)."""

    class Meta:
        model = ScheduledTask

    name = factory.Sequence(lambda n: f"Schedule {n}")
    key = factory.Sequence(lambda n: f"schedule-{n}")  # given: bulk_create saves no key of its own
    task_type = "DATABASE_BACKUP"
    schedule_kind = "daily"
    schedule_time = "02:00"
    timezone = "UTC"
    params = factory.LazyFunction(
        lambda: {"backup_type": "full", "retention_days": 30, "cleanup_old": False, "force_backup": False}
    )
    created_at = dt.datetime(2026, 1, 1, tzinfo=UTC)


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    job_type = "DATABASE_BACKUP"


def grant(user, *codenames: str):
    """Give a user Django model permissions by codename (e.g. "view_scheduledtask"); returns the user
    fetched again, since a user caches its permissions."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(user).objects.get(pk=user.pk)


class BackupFactory(factory.django.DjangoModelFactory):
    """A completed, verified SQLite backup row (no file: see tests/backups/conftest.py `with_file`)."""

    class Meta:
        model = "backups.Backup"
        skip_postgeneration_save = True

    status = "completed"
    database_vendor = "sqlite"
    started_at = dt.datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    finished_at = factory.LazyAttribute(lambda b: b.started_at + dt.timedelta(seconds=3))
    verified_at = factory.LazyAttribute(lambda b: b.finished_at if b.status == "completed" else None)
    size_bytes = 1000
    database_size_bytes = 4000
    sha256 = "0" * 64
    compression = "zstd level 3"

    @factory.post_generation
    def name_file(obj, create, extracted, **kwargs):
        if create and not obj.file_name and obj.status == "completed":
            from backups.files import file_name_for

            obj.file_name = file_name_for(vendor=obj.database_vendor, started_at=obj.started_at, backup_id=obj.pk)
            obj.save(update_fields=["file_name"])


class NotificationChannelFactory(factory.django.DjangoModelFactory):
    """A channel added on the page; give it a `target` (an Apprise URL or an email address)."""

    class Meta:
        model = "notifications.NotificationChannel"

    name = factory.Sequence(lambda n: f"Channel {n}")
    target = "alerts@example.com"
    kind = factory.LazyAttribute(lambda c: "apprise" if "://" in c.target else "email")
