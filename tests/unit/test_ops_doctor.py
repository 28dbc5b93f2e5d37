"""`paperbot doctor` against the over-the-wire fakes, healthy and broken."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from bot.config import Settings
from bot.doctor import check_database, run_checks
from bot.models import Paper, Subscription
from bot.plugins import Config, load_config
from storage.postgresql import available_migrations as postgres_migrations
from storage.sqlite import SqliteStorage, available_migrations
from tests.fakes.discord import FakeDiscord
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.telegram import TokenCheckingTelegram

ROOT = Path(__file__).resolve().parents[2]
DISCORD_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.Gfake0.discord-token-for-doctor-tests"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeHuggingFace, TokenCheckingTelegram, FakeDiscord]]:
    async with (
        FakeHuggingFace() as hf,
        TokenCheckingTelegram() as telegram,
        FakeDiscord(token=DISCORD_TOKEN) as discord,
    ):
        yield hf, telegram, discord


def settings_for(fakes: Any, tmp_path: Path, **changes: Any) -> Config:
    """The core's, Telegram's and Discord's settings; ``changes`` by their PAPERBOT_ names."""
    hf, telegram, discord = fakes
    values = {
        "db": tmp_path / "doctor.db",
        "hf_endpoint": hf.endpoint,
        "telegram_api_url": telegram.api_url,
        "telegram_token": telegram.token,
        "discord_api_url": discord.api_url,
        "discord_token": DISCORD_TOKEN,
        **changes,
    }

    def part(prefix: str) -> dict[str, Any]:
        return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}

    core = {k: v for k, v in values.items() if not k.startswith(("telegram_", "discord_"))}
    config = load_config(Settings(_env_file=None, **core))  # type: ignore[call-arg]
    config.platforms["telegram"] = TelegramSettings(_env_file=None, **part("telegram_"))  # type: ignore[call-arg]
    config.platforms["discord"] = DiscordSettings(_env_file=None, **part("discord_"))  # type: ignore[call-arg]
    return config


async def lines(settings: Config) -> list[str]:
    return [check.line for check in await run_checks(settings)]


async def test_everything_ok(fakes, tmp_path: Path) -> None:
    settings = settings_for(fakes, tmp_path)
    hf, telegram, discord = fakes
    schema = max(version for version, _ in available_migrations())
    assert await lines(settings) == [
        "ok  configuration: adapters: discord, telegram; HTTP endpoint: off",
        f"ok  database: {tmp_path / 'doctor.db'} (schema {schema}, writable, 0 papers,"
        " 0 subscriptions)",
        f"ok  huggingface: {hf.endpoint} reachable",
        "ok  discord: token accepted (bot paperbot)",
        "ok  telegram: token accepted (bot @paperbot_test_bot)",
    ]
    assert [r.path for r in hf.requests] == ["/api/daily_papers"]
    assert hf.requests[0].query == {"limit": "1"}
    assert [call.method for call in telegram.calls] == ["getMe"]
    assert [(r.method, r.path) for r in discord.requests] == [("GET", "/users/@me")]


async def test_only_configured_adapters_are_checked(fakes, tmp_path: Path) -> None:
    settings = settings_for(fakes, tmp_path, telegram_token=None, discord_token=None)
    found = await lines(settings)
    assert [line.split(":")[0] for line in found] == [
        "ok  configuration",
        "ok  database",
        "ok  huggingface",
    ]
    assert "console only (no chat token set)" in found[0]


async def test_wrong_tokens_fail_without_printing_them(fakes, tmp_path: Path) -> None:
    wrong_telegram = "7000000001:AAWrongTokenWrongTokenWrongToken0000"
    wrong_discord = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.Gwrong.not-the-right-discord-token"
    settings = settings_for(
        fakes, tmp_path, telegram_token=wrong_telegram, discord_token=wrong_discord
    )
    found = await lines(settings)
    assert found[3:] == [
        "FAIL discord: token rejected: HTTP 401 (401: Unauthorized)",
        "FAIL telegram: token rejected: HTTP 401 (Unauthorized)",
    ]
    assert not any(wrong_telegram in line or wrong_discord in line for line in found)


