"""The PostgreSQL backend as a ``paperbot.storage`` plugin: ``postgresql://…`` (or ``postgres://``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from bot.ports.plugins import CopyProgress
from bot.ports.storage import Storage
from storage.postgresql.backend import PostgresStorage, available_migrations
from storage.postgresql.copy_from_sqlite import SqliteToPostgres
from storage.sqlite.plugin import path_of


class PostgresPlugin:
    """Opens an asyncpg pool on a PostgreSQL server and migrates the database."""

    name = "postgresql"
    schemes = ("postgresql", "postgres")
    copy_sources = ("sqlite",)

    async def open(self, url: str) -> Storage:
        """The database at ``url``, migrated."""
        return await PostgresStorage.open(url)

    def latest_schema_version(self) -> int:
        """The number of the newest bundled migration."""
        return max(number for number, _ in available_migrations())

    def local_files(self, url: str) -> tuple[Path | None, str]:
        """No folder of its own; a name from a hash of the URL without its
        password (the server, database and options such as the schema), so a
        new password keeps the name and no secret shows in it."""
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        user = parts.username or ""
        identity = parts._replace(netloc=f"{user}@{host}").geturl()
        return None, "postgresql-" + hashlib.sha256(identity.encode()).hexdigest()[:16]

    async def copy_from(
        self, source_url: str, target_url: str, *, from_start: bool, progress: CopyProgress
    ) -> dict[str, int]:
        """Copy the SQLite database at ``source_url`` into ``target_url`` (resumable)."""
        copy = SqliteToPostgres(path_of(source_url), target_url, progress)
        return await copy.run(from_start=from_start)


plugin = PostgresPlugin()
