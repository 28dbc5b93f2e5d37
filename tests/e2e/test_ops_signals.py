"""`paperbot run` as a process: health and metrics over HTTP, a clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


def wait_healthy(url: str, process: subprocess.Popen[str], seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_serves_health_and_metrics_then_stops_cleanly(tmp_path: Path, sig: int) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    environment.update(
        PYTHONPATH=str(ROOT),
        PAPERBOT_DB=str(tmp_path / "bot.db"),
        PAPERBOT_HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        PAPERBOT_HTTP_PORT=str(port),
    )
    # stdin stays open (a pipe we never close), so the console adapter keeps running.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=environment,
    )
    try:
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["adapters"] == {"console": True}
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert [name for name in METRICS if name not in metrics] == []
        began = time.monotonic()
        process.send_signal(sig)
        out, err = process.communicate(timeout=10)
        elapsed = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert elapsed < 10
    assert f"received {signal.Signals(sig).name}: shutting down" in err
    assert "Traceback" not in err and "ERROR" not in err
    assert out.startswith("paperbot console")
