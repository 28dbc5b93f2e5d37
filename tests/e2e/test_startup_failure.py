"""A chat adapter that cannot start ends the bot with one clear line, not a traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.telegram import FakeTelegram
from tests.support import clean_environment

ROOT = Path(__file__).resolve().parents[2]

TOKEN = "123456:AAsecretsecretsecretsecretsecretsecret"


def test_unreachable_bot_api_is_one_redacted_line(tmp_path: Path) -> None:
    env = clean_environment()
    env |= {
        "PAPERBOT_TELEGRAM_TOKEN": TOKEN,
        "PAPERBOT_TELEGRAM_API_URL": "http://127.0.0.1:9",
        "PAPERBOT_DB": str(tmp_path / "bot.db"),
        "PAPERBOT_HF_ENDPOINT": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("paperbot: cannot start the telegram adapter: ")
    )


def test_no_token_without_a_terminal_stops_with_one_line(tmp_path: Path) -> None:
    """As in a container started from .env.example unchanged: no token, stdin /dev/null."""
    env = clean_environment()
    env |= {"PAPERBOT_DB": str(tmp_path / "bot.db"), "PAPERBOT_HF_ENDPOINT": "http://127.0.0.1:9"}
    for stdin in (subprocess.DEVNULL, None):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env=env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            # None: the child gets stdin closed altogether.
            preexec_fn=(lambda: os.close(0)) if stdin is None else None,
        )
        assert result.returncode == 78
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "paperbot: no chat token set: set PAPERBOT_DISCORD_TOKEN and/or"
            " PAPERBOT_TELEGRAM_TOKEN (in .env for Docker), or run it in a terminal for the"
            " console chat"
        ]
        assert not (tmp_path / "bot.db").exists()


async def test_a_wrong_bot_api_url_is_reported_as_a_wrong_url(tmp_path: Path) -> None:
    """A URL ending in /bot reaches a server answering 404 (and not JSON): not a token problem."""
    async with FakeTelegram() as fake:
        env = clean_environment()
        env |= {
            "PAPERBOT_TELEGRAM_TOKEN": fake.token,
            "PAPERBOT_TELEGRAM_API_URL": fake.api_url + "/bot",
            "PAPERBOT_DB": str(tmp_path / "bot.db"),
            "PAPERBOT_HF_ENDPOINT": "http://127.0.0.1:9",
        }
        for command in ("run", "doctor"):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", command,
                cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
            output = out.decode() + err.decode()
            assert process.returncode == 1, output
            assert "Traceback" not in output and "JSONDecodeError" not in output
            assert (
                "token rejected" not in output and "rejected PAPERBOT_TELEGRAM_TOKEN" not in output
            )
            assert fake.token not in output
            last = output.strip().splitlines()
            if command == "run":
                assert last[-1] == (
                    f"paperbot: cannot start the telegram adapter: {fake.api_url}/bot is not a"
                    " Telegram Bot API: the server answered HTTP 404 Not Found: check"
                    " PAPERBOT_TELEGRAM_API_URL: the Bot API server root, e.g."
                    " https://api.telegram.org, without /bot"
                )
            else:
                assert (
                    "FAIL telegram: wrong URL: the server answered HTTP 404 Not Found;"
                    " PAPERBOT_TELEGRAM_API_URL is the API root, e.g. https://api.telegram.org"
                    " without /bot"
                ) in last


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = clean_environment(PAPERBOT_DEFAULT_TIMEZONE="Mars/Base", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "PAPERBOT_DEFAULT_TIMEZONE" in lines[0] and "Mars/Base" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
