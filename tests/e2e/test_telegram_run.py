"""`paperbot run` as an operator runs it, pointed at the fake Bot API by environment only."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from bot.catalogue import BY_NAME
from tests.fakes.telegram import FakeTelegram
from tests.postgres import Backend
from tests.support import clean_environment

USER = 5551234
STARTUP_SECONDS = 30
PASSWORD = "s3cret-db-pw"


def bot_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The test's environment without any PAPERBOT_ setting, plus ``extra``."""
    env = clean_environment()
    env.update(PAPERBOT_DATABASE_URL=database_url, **extra)
    return env


async def test_paperbot_run_serves_telegram_and_stops_cleanly(
    tmp_path: Path, backend: Backend
) -> None:
    """Token and API URL from the environment; /help and /search answered; SIGTERM exits 0.

    Hugging Face is unreachable (port 9): the bot must keep serving chat anyway.
    Runs on SQLite and on PostgreSQL, selected by PAPERBOT_DATABASE_URL.
    The token and the database password must never reach the logs, even at DEBUG level.
    """
    # The test server trusts local connections, so any password gets in.
    url = backend.url.replace("postgresql://postgres:@", f"postgresql://postgres:{PASSWORD}@")
    ingest = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "ingest", "--source", "seeds",
        env=bot_environment(url), cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, ingest_errors = await asyncio.wait_for(ingest.communicate(), 60)
    assert ingest.returncode == 0, ingest_errors

    async with FakeTelegram() as fake:
        env = bot_environment(
            url,
            PAPERBOT_TELEGRAM_TOKEN=fake.token,
            PAPERBOT_TELEGRAM_API_URL=fake.api_url,
            PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9",
            PAPERBOT_LOG_LEVEL="DEBUG",
        )
        with (tmp_path / "out.log").open("w") as out, (tmp_path / "err.log").open("w") as err:
            bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path, stdout=out, stderr=err
            )
            try:
                await fake.wait_until(lambda: fake.polls_waiting == 1, timeout=STARTUP_SECONDS)
                fake.push_message(USER, "/help")
                await fake.wait_until(lambda: len(fake.sent(USER)) == 1)
                fake.push_message(USER, "/search transformers")
                await fake.wait_until(lambda: len(fake.sent(USER)) == 2)
                bot.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(bot.wait(), 10)
            finally:
                if bot.returncode is None:
                    bot.kill()
                    await bot.wait()
        assert fake.violations == [], fake.violations
        helped, found = fake.sent(USER)
        commands = [c["command"] for c in fake.commands()]

    logs = (tmp_path / "out.log").read_text() + (tmp_path / "err.log").read_text()
    assert code == 0, logs[-3000:]
    assert "/search <query>" in helped["plain_text"]
    assert "Results for “transformers”" in found["plain_text"]
    assert found["reply_markup"]["inline_keyboard"]
    assert len(commands) == len(BY_NAME)  # every command and alias of the catalogue
    assert fake.token not in logs and fake.token.split(":", 1)[1] not in logs
    assert PASSWORD not in logs
    assert "Traceback" not in logs, logs[-3000:]
