"""The SQLite backend as a ``paperbot.storage`` plugin: ``sqlite:///path`` or a bare path."""

from __future__ import annotations

from pathlib import Path

from bot.ports.storage import Storage
from storage.sqlite.backend import SqliteStorage, available_migrations


def path_of(url: str) -> str:
    """The file path in ``sqlite:///path`` (``sqlite:////abs`` is absolute), or ``url`` itself."""
    return url[len("sqlite://") :].removeprefix("/") if url.startswith("sqlite://") else url


class SqlitePlugin:
    """Opens a file database with aiosqlite and migrates it."""

    name = "sqlite"
    schemes = ("sqlite",)

    async def open(self, url: str) -> Storage:
        """The database at ``url``, migrated."""
        return await SqliteStorage.open(path_of(url))

    def latest_schema_version(self) -> int:
        """The number of the newest bundled migration."""
        return max(number for number, _ in available_migrations())

    def local_files(self, url: str) -> tuple[Path | None, str]:
        """The database file's folder and name: derived files sit beside it."""
        path = Path(path_of(url)).absolute()
        return path.parent, path.name


plugin = SqlitePlugin()
