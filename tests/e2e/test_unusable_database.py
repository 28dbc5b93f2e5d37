"""An unusable database ends every command quickly with one line naming PAPERBOT_DB.

Each command runs as a real subprocess: the exit code, the output and the wall
time (from start to exit, under 2 s) are what an operator sees. A hang (the
aiosqlite thread is not a daemon) would show as a timeout here.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage
from tests.support import clean_environment

BUDGET_SECONDS = 2.0
# What starting Python and importing the bot takes on an idle machine. On a
# loaded one (parallel test runs) everything is slower: the budget is scaled
# by how much slower that start-up is right now.
IDLE_STARTUP_SECONDS = 0.9
# Commands run at once (the machine's two cores).
LANES = 2
COMMANDS: list[list[str]] = [
    ["status"],
    ["search", "graph"],
    ["export"],
    ["import", "subs.json"],
    ["ingest", "--days", "1"],
    ["doctor"],
    ["run"],
]
EXPORT = '{"format": "paperbot-subscriptions", "version": 1, "subscriptions": []}\n'


def _make_db(path: Path) -> None:
    async def fill() -> None:
        store = await SqliteStorage.open(path)
        try:
            await store.upsert_papers(load_seed_papers())
        finally:
            await store.close()

    asyncio.run(fill())


def _run(cwd: Path, db: Path, command: list[str]) -> tuple[int, list[str], float]:
    """(exit code, non-empty output lines, seconds) of ``paperbot <command>``."""
    env = clean_environment()
    # Nothing listens on port 9: remote checks fail at once instead of waiting.
    env |= {"PAPERBOT_DB": str(db), "PAPERBOT_HF_ENDPOINT": "http://127.0.0.1:9"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot", *command],
        cwd=cwd,
        env=env,
        # An empty pipe, not /dev/null: `run` without a chat token on /dev/null
        # stops for that reason before it opens the database.
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    elapsed = time.monotonic() - started
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return result.returncode, lines, elapsed


def _startup_seconds(cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "import bot.cli, bot.app"], cwd=cwd, check=True, capture_output=True
    )
    return time.monotonic() - started


def _budget(cwd: Path) -> float:
    """:data:`BUDGET_SECONDS`, scaled by how much slower than idle Python starts right now,
    measured as the commands run: :data:`LANES` at once."""
    with ThreadPoolExecutor(LANES) as pool:
        slowest = max(pool.map(_startup_seconds, [cwd] * LANES))
    return BUDGET_SECONDS * max(1.0, slowest / IDLE_STARTUP_SECONDS)


def _check_commands(cwd: Path, db: Path, cause: str, commands: list[list[str]] = COMMANDS) -> None:
    budget = _budget(cwd)
    (cwd / "subs.json").write_text(EXPORT, encoding="utf-8")
    # Two at a time: each command is a process of its own, mostly starting
    # Python, and the test takes half as long.
    with ThreadPoolExecutor(LANES) as pool:
        results = list(pool.map(lambda command: _run(cwd, db, command), commands))
    for command, (code, lines, elapsed) in zip(commands, results, strict=True):
        named = [line for line in lines if f"PAPERBOT_DB={db}" in line]
        where = f"paperbot {' '.join(command)}: {lines}"
        assert code != 0, where
        assert len(named) == 1 and cause in named[0], where
        assert not any("Traceback" in line for line in lines), where
        if command[0] != "doctor":  # the doctor prints every check, one line each
            assert lines == named, where
        assert elapsed < budget, f"{where} took {elapsed:.2f} s (budget {budget:.2f} s)"


def _mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a small tmpfs on ``folder`` if this process may (root in a container)."""
    folder.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[None]:
    if not _mount_tmpfs(folder, size):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"This is a text file, not SQLite.\n" * 200)
    _check_commands(tmp_path, db, "file is not a database")


def test_missing_folder(tmp_path: Path) -> None:
    db = tmp_path / "no-such-folder" / "bot.db"
    _check_commands(tmp_path, db, f"folder {db.parent} does not exist")


def test_read_only_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    if os.geteuid() == 0:
        # Root writes through file modes: make the whole file system read-only.
        with _tmpfs(folder, "8m"):
            _make_db(folder / "bot.db")
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            _check_commands(tmp_path, folder / "bot.db", "read-only")
        return
    folder.mkdir()
    db = folder / "bot.db"
    _make_db(db)
    db.chmod(0o444)
    _check_commands(tmp_path, db, "read")


def test_disk_full_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "full"
    with _tmpfs(folder, "2m"):
        _make_db(folder / "bot.db")
        # Fill the file system to the last block.
        with open(folder / "filler", "wb") as filler, pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        _check_commands(tmp_path, folder / "bot.db", "full", [["status"], ["ingest"], ["run"]])


def test_locked_beyond_the_busy_timeout(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    _make_db(db)
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        try:
            _check_commands(tmp_path, db, "database is locked", [["status"], ["ingest"], ["run"]])
        finally:
            holder.execute("ROLLBACK")
