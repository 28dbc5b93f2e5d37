"""Ingesting Hugging Face days into storage, over the wire against the fake API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingest import ingest_days, recent_days
from bot.sources.huggingface import HuggingFaceSource
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import MISSING, FakeHuggingFace, make_item
from tests.support import ingest_one_at_a_time

DAY = date(2026, 3, 6)


@pytest.fixture
async def hf() -> AsyncIterator[FakeHuggingFace]:
    async with FakeHuggingFace() as fake:
        yield fake


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(tmp_path / "t.db")
    yield storage
    await storage.close()


async def _no_sleep(_: float) -> None:
    return None


def test_recent_days() -> None:
    assert recent_days(DAY, 3) == [date(2026, 3, 4), date(2026, 3, 5), DAY]


async def test_ingest_stores_papers_and_refreshes_upvotes(hf, store) -> None:
    hf.add_papers(DAY, [make_item("2603.00001", "A", day=DAY, upvotes=5)])
    async with HuggingFaceSource(hf.endpoint, sleep=_no_sleep) as source:
        first = await ingest_days(store, source, [DAY])
        hf.set_upvotes("2603.00001", 42)
        second = await ingest_days(store, source, [DAY])
    assert first.papers == second.papers == 1 and second.ok
    paper = await store.get_paper("2603.00001")
    assert paper is not None and paper.upvotes == 42 and paper.featured_on == DAY


async def test_item_missing_fields_never_erases_stored_data(hf, store) -> None:
    hf.add_papers(DAY, [make_item("2603.00001", "A", day=DAY, summary="Full abstract.")])
    async with HuggingFaceSource(hf.endpoint, sleep=_no_sleep) as source:
        await ingest_days(store, source, [DAY])
        hf.add_papers(
            DAY + timedelta(days=1),
            [make_item("2603.00001", "A", day=DAY, summary=MISSING, ai_summary=None)],
        )
        await ingest_days(store, source, [DAY + timedelta(days=1)])
    paper = await store.get_paper("2603.00001")
    assert paper is not None and paper.summary == "Full abstract."
    assert paper.ai_summary is not None


async def test_a_failing_day_is_skipped_and_reported(hf, store) -> None:
    hf.add_papers(DAY, [make_item("2603.00001", "A", day=DAY)])
    hf.fail("daily_papers", "500", times=10)
    seen: list[tuple[date, int]] = []
    async with HuggingFaceSource(hf.endpoint, max_attempts=2, sleep=_no_sleep) as source:
        bad = await ingest_days(store, source, [DAY], lambda d, n: seen.append((d, n)))
    assert not bad.ok and bad.days_failed[0][0] == DAY and bad.papers == 0
    assert seen == [(DAY, 0)]


async def _run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_ingest_and_search_json(hf, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    hf.add_papers(today, [make_item("2603.00007", "Sparse <b>attention</b> for all", day=today)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env |= {"PAPERBOT_HF_ENDPOINT": hf.endpoint, "PAPERBOT_DB": str(tmp_path / "bot.db")}
    code, out, err = await _run_cli("ingest", "--days", "2", env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "stored 1 papers from 2 day(s)"
    assert "100%" in err  # the progress bar
    code, out, _ = await _run_cli("search", "attention", "--json", env=env, cwd=tmp_path)
    assert code == 0
    rows = json.loads(out)
    assert [row["arxiv_id"] for row in rows] == ["2603.00007"]
    assert rows[0]["title"] == "Sparse <b>attention</b> for all"
    code, out, _ = await _run_cli("ingest", "--source", "seeds", env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("loaded 79 seed papers")


async def test_cli_ingest_with_source_down_exits_nonzero_without_traceback(
    hf, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env |= {"PAPERBOT_HF_ENDPOINT": "http://127.0.0.1:9", "PAPERBOT_DB": str(tmp_path / "b.db")}
    code, out, err = await _run_cli("ingest", "--date", "2026-03-06", env=env, cwd=tmp_path)
    assert code == 1
    assert out.strip() == "stored 0 papers from 0 day(s)"
    assert "failed 2026-03-06:" in err and "Traceback" not in err


async def test_index_upkeep_stops_at_its_budget_and_finishes_later(
    store: SqliteStorage,
) -> None:
    await ingest_one_at_a_time(store)
    # A zero budget still makes one step, then reports unfinished work.
    assert await store.upkeep(0) is False
    assert await store.upkeep(None) is True
    assert await store.merge_search_index(1000) is False
