"""`paperbot status`, `export` and `import` through the command line, on a real database file."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from bot.cli import main, search_argv
from bot.models import Subscription
from bot.status import as_json, as_table, collect
from storage.sqlite import SqliteStorage

NEXT = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean PAPERBOT_ environment around one database; logging restored afterwards."""
    for name in [n for n in __import__("os").environ if n.startswith("PAPERBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    db = tmp_path / "bot.db"
    monkeypatch.setenv("PAPERBOT_DB", str(db))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield db
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def seed(db: Path) -> None:
    async def fill() -> None:
        store = await SqliteStorage.open(db)
        try:
            await store.save_subscription(
                Subscription(
                    channel="telegram:-100123",
                    post_time=time(9, 0),
                    timezone="Europe/Berlin",
                    weekdays=frozenset(range(1, 6)),
                    next_run_at=NEXT,
                )
            )
            await store.save_subscription(
                Subscription(channel="discord:42", paused=True, paused_reason="missing_permission")
            )
            await store.save_subscription(Subscription(channel="console:local", cadence="weekly"))
            for channel, state, error in (
                ("telegram:-100123", "sent", None),
                ("discord:42", "failed", "missing_permission"),
            ):
                sub_id = await store.subscription_id(channel)
                assert sub_id is not None
                delivery = await store.create_delivery(
                    sub_id, channel, "2026-03-09", NEXT, ["2603.00001"]
                )
                assert delivery is not None
                await store.finish_delivery(delivery, state, error)
        finally:
            await store.close()

    asyncio.run(fill())


def test_status_table(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(environment)
    assert main(["status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("  ")[0] == "channel"
    assert [line.split()[0] for line in out[1:]] == [
        "console:local",
        "discord:42",
        "telegram:-100123",
    ]
    berlin = next(line for line in out if line.startswith("telegram"))
    assert "09:00 Europe/Berlin, Mon–Fri" in berlin
    assert "Tue 10 Mar 2026, 09:00 CET" in berlin and "2026-03-10 08:00 UTC" in berlin
    assert "active" in berlin and berlin.endswith("2026-03-09 sent")
    paused = next(line for line in out if line.startswith("discord"))
    assert "paused: missing_permission" in paused
    assert paused.endswith("2026-03-09 failed: missing_permission")
    weekly = next(line for line in out if line.startswith("console"))
    assert "weekly on Mondays" in weekly and weekly.endswith("—")
    # Columns line up: every row has its state where the header's "state" starts.
    column = out[0].index("state")
    assert all(line[column:].startswith(("state", "active", "paused")) for line in out)


def test_status_json(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(environment)
    assert main(["status", "--json"]) == 0
    rows = {row["channel"]: row for row in json.loads(capsys.readouterr().out)}
    berlin = rows["telegram:-100123"]
    assert berlin["next_run_utc"] == "2026-03-10T08:00:00+00:00"
    assert berlin["next_run_local"] == "2026-03-10T09:00:00+01:00"
    assert berlin["schedule"] == "09:00 Europe/Berlin, Mon–Fri"
    assert berlin["last_delivery"]["state"] == "sent"
    assert rows["discord:42"]["paused_reason"] == "missing_permission"
    assert rows["discord:42"]["last_delivery"]["error"] == "missing_permission"
    assert rows["console:local"]["last_delivery"] is None
    assert rows["console:local"]["next_run_utc"] is None
    assert berlin["source"] == "hf"


async def test_status_of_an_empty_database(tmp_path: Path) -> None:
    store = await SqliteStorage.open(tmp_path / "empty.db")
    try:
        rows = await collect(store)
    finally:
        await store.close()
    assert as_table(rows) == "No subscriptions."
    assert as_json(rows) == "[]"


def test_export_then_import_elsewhere(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    seed(environment)
    assert main(["export"]) == 0
    exported = capsys.readouterr().out
    (tmp_path / "subs.json").write_text(exported, encoding="utf-8")
    monkeypatch.setenv("PAPERBOT_DB", str(tmp_path / "other.db"))
    assert main(["import", "subs.json"]) == 0
    assert capsys.readouterr().out == (
        "imported 3 subscription(s) from subs.json: 3 new, 0 updated, 0 unchanged\n"
    )
    assert main(["import", "subs.json"]) == 0
    assert "0 new, 0 updated, 3 unchanged" in capsys.readouterr().out
    assert main(["export"]) == 0
    assert capsys.readouterr().out == exported


def test_import_reads_stdin_and_tolerates_a_byte_order_mark(
    environment: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    seed(environment)
    main(["export"])
    exported = capsys.readouterr().out
    (tmp_path / "bom.json").write_text("\ufeff" + exported, encoding="utf-8")
    assert main(["import", "bom.json"]) == 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(exported))
    assert main(["import", "-"]) == 0
    assert "from <stdin>: 0 new, 0 updated, 3 unchanged" in capsys.readouterr().out


def test_a_bad_file_changes_nothing(environment: Path, tmp_path: Path, capsys) -> None:
    seed(environment)
    main(["export"])
    good = capsys.readouterr().out
    bad = good.replace('"top": 5', '"top": 50', 1).replace('"Europe/Berlin"', '"Mars/Olympus"')
    (tmp_path / "bad.json").write_text(bad, encoding="utf-8")
    assert main(["import", "bad.json"]) == 1
    lines = bad.splitlines()
    top = next(n for n, line in enumerate(lines, 1) if '"top": 50' in line)
    zone = [n for n, line in enumerate(lines, 1) if '"timezone"' in line][2]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"bad.json:{top}: subscription 1: top: top takes a whole number from 1 to 10",
        f"bad.json:{zone}: subscription 3: timezone: Unknown timezone 'Mars/Olympus'"
        ": use Area/City, e.g. Europe/Berlin",
        "paperbot: bad.json was not imported (nothing changed)",
    ]
    main(["export"])
    assert capsys.readouterr().out == good


def test_a_missing_file_is_a_usage_error(environment: Path, capsys) -> None:
    assert main(["import", "nope.json"]) == 2
    assert capsys.readouterr().err.startswith("paperbot: cannot read nope.json: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "arxiv"], "name at least one arXiv category"),
        (["--source", "arxiv", "--categories", " , "], "name at least one arXiv category"),
        (["--source", "arxiv", "--categories", "cs.CL", "--days", "2"], "--days and --date"),
        (["--categories", "cs.CL"], "--categories goes with --source arxiv"),
    ],
)
def test_arxiv_ingest_usage_errors_exit_2_without_touching_the_database(
    environment: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["ingest", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not environment.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["search", "pre-training", "-video"], ["search", "--", "pre-training", "-video"]),
        (["search", "-llm", "--json"], ["search", "--json", "--", "-llm"]),
        (["search", "llm", "--limit", "3"], ["search", "--limit", "3", "--", "llm"]),
        (["search", "--limit=2", "a", "-b"], ["search", "--limit=2", "--", "a", "-b"]),
        (["search", "--", "-x", "y"], ["search", "--", "-x", "y"]),
        (["status", "--json"], ["status", "--json"]),
    ],
)
def test_search_words_go_after_the_options(argv: list[str], expected: list[str]) -> None:
    assert search_argv(argv) == expected
