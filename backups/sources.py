"""Which database a backup copies or a restore overwrites: the app's own, unless a test says otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections


@dataclass(frozen=True)
class Database:
    vendor: str  # "sqlite" or "postgresql"
    name: str  # the file path for SQLite, the database name for PostgreSQL
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    options: dict = field(default_factory=dict)

    @classmethod
    def default(cls) -> "Database":
        connection = connections["default"]
        return cls.from_settings(connection.settings_dict, vendor=connection.vendor)

    @classmethod
    def from_settings(cls, settings_dict: dict, *, vendor: str) -> "Database":
        return cls(
            vendor=vendor,
            name=str(settings_dict["NAME"]),
            host=str(settings_dict.get("HOST") or ""),
            port=str(settings_dict.get("PORT") or ""),
            user=str(settings_dict.get("USER") or ""),
            password=str(settings_dict.get("PASSWORD") or ""),
            options=dict(settings_dict.get("OPTIONS") or {}),
        )

    def describe(self) -> str:
        if self.vendor == "sqlite":
            return f"the SQLite database {self.name}"
        where = f"{self.host or 'localhost'}:{self.port or 5432}"
        return f"the PostgreSQL database “{self.name}” on {where}"
