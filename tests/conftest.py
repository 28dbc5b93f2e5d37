"""Suite-wide fixtures and hooks.

Fixtures here are the ones several test files share: a store, a fake clock, the command
router over both, a recording chat adapter and the fake Hugging Face API. A test file that
needs them seeded or set differently overrides the fixture by name and asks for this one
(``async def store(store): ...``), so opening and closing live in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands import CommandRouter
from bot.ports.storage import Storage
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import FakeHuggingFace
from tests.postgres import Backend, fresh_schema, postgres_server
from tests.support import FakeClock, RecordingAdapter


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    """An empty SQLite store in a fresh database file, for tests of SQLite itself."""
    storage = await SqliteStorage.open(tmp_path / "t.db")
    yield storage
    await storage.close()


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


@pytest.fixture
def clock() -> FakeClock:
    """Tuesday 10 March 2026, noon UTC, moving only when the test says so."""
    return FakeClock()


@pytest.fixture
def router(store: Storage, clock: FakeClock) -> CommandRouter:
    """The real command handler over ``store`` and ``clock``."""
    return CommandRouter(store, clock)


@pytest.fixture
def adapter() -> RecordingAdapter:
    """A chat adapter that records what it is sent."""
    return RecordingAdapter()


@pytest.fixture
async def hf() -> AsyncIterator[FakeHuggingFace]:
    """The fake Hugging Face API, running and empty."""
    async with FakeHuggingFace() as fake:
        yield fake


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the search-quality figures measured by tests/unit/test_relevance.py."""
    from tests.unit.test_relevance import RESULTS

    for name, (score, queries) in sorted(RESULTS.items()):
        terminalreporter.write_line(
            f"search relevance ({name}): nDCG@5 = {score:.3f} over {queries} labeled queries"
        )
