"""`paperbot run` as a real process, serving slash commands from the fake Discord."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.discord import FakeDiscord
from tests.support import clean_environment, eventually

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAx.run-test.super-secret-discord-token"
GUILD = 900_000_000_000_000_001
CHANNEL = 900_000_000_000_000_101
USER = 900_000_000_000_000_555


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as fake:
        fake.add_guild(GUILD, "papers", channels=[{"id": CHANNEL, "name": "general"}])
        yield fake
        fake.assert_no_violations()


def bot_env(fake: FakeDiscord, db: Path) -> dict[str, str]:
    env = clean_environment()
    env.update(
        PAPERBOT_DISCORD_TOKEN=TOKEN,
        PAPERBOT_DISCORD_API_URL=fake.api_url,
        PAPERBOT_DISCORD_GATEWAY_URL=fake.gateway_url,
        PAPERBOT_DB=str(db),
        PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9",  # nothing listens: live lookups fail fast
        PAPERBOT_LOG_LEVEL="DEBUG",  # the most talkative setting must not leak the token
    )
    return env


async def run_bot(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """``python -m bot ARGS`` with its output in cwd/output.log (a pipe could fill up)."""
    with (cwd / "output.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=env,
            cwd=cwd,  # no stray .env from the repository
            stdout=log,
            stderr=log,
        )


async def test_paperbot_run_serves_slash_commands_and_stops_on_sigterm(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    env = bot_env(fake, tmp_path / "paperbot.db")
    ingest = await run_bot(env, tmp_path, "ingest", "--source", "seeds")
    assert await ingest.wait() == 0

    bot = await run_bot(env, tmp_path, "run")
    try:

        def synced() -> bool:  # the global command set is written: the bot is ready
            assert bot.returncode is None, "paperbot run exited early"
            return None in fake.command_sets

        await eventually(synced, 20, 0.05, message="paperbot run to sync its commands")

        rec = await fake.push_interaction(GUILD, CHANNEL, USER, "search", {"query": "transformer"})
        await rec.wait_response(3)
        assert rec.original is not None and "Results for “transformer”" in rec.original["content"]
        assert rec.original["embeds"] and rec.original["components"]

        started = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 10) == 0
        assert time.monotonic() - started < 10
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    output = (tmp_path / "output.log").read_text()
    assert TOKEN not in output
    assert "discord ready" in output
