"""Who acts, and through which entrance: what audit trails and job origins record."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Via(models.TextChoices):
    """The entrance an action came through."""

    ADMIN = "admin", "Admin"
    PAGE = "page", "Pages"
    API = "api", "API"
    COMMAND = "command", "Command line"
    # A file of schedules applied (manage.py import_schedules, POST /api/schedules/import).
    IMPORT = "import", "Import"
    SYSTEM = "system", "The system"


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which entrance (admin, pages, API, command line, the system)."""

    via: str
    user: object | None = None  # a User; None for the system and for commands run without --user

    @property
    def name(self) -> str:
        return self.user.get_username() if self.user is not None else ""


SYSTEM = Actor(Via.SYSTEM)
COMMAND = Actor(Via.COMMAND)
IMPORT = Actor(Via.IMPORT)  # manage.py import_schedules: a file applied from the command line


def page_actor(request) -> Actor:
    return Actor(Via.PAGE, request.user)


def admin_actor(request) -> Actor:
    return Actor(Via.ADMIN, request.user)


def api_actor(request, via: str = Via.API) -> Actor:
    # The API authenticates by session or token; ninja puts the user on `request.auth` either way.
    return Actor(via, request.auth)
