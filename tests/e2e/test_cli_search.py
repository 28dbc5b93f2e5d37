"""`paperbot search` from a shell: the chat's search syntax works unquoted, pipes close quietly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import clean_environment


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("search")
    environment = clean_environment()
    environment["PAPERBOT_DB"] = str(folder / "bot.db")
    loaded = _paperbot(["ingest", "--source", "seeds"], environment, folder)
    assert loaded.returncode == 0, loaded.stderr
    return environment


def _paperbot(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd or Path(env["PAPERBOT_DB"]).parent,
        check=False,
    )


def test_exclusions_work_unquoted(env: dict[str, str]) -> None:
    found = _paperbot(["search", "pre-training", "-video", "--json", "--limit", "100"], env)
    assert found.returncode == 0, found.stderr
    titles = [row["title"] for row in json.loads(found.stdout)]
    assert titles and not any("video" in title.casefold() for title in titles)
    everything = _paperbot(["search", "pre-training", "--json", "--limit", "100"], env)
    assert len(json.loads(everything.stdout)) > len(titles)


def test_only_an_exclusion_is_a_query_error_not_a_missing_query(env: dict[str, str]) -> None:
    result = _paperbot(["search", "-llm"], env)
    assert result.returncode == 2
    assert result.stderr.startswith("paperbot: Exclusions alone match nothing")


def test_a_closed_pipe_ends_quietly(env: dict[str, str]) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "search", "pre-training", "--limit", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=Path(env["PAPERBOT_DB"]).parent,
    ) as search:  # closes the pipes it opened, whatever happens
        assert search.stdout is not None and search.stderr is not None
        # Like `| head -1` that has had its line: the reader is gone before the
        # results are written (start-up alone takes longer than this close).
        search.stdout.close()
        err = search.stderr.read().decode()
        assert search.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipeError" not in err
