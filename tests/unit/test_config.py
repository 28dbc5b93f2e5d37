"""Settings from the environment (bot/config.py) and how a bad one is reported."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from bot.config import ConfigError, Settings, check_timezone, load, load_settings, parse_hhmm
from bot.plugins import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PAPERBOT_ variable from the outside and no .env file in the working directory."""
    for name in list(os.environ):
        if name.upper().startswith("PAPERBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    telegram, discord = load(TelegramSettings), load(DiscordSettings)
    assert settings.db == Path("./paperbot.db")
    assert settings.hf_endpoint == "https://huggingface.co"
    assert settings.arxiv_feed_url == "https://rss.arxiv.org"
    assert settings.arxiv_api_url == "https://export.arxiv.org"
    assert telegram.token is None and discord.token is None
    assert telegram.api_url == "https://api.telegram.org"
    assert discord.api_url == "https://discord.com/api/v10"
    assert discord.gateway_url == "wss://gateway.discord.gg"
    assert settings.default_post_time == "09:00" and settings.post_time == time(9, 0)
    assert settings.default_timezone == "UTC"
    assert (settings.ingest_days, settings.ingest_interval_minutes) == (3, 30)
    assert (settings.tick_seconds, settings.grace_hours) == (15.0, 6.0)
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        ("PAPERBOT_DB", "/data/bot.db", "db", Path("/data/bot.db")),
        ("PAPERBOT_HF_ENDPOINT", "http://127.0.0.1:8080/", "hf_endpoint", "http://127.0.0.1:8080"),
        ("PAPERBOT_ARXIV_FEED_URL", "http://rss.local/", "arxiv_feed_url", "http://rss.local"),
        ("PAPERBOT_ARXIV_API_URL", "https://api.local", "arxiv_api_url", "https://api.local"),
        ("PAPERBOT_TELEGRAM_API_URL", "http://tg.local", "telegram.api_url", "http://tg.local"),
        (
            "PAPERBOT_DISCORD_API_URL",
            "https://d.local/api/",
            "discord.api_url",
            "https://d.local/api",
        ),
        ("PAPERBOT_DISCORD_GATEWAY_URL", "ws://gw.local/", "discord.gateway_url", "ws://gw.local"),
        ("PAPERBOT_DATABASE_URL", "sqlite:///data/bot.db", "storage_url", "sqlite:///data/bot.db"),
        ("PAPERBOT_DEFAULT_POST_TIME", "7:05", "post_time", time(7, 5)),
        ("PAPERBOT_DEFAULT_TIMEZONE", "Asia/Kolkata", "default_timezone", "Asia/Kolkata"),
        ("PAPERBOT_INGEST_DAYS", "7", "ingest_days", 7),
        ("PAPERBOT_INGEST_INTERVAL_MINUTES", "90", "ingest_interval_minutes", 90),
        ("PAPERBOT_TICK_SECONDS", "0.5", "tick_seconds", 0.5),
        ("PAPERBOT_GRACE_HOURS", "0", "grace_hours", 0.0),
        ("PAPERBOT_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ],
)
def test_each_variable_is_read(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    config = load_config()
    platform, _, name = attribute.rpartition(".")
    settings = config.platforms[platform] if platform else config.core
    assert getattr(settings, name) == expected


def test_tokens_are_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERBOT_TELEGRAM_TOKEN", "123:tg-secret")
    monkeypatch.setenv("PAPERBOT_DISCORD_TOKEN", "dc-secret")
    telegram, discord = load(TelegramSettings), load(DiscordSettings)
    assert isinstance(telegram.token, SecretStr)
    assert isinstance(discord.token, SecretStr)
    assert telegram.token.get_secret_value() == "123:tg-secret"
    assert discord.token.get_secret_value() == "dc-secret"
    for text in (repr(telegram), str(discord), repr(telegram.token), repr(load_config())):
        assert "tg-secret" not in text and "dc-secret" not in text


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_tokens_mean_none(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("PAPERBOT_TELEGRAM_TOKEN", blank)
    monkeypatch.setenv("PAPERBOT_DISCORD_TOKEN", blank)
    config = load_config()
    assert config.enabled() == []
    assert load(TelegramSettings).token is None and load(DiscordSettings).token is None


@pytest.mark.parametrize(
    ("variable", "value", "detail"),
    [
        ("PAPERBOT_HF_ENDPOINT", "ftp://example.org", "not an http(s) URL"),
        ("PAPERBOT_HF_ENDPOINT", "huggingface.co", "not an http(s) URL"),
        ("PAPERBOT_ARXIV_FEED_URL", "rss.arxiv.org", "not an http(s) URL"),
        ("PAPERBOT_ARXIV_API_URL", "http://127.0.0.1:0", "port must be a number"),
        ("PAPERBOT_TELEGRAM_API_URL", "https:// spaced", "not an http(s) URL"),
        ("PAPERBOT_DISCORD_API_URL", "", "not an http(s) URL"),
        ("PAPERBOT_DISCORD_GATEWAY_URL", "https://gateway.discord.gg", "not a ws(s) URL"),
        ("PAPERBOT_TELEGRAM_API_URL", "http://127.0.0.1:notaport", "port must be a number"),
        ("PAPERBOT_HF_ENDPOINT", "http://127.0.0.1:70000", "port must be a number"),
        ("PAPERBOT_DISCORD_API_URL", "https://:443/api", "has no valid host"),
        ("PAPERBOT_DISCORD_GATEWAY_URL", "wss://gateway:0", "port must be a number"),
        ("PAPERBOT_TELEGRAM_WEBHOOK_URL", "https://bot.example:x/hook", "port must be a number"),
        ("PAPERBOT_DEFAULT_POST_TIME", "25:00", "not a time like 09:00"),
        ("PAPERBOT_DEFAULT_POST_TIME", "9am", "not a time like 09:00"),
        ("PAPERBOT_DEFAULT_TIMEZONE", "Mars/Base", "unknown timezone 'Mars/Base'"),
        ("PAPERBOT_DEFAULT_TIMEZONE", "../../etc/passwd", "unknown timezone '../../etc/passwd'"),
        ("PAPERBOT_DEFAULT_TIMEZONE", "/etc/localtime", "unknown timezone '/etc/localtime'"),
        ("PAPERBOT_DEFAULT_TIMEZONE", "europe/berln", "did you mean Europe/Berlin"),
        ("PAPERBOT_LOG_LEVEL", "LOUD", "not one of DEBUG, INFO, WARNING, ERROR"),
        ("PAPERBOT_INGEST_DAYS", "0", "greater than or equal to 1"),
        ("PAPERBOT_INGEST_DAYS", "many", "integer"),
        ("PAPERBOT_TICK_SECONDS", "0", "greater than 0"),
        (
            "PAPERBOT_DATABASE_URL",
            "mysql://db/paperbot",
            "no installed storage backend for 'mysql'",
        ),
        ("PAPERBOT_DISCORD_SHARD_IDS", "0,1", "needs PAPERBOT_DISCORD_SHARDS"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, detail: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert message.startswith(f"{variable}: ")
    assert detail in message
    assert "Value error" not in message and "\n" not in message


def test_dotenv_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PAPERBOT_DEFAULT_TIMEZONE=Europe/Berlin\n", encoding="utf-8")
    assert load_settings().default_timezone == "Europe/Berlin"


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PAPERBOT_LOG_LEVEL=ERROR\n", encoding="utf-8")
    monkeypatch.setenv("PAPERBOT_LOG_LEVEL", "WARNING")
    assert load_settings().log_level == "WARNING"


def test_overrides() -> None:
    assert load_settings(ingest_days=5).ingest_days == 5
    assert isinstance(load_settings(), Settings)


def test_helpers() -> None:
    assert parse_hhmm(" 23:59 ") == time(23, 59)
    with pytest.raises(ValueError, match="24-hour"):
        parse_hhmm("24:00")
    assert check_timezone("America/New_York") == "America/New_York"
    assert check_timezone("america/new_york") == "America/New_York"
    assert check_timezone("utc") == "UTC"
    with pytest.raises(ValueError):
        check_timezone("")
