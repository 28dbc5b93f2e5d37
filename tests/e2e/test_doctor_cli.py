"""`paperbot doctor` as a process: its exit code says whether every check passed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.telegram import TokenCheckingTelegram
from tests.support import clean_environment, run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeHuggingFace, TokenCheckingTelegram]]:
    async with FakeHuggingFace() as hf, TokenCheckingTelegram() as telegram:
        yield hf, telegram


async def doctor(tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str]:
    return await run_cli("doctor", env=clean_environment(PYTHONPATH=str(ROOT), **env), cwd=tmp_path)


async def test_the_command_exits_1_when_a_check_fails(fakes, tmp_path: Path) -> None:
    hf, telegram = fakes
    env = {
        "PAPERBOT_DB": str(tmp_path / "cli.db"),
        "PAPERBOT_HF_ENDPOINT": hf.endpoint,
        "PAPERBOT_TELEGRAM_API_URL": telegram.api_url,
        "PAPERBOT_TELEGRAM_TOKEN": telegram.token,
    }
    code, out, err = await doctor(tmp_path, env)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "ok  telegram: token accepted (bot @paperbot_test_bot)"
    env["PAPERBOT_TELEGRAM_TOKEN"] = "7000000001:AAWrongTokenWrongTokenWrongToken0000"
    code, out, err = await doctor(tmp_path, env)
    assert (code, err) == (1, "")
    assert out.splitlines()[-1] == "FAIL telegram: token rejected: HTTP 401 (Unauthorized)"


async def test_the_command_reports_a_bad_setting_as_a_failed_check(tmp_path: Path) -> None:
    code, out, err = await doctor(tmp_path, {"PAPERBOT_TICK_SECONDS": "99"})
    assert code == 1 and err == ""
    assert out.startswith("FAIL configuration: PAPERBOT_TICK_SECONDS: ")
