"""Suite-wide fixtures and hooks.

Fixtures here are the ones several test files share: a store, a fake clock, the command
router over both, a recording chat adapter and the fake Hugging Face API. A test file that
needs them seeded or set differently overrides the fixture by name and asks for this one
(``async def store(store): ...``), so opening and closing live in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands import CommandRouter
from bot.ports.storage import Storage
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import FakeHuggingFace
from tests.support import FakeClock, RecordingAdapter


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    """An empty SQLite store in a fresh database file, for tests of SQLite itself."""
    storage = await SqliteStorage.open(tmp_path / "t.db")
    yield storage
    await storage.close()


# ---------------------------------------------------------------- the store under test
# One plain SQLite store. This block is meant to be replaced by the fixture that runs
# each test over every storage backend; tests that need SQLite itself ask for
# ``sqlite_store`` instead.
@pytest.fixture
def store(sqlite_store: SqliteStorage) -> Storage:
    """An empty store."""
    return sqlite_store


# ---------------------------------------------------------------- end of the store block


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

    for name in ("keyword", "natural"):
        if name in RESULTS:
            terminalreporter.write_line(
                f"search relevance ({name} set): nDCG@5 = {RESULTS[name]:.3f}"
                f" over {RESULTS[name + ' queries']:.0f} labeled queries"
            )
