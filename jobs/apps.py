import gc
from importlib import import_module

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from jobs import conf

        # Apps register their handlers in their own ready(); these modules register theirs on import.
        for module in conf.get("JOB_HANDLER_MODULES"):
            import_module(module)
        # What is loaded by now (modules, models, the app registry: most of a process's objects) lives
        # as long as the process. Frozen, it is out of the garbage collector's generations, which
        # every full collection would walk again: in a cluster's workers that was 8-15 % of a
        # quick sync's CPU (bench/channel_sync.py). The cluster forks its workers after this, so
        # they inherit it frozen, and the collector no longer writes to the pages they share.
        gc.freeze()
