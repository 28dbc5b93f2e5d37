"""Logs in both formats, with tokens redacted from every logger, message and traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from bot.config import Settings
from bot.logs import REDACTED, setup_logging
from bot.plugins import load_config

TELEGRAM_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
DISCORD_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.discord-secret-part-0123456789abcdef"
URL = f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe"
LOGGERS = [
    "paperbot.app",
    "telegram.ext.Updater",
    "httpx",
    "discord.client",
    "apscheduler",
    "aiohttp.server",
]


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What the handler set up by ``setup_logging`` writes (pytest owns the real stderr)."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def setup(stderr: io.StringIO, secrets: list[str], fmt: str) -> None:
    setup_logging("INFO", secrets, fmt)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stderr)


def log_failures() -> None:
    """An error with the token in the message, the exception text and a URL, from each logger."""
    for name in LOGGERS:
        try:
            raise ConnectionError(f"401 Unauthorized for {URL} (token {TELEGRAM_TOKEN})")
        except ConnectionError:
            logging.getLogger(name).exception("request to %s failed", URL)
        logging.getLogger(name).error("discord said no to %s", DISCORD_TOKEN)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_tokens_never_reach_the_log(stderr: io.StringIO, fmt: str) -> None:
    setup(stderr, [TELEGRAM_TOKEN, DISCORD_TOKEN], fmt)
    log_failures()
    out = stderr.getvalue()
    assert out.count("ConnectionError: 401") == len(LOGGERS)  # the tracebacks are there...
    assert TELEGRAM_TOKEN not in out and DISCORD_TOKEN not in out  # ...the secrets are not
    assert "ABC-DEF1234ghIkl" not in out and "discord-secret-part" not in out
    assert f"https://api.telegram.org/bot{REDACTED}/getMe" in out


def test_telegram_shaped_tokens_are_redacted_even_when_not_configured(stderr) -> None:
    """A token we were not told about (say, a second bot's) still matches the shape."""
    setup(stderr, [], "text")
    log_failures()
    out = stderr.getvalue()
    assert TELEGRAM_TOKEN not in out and "ABC-DEF1234ghIkl" not in out
    assert f"/bot{REDACTED}/getMe" in out


def test_json_lines_have_the_documented_fields(stderr: io.StringIO) -> None:
    setup(stderr, [TELEGRAM_TOKEN], "json")
    logging.getLogger("paperbot.jobs").info("ingested %d papers", 12)
    try:
        raise ValueError(f"bad token {TELEGRAM_TOKEN}")
    except ValueError:
        logging.getLogger("telegram.ext").exception("polling failed")
    first, second = (json.loads(line) for line in stderr.getvalue().splitlines())
    assert set(first) == {"ts", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "paperbot.jobs"
    assert first["message"] == "ingested 12 papers"
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "ERROR" and second["message"] == "polling failed"
    assert (
        second["exc"].startswith("Traceback")
        and f"ValueError: bad token {REDACTED}" in second["exc"]
    )


def test_text_lines_are_readable(stderr: io.StringIO) -> None:
    setup(stderr, [], "text")
    logging.getLogger("paperbot.app").warning("hello %s", "world")
    assert stderr.getvalue().rstrip().endswith("WARNING paperbot.app: hello world")


def test_secrets_of_lists_every_secret_setting() -> None:
    config = load_config(Settings(_env_file=None))  # type: ignore[call-arg]
    config.platforms["telegram"] = TelegramSettings(
        _env_file=None,  # type: ignore[call-arg]
        token=SecretStr(TELEGRAM_TOKEN),
        webhook_secret=SecretStr("webhook-secret"),
    )
    config.platforms["discord"] = DiscordSettings(_env_file=None, token=SecretStr(DISCORD_TOKEN))  # type: ignore[call-arg]
    assert sorted(config.secrets()) == sorted([TELEGRAM_TOKEN, DISCORD_TOKEN, "webhook-secret"])


def test_database_password_is_a_secret_and_url_credentials_are_redacted(
    stderr: io.StringIO,
) -> None:
    url = "postgresql://bot:pw-9f3k2@db.internal:5432/paperbot"
    config = load_config(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    assert config.secrets() == ["pw-9f3k2"]
    setup(stderr, config.secrets(), "text")
    logging.getLogger("paperbot.storage").warning("password pw-9f3k2 refused")
    # A URL with a short password still loses its credentials.
    logging.getLogger("paperbot.storage").warning("cannot reach postgres://u:pw@db/x")
    out = stderr.getvalue()
    assert "pw-9f3k2" not in out and f"password {REDACTED} refused" in out
    assert "cannot reach postgres://u:***@db/x" in out
