"""A chat adapter from another package, found through its entry point and served by
``paperbot run``: a command goes in, a reply comes out, a digest is delivered through it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Subscription
from storage.sqlite import SqliteStorage
from tests.support import clean_environment, eventually, make_paper

ROOT = Path(__file__).resolve().parents[2]

# A complete third-party plugin: it imports only the core (ports and config).
PLUGIN = '''
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic_settings import BaseSettings

from bot.config import settings_config
from bot.models import Command, Post, Reply
from bot.ports.chat import RateWindow, RenderLimits


class EchoSettings(BaseSettings):
    model_config = settings_config("PAPERBOT_ECHO_")
    folder: str | None = None


class EchoAdapter:
    """Answers the commands in inbox.txt into replies.jsonl; digests go to posts.jsonl."""

    platform = "echo"
    limits = RenderLimits(max_chars=4000, max_cards=10)

    def __init__(self, folder: Path, handler) -> None:
        self.folder, self.handler, self.task = folder, handler, None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.serve())

    async def serve(self) -> None:
        for line in (self.folder / "inbox.txt").read_text().splitlines():
            name, _, args = line.lstrip("/").partition(" ")
            reply = await self.handler(Command(name, args, "echo:room", "echo:ann", True))
            self.write("replies.jsonl", reply)

    def write(self, name: str, reply: Reply) -> None:
        entry = {"title": reply.title, "text": reply.text, "cards": [c.title for c in reply.cards]}
        with (self.folder / name).open("a") as out:
            out.write(json.dumps(entry) + "\\n")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def send(self, channel: str, post: Post) -> str:
        self.write("posts.jsonl", post.body)
        return post.key

    def measure(self, body: Reply) -> int:
        return len(body.text) + sum(len(card.title) for card in body.cards)

    def rate_windows(self, channel: str) -> list[RateWindow]:
        return []


class EchoPlugin:
    name = "echo"
    settings_class = EchoSettings
    fallback = False
    secret_patterns = ()

    def enabled(self, settings: EchoSettings) -> bool:
        return settings.folder is not None

    def create(self, settings, handler, defaults):
        return EchoAdapter(Path(settings.folder), handler)

    async def check(self, settings, client):
        return None

    def secrets(self, settings):
        return []


plugin = EchoPlugin()
'''


def install_plugin(site: Path) -> None:
    """What ``pip install echo-chat`` leaves on sys.path: the module and its dist-info."""
    site.mkdir()
    (site / "echo_chat.py").write_text(PLUGIN)
    info = site / "echo_chat-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-chat\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [paperbot.adapters]
            echo = echo_chat:plugin
            """
        )
    )


async def prepare_database(db: Path) -> None:
    """Papers featured yesterday and a subscription of the plugin's channel, due now."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    storage = await SqliteStorage.open(db)
    try:
        await storage.upsert_papers(
            [
                make_paper(f"2501.0000{i}", f"Echo paper {i}", day=yesterday, upvotes=i)
                for i in (1, 2)
            ]
        )
        due = datetime.now(UTC) - timedelta(minutes=1)
        await storage.save_subscription(Subscription(channel="echo:room", next_run_at=due))
    finally:
        await storage.close()


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_an_installed_third_party_adapter_is_served_end_to_end(tmp_path: Path) -> None:
    install_plugin(tmp_path / "site")
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "inbox.txt").write_text("/today\n/settings\n")
    await prepare_database(tmp_path / "paperbot.db")
    env = clean_environment()
    env.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT)]),
        PAPERBOT_ECHO_FOLDER=str(folder),
        PAPERBOT_DB=str(tmp_path / "paperbot.db"),
        PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9",
        PAPERBOT_TICK_SECONDS="0.2",
    )
    with (tmp_path / "output.log").open("ab") as log:
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path, stdout=log, stderr=log
        )
    try:

        def served() -> bool:
            assert bot.returncode is None, (tmp_path / "output.log").read_text()
            replies, posts = lines_of(folder / "replies.jsonl"), lines_of(folder / "posts.jsonl")
            return len(replies) >= 2 and bool(posts)

        await eventually(served, 30, 0.05, message=lambda: (tmp_path / "output.log").read_text())
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 10) == 0
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    today, settings = lines_of(folder / "replies.jsonl")
    assert today["cards"] == ["Echo paper 2", "Echo paper 1"]
    assert "cadence: daily\ntop: 5" in str(settings["text"])  # the stored subscription
    (digest,) = lines_of(folder / "posts.jsonl")
    assert digest["cards"] == ["Echo paper 2", "Echo paper 1"]
    assert "echo adapter started" in (tmp_path / "output.log").read_text()
