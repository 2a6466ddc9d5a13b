"""System checks for settings that break the queue in ways that only show much later."""

from django.conf import settings
from django.core.checks import Error, Warning, register

PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register("queue")
def check_job_queue(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    cluster = settings.Q_CLUSTER
    timeout, retry = cluster.get("timeout"), cluster.get("retry")
    if timeout is not None and retry is not None and timeout >= retry:
        errors.append(Error(
            f"Q_CLUSTER timeout ({timeout} s) must be below retry ({retry} s).",
            hint="Otherwise the broker hands a still-running task to a second worker.",
            id="archive.E001",
        ))
    if not cluster.get("max_attempts"):
        errors.append(Error(
            "Q_CLUSTER max_attempts is 0, so a failing task is retried forever.",
            hint="Set a small number; our own Job retries handle real failures.",
            id="archive.E002",
        ))
    alias = cluster.get("cache", "default")
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend in PROCESS_LOCAL_CACHES:
        errors.append(Error(
            f"The cache {alias!r} used by django-q2's monitor ({backend}) is not shared across processes.",
            hint="Use the database cache or Redis, so /healthz can see the worker cluster.",
            id="archive.E003",
        ))
    return errors


@register("backups")
def check_backup_remote(app_configs=None, **kwargs) -> list[Warning]:
    """BACKUP_REMOTE set while rclone is missing: the app runs, but no backup leaves the disk."""
    from backups import offsite

    if problem := offsite.remote_problem():
        return [Warning(problem, hint="Off-site copies fail until rclone is installed (their jobs say so, and "
                        "/backups and /healthz too).", id="archive.W001")]
    return []
