"""The PostgreSQL backend as a ``paperbot.storage`` plugin: ``postgresql://…`` (or ``postgres://``)."""

from __future__ import annotations

from bot.ports.storage import Storage
from storage.postgresql.backend import PostgresStorage, available_migrations


class PostgresPlugin:
    """Opens an asyncpg pool on a PostgreSQL server and migrates the database."""

    name = "postgresql"
    schemes = ("postgresql", "postgres")

    async def open(self, url: str) -> Storage:
        """The database at ``url``, migrated."""
        return await PostgresStorage.open(url)

    def latest_schema_version(self) -> int:
        """The number of the newest bundled migration."""
        return max(number for number, _ in available_migrations())


plugin = PostgresPlugin()
