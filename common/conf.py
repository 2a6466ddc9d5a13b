"""Each app's own settings, with their defaults in one place; any can be overridden in Django settings."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


class AppSettings:
    """An app's settings and their defaults.

        conf = AppSettings({"JOBS_REAP_MARGIN_SECONDS": 60.0})
        conf.get("JOBS_REAP_MARGIN_SECONDS")      # settings.JOBS_REAP_MARGIN_SECONDS, else 60.0
        conf.seconds("JOBS_REAP_MARGIN_SECONDS")  # the same as a timedelta

    Read at each call, not at import, so tests' `settings` overrides apply. A name without a
    default is a bug in the caller: KeyError, not a silent None.
    """

    def __init__(self, defaults: dict):
        self.defaults = dict(defaults)

    def get(self, name: str):
        if name not in self.defaults:
            raise KeyError(f"{name} is not one of this app's settings ({', '.join(self.defaults)}).")
        return getattr(settings, name, self.defaults[name])

    def seconds(self, name: str) -> timedelta:
        return timedelta(seconds=float(self.get(name)))
