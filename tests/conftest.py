"""Suite-wide hooks and fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ports.storage import Storage
from tests.postgres import Backend, fresh_schema, postgres_server


# --- storage backends (pgport) ----------------------------------------------
# Tests that take ``store`` (or ``backend``) run once per storage backend:
# SQLite in the test's folder, PostgreSQL in a fresh schema of one server per
# session (tests/postgres.py). A test of one engine's internals narrows it with
# ``@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)``.
@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One PostgreSQL server for the whole session (embedded, or PAPERBOT_TEST_DATABASE_URL)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database URL of this test's own, empty schema."""
    async with fresh_schema(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each storage backend in turn, on a database of this test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'paperbot.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return Backend(request.param, url)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Storage]:
    """The test's database on each backend, open (through the backend's plugin)."""
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


# --- end of storage backends ------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the search-quality figures measured by tests/unit/test_relevance.py."""
    from tests.unit.test_relevance import RESULTS

    for backend, (score, queries) in sorted(RESULTS.items()):
        terminalreporter.write_line(
            f"search relevance ({backend}): nDCG@5 = {score:.3f} over {queries} labeled queries"
        )
