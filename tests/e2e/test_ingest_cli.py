"""`paperbot ingest` and `paperbot search` as processes, against the fake Hugging Face API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.fakes.huggingface import FakeHuggingFace, make_item
from tests.support import clean_environment, run_cli


async def test_cli_ingest_and_search_json(hf: FakeHuggingFace, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    hf.add_papers(today, [make_item("2603.00007", "Sparse <b>attention</b> for all", day=today)])
    env = clean_environment(PAPERBOT_HF_ENDPOINT=hf.endpoint, PAPERBOT_DB=str(tmp_path / "bot.db"))
    code, out, err = await run_cli("ingest", "--days", "2", env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "stored 1 papers from 2 day(s)"
    assert "100%" in err  # the progress bar
    code, out, _ = await run_cli("search", "attention", "--json", env=env, cwd=tmp_path)
    assert code == 0
    rows = json.loads(out)
    assert [row["arxiv_id"] for row in rows] == ["2603.00007"]
    assert rows[0]["title"] == "Sparse <b>attention</b> for all"
    code, out, _ = await run_cli("ingest", "--source", "seeds", env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("loaded 79 seed papers")


async def test_cli_ingest_with_source_down_exits_nonzero_without_traceback(
    tmp_path: Path,
) -> None:
    env = clean_environment(
        PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9", PAPERBOT_DB=str(tmp_path / "b.db")
    )
    code, out, err = await run_cli("ingest", "--date", "2026-03-06", env=env, cwd=tmp_path)
    assert code == 1
    assert out.strip() == "stored 0 papers from 0 day(s)"
    assert "failed 2026-03-06:" in err and "Traceback" not in err


async def test_unreachable_host_fails_the_run_in_one_line(tmp_path: Path) -> None:
    env = clean_environment(
        PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9", PAPERBOT_DB=str(tmp_path / "b.db")
    )
    code, _, err = await run_cli("ingest", "--days", "3", env=env, cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.replace("\r", "\n").splitlines() if "Hugging Face" in line]
    # One warning when it gives up, one summary naming every day: no line per attempt or day.
    assert len(lines) == 2, lines
    assert "WARNING" in lines[0] and "cannot reach Hugging Face at http://127.0.0.1:9" in lines[0]
    assert lines[1].startswith("failed ") and lines[1].count("-") >= 6
