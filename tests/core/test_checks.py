from django.core.checks import run_checks
from django.test import override_settings

from config.settings import Q_CLUSTER


def queue_errors() -> list[str]:
    return [error.id for error in run_checks(tags=["queue"])]


def test_it_accepts_the_shipped_settings():
    assert queue_errors() == []


@override_settings(Q_CLUSTER={**Q_CLUSTER, "timeout": 600, "retry": 600})
def test_it_rejects_a_timeout_not_below_retry():
    assert queue_errors() == ["archive.E001"]


@override_settings(Q_CLUSTER={**Q_CLUSTER, "max_attempts": 0})
def test_it_rejects_endless_attempts():
    assert queue_errors() == ["archive.E002"]


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_it_rejects_a_cache_private_to_one_process():
    assert queue_errors() == ["archive.E003"]
