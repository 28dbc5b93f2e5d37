"""``paperbot run`` fetching arXiv on its own schedule, as a real subprocess.

Three subscriptions share arXiv categories; the bot runs against the arXiv fake
(arXiv's 3-second rule scaled by 0.01, with PAPERBOT_RATE_LIMIT_SCALE to match)
and the Telegram fake. Each category's feed is fetched once and the metadata in
one batch, the fake counts no violation, each chat gets its arXiv digest, and a
restart fetches nothing again.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from bot.arxiv_schedule import announcement_day
from bot.models import Subscription
from bot.transfer import export_document
from storage.sqlite import SqliteStorage
from tests.fakes.arxiv import FakeArxiv, weekday_papers
from tests.fakes.telegram import FakeTelegram
from tests.support import clean_environment, eventually, run_cli

SCALE = 0.01
CHATS = {
    5550001: ("cs.CL", "cs.LG"),
    5550002: ("cs.LG", "stat.ML"),
    5550003: ("cs.CL", "stat.ML"),
}


async def run_until(env: dict[str, str], folder: Path, name: str, ready: object) -> str:
    """Start ``paperbot run``, wait for ``ready()`` (an async check), stop it; its log."""
    log_path = folder / f"{name}.log"
    with log_path.open("w") as log:
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=folder, stdout=log, stderr=log
        )
        try:
            await eventually(
                ready,  # type: ignore[arg-type]
                timeout=60,
                message=lambda: log_path.read_text()[-3000:],
            )
            bot.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(bot.wait(), 15)
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
    text = log_path.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    return text


async def test_scheduled_fetch_is_shared_paced_and_survives_a_restart(tmp_path: Path) -> None:
    async with FakeArxiv(time_scale=SCALE) as arxiv, FakeTelegram() as telegram:
        arxiv.announce(announcement_day(datetime.now(UTC)), weekday_papers())
        env = clean_environment(
            PAPERBOT_DB=str(tmp_path / "paperbot.db"),
            PAPERBOT_ARXIV_FEED_URL=arxiv.endpoint,
            PAPERBOT_ARXIV_API_URL=arxiv.endpoint,
            PAPERBOT_RATE_LIMIT_SCALE=str(SCALE),
            PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9",
            PAPERBOT_TELEGRAM_TOKEN=telegram.token,
            PAPERBOT_TELEGRAM_API_URL=telegram.api_url,
            PAPERBOT_EMBEDDER="none",
            PAPERBOT_LOG_LEVEL="DEBUG",
        )
        subs = [
            Subscription(channel=f"telegram:{chat}", post_time=time(9, 0), arxiv_categories=cats)
            for chat, cats in CHATS.items()
        ]
        (tmp_path / "subs.json").write_text(export_document(subs))
        code, _, err = await run_cli("import", "subs.json", env=env, cwd=tmp_path)
        assert code == 0, err
        store = await SqliteStorage.open(tmp_path / "paperbot.db")
        try:  # due now, whatever the time of day the test runs at
            for sub in subs:
                await store.set_next_run(sub.channel, datetime.now(UTC) - timedelta(minutes=1))
        finally:
            await store.close()

        def every_chat_has_its_digest() -> bool:
            return all(len(telegram.sent(chat)) == 1 for chat in CHATS)

        await run_until(env, tmp_path, "first", every_chat_has_its_digest)
        feeds = sorted(r.path for r in arxiv.requests if r.path.startswith("/rss/"))
        assert feeds == ["/rss/cs.CL", "/rss/cs.LG", "/rss/stat.ML"]
        assert arxiv.count("api") == 1
        assert arxiv.violations == []
        first = telegram.sent(5550001)[0]["plain_text"]
        assert "New on arXiv" in first
        assert "cs.CL, cs.LG · top 4 of 4 new papers" in first
        assert "Retrieval-Augmented Summarisation" not in first  # a replacement

        requests = len(arxiv.requests)
        log = tmp_path / "second.log"

        def nothing_left_to_fetch() -> bool:
            return log.exists() and "arXiv: nothing to fetch" in log.read_text()

        await run_until(env, tmp_path, "second", nothing_left_to_fetch)
        assert len(arxiv.requests) == requests  # the restart fetched nothing again
        assert telegram.violations == []
        assert all(len(telegram.sent(chat)) == 1 for chat in CHATS)
