"""`paperbot run` as a process: health and metrics over HTTP, a clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import clean_environment, eventually

ROOT = Path(__file__).resolve().parents[2]
METRICS = (
    "paperbot_deliveries_total",
    "paperbot_outbox_depth",
    "paperbot_ingest_runs_total",
    "paperbot_ingest_failures_total",
    "paperbot_search_seconds",
    "paperbot_commands_total",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(
    url: str, process: asyncio.subprocess.Process, seconds: float = 30
) -> httpx.Response:
    """The first answer from ``url``; fails at once if the process exits meanwhile."""
    async with httpx.AsyncClient(timeout=1) as client:

        async def answer() -> httpx.Response | None:
            if process.returncode is not None:
                _, err = await process.communicate()
                raise AssertionError(f"the bot exited ({process.returncode}): {err.decode()}")
            try:
                return await client.get(url)
            except httpx.TransportError:
                return None

        response = await eventually(answer, seconds, 0.1, message=f"{url} to answer")
    assert isinstance(response, httpx.Response)
    return response


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_serves_health_and_metrics_then_stops_cleanly(tmp_path: Path, sig: int) -> None:
    port = free_port()
    environment = clean_environment()
    environment.update(
        PYTHONPATH=str(ROOT),
        PAPERBOT_DB=str(tmp_path / "bot.db"),
        PAPERBOT_HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        PAPERBOT_HTTP_PORT=str(port),
    )
    # stdin stays open (a pipe we never close), so the console adapter keeps running.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=environment,
    )
    try:
        health = await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["adapters"] == {"console": True}
        async with httpx.AsyncClient(timeout=5) as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert [name for name in METRICS if name not in metrics] == []
        began = time.monotonic()
        process.send_signal(sig)
        output, errors = await asyncio.wait_for(process.communicate(), 10)
        elapsed = time.monotonic() - began
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    out, err = output.decode(), errors.decode()
    assert process.returncode == 0, err
    assert elapsed < 10
    assert f"received {signal.Signals(sig).name}: shutting down" in err
    assert "Traceback" not in err and "ERROR" not in err
    assert out.startswith("paperbot console")