async def test_unreachable_services_fail(fakes, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    settings = settings_for(fakes, tmp_path, hf_endpoint=dead, telegram_api_url=dead)
    found = await lines(settings)
    assert found[2] == f"FAIL huggingface: cannot reach {dead}: All connection attempts failed"
    assert found[4] == f"FAIL telegram: cannot reach {dead}: All connection attempts failed"
    assert not any(fakes[1].token in line for line in found)


async def test_hugging_face_errors_fail(fakes, tmp_path: Path) -> None:
    hf = fakes[0]
    hf.fail("daily_papers", "500")
    settings = settings_for(fakes, tmp_path)
    assert (await lines(settings))[2] == (
        f"FAIL huggingface: {hf.endpoint}/api/daily_papers answered HTTP 500"
    )
    hf.fail("daily_papers", "garbage")
    assert (await lines(settings))[2] == (
        f"FAIL huggingface: {hf.endpoint}/api/daily_papers did not answer with a list of papers"
    )


async def test_database_that_cannot_be_opened_fails(fakes, tmp_path: Path) -> None:
    path = tmp_path / "missing-folder" / "x.db"
    found = await lines(settings_for(fakes, tmp_path, db=path))
    assert found[1] == (
        f"FAIL database: cannot use PAPERBOT_DB={path}: folder {path.parent} does not exist"
    )


async def test_postgresql_database_is_checked_without_showing_its_password(
    fakes, tmp_path: Path, postgres_url: str
) -> None:
    # The test server trusts local connections, so any password gets in.
    url = postgres_url.replace("postgresql://postgres:@", "postgresql://postgres:s3cret-pw@")
    assert "s3cret-pw" in url
    found = await lines(settings_for(fakes, tmp_path, database_url=url))
    schema = max(version for version, _ in postgres_migrations())
    masked = url.replace("s3cret-pw", "***")
    assert found[1] == (
        f"ok  database: {masked} (schema {schema}, writable, 0 papers, 0 subscriptions)"
    )
    assert not any("s3cret-pw" in line for line in found)


async def test_unreachable_postgresql_fails_without_showing_its_password(
    fakes, tmp_path: Path
) -> None:
    url = f"postgresql://bot:s3cret-pw@127.0.0.1:{closed_port()}/paperbot"
    found = await lines(settings_for(fakes, tmp_path, database_url=url))
    shown = url.replace("s3cret-pw", "***")
    assert found[1].startswith(f"FAIL database: cannot use PAPERBOT_DATABASE_URL={shown}: ")
    assert "refused" in found[1] or "connect" in found[1].lower(), found[1]
    assert not any("s3cret-pw" in line for line in found)


async def test_wrong_api_urls_are_reported_as_wrong_urls(fakes, tmp_path: Path) -> None:
    hf, telegram, _ = fakes
    settings = settings_for(
        fakes,
        tmp_path,
        telegram_api_url=telegram.api_url + "/bot",  # the bot calls {url}/bot<token>/getMe
        discord_api_url=hf.endpoint,  # a server that is not Discord: 404 for /users/@me
    )
    found = await lines(settings)
    assert found[3:] == [
        "FAIL discord: wrong URL: the server answered HTTP 404 Not Found;"
        " PAPERBOT_DISCORD_API_URL is the API root, e.g. https://discord.com/api/v10",
        "FAIL telegram: wrong URL: the server answered HTTP 404 Not Found;"
        " PAPERBOT_TELEGRAM_API_URL is the API root, e.g. https://api.telegram.org without /bot",
    ]


async def test_counts_are_worded_in_the_singular_for_one(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    storage = await SqliteStorage.open(db)
    try:
        await storage.upsert_papers([Paper(title="Only one", arxiv_id="2603.00001")])
        await storage.save_subscription(Subscription(channel="console:local"))
    finally:
        await storage.close()
    check = await check_database(Settings(_env_file=None, db=db))  # type: ignore[call-arg]
    assert check.ok and check.line.endswith("writable, 1 paper, 1 subscription)")
