"""The console adapter at a terminal: log lines and the "> " prompt do not mix."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Callable

from adapters.console.adapter import PROMPT, ConsoleAdapter
from bot.models import Command, Reply


class TerminalInput(io.TextIOWrapper):
    """A pipe that says it is a terminal, so the console shows its prompt."""

    def isatty(self) -> bool:
        return True


class WatchedOutput(io.StringIO):
    """stdout that tells waiters when the console wrote to it (always from the loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


async def _until(
    output: WatchedOutput, condition: Callable[[], bool], timeout: float = 5.0
) -> None:
    """Wait until ``condition()`` holds after some write; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            output.written.clear()
            await output.written.wait()


async def test_a_log_line_takes_the_prompt_away_and_puts_it_back() -> None:
    async def handler(cmd: Command) -> Reply:
        return Reply(text=f"ran /{cmd.name}")

    read_fd, write_fd = os.pipe()
    stdin = TerminalInput(io.FileIO(read_fd, "r"), encoding="utf-8")
    stdout, stderr = WatchedOutput(), io.StringIO()
    console = ConsoleAdapter(handler, stdin=stdin, stdout=stdout)
    log = logging.getLogger("test.console")
    log_handler = logging.StreamHandler(console.log_stream(stderr))
    log.addHandler(log_handler)
    try:
        await console.start()
        await _until(stdout, lambda: stdout.getvalue().endswith(PROMPT))
        log.warning("Hugging Face lookup failed")
        # The prompt was erased before the line and drawn again after it.
        assert stdout.getvalue().endswith(PROMPT + "\r\x1b[K" + PROMPT)
        assert stderr.getvalue() == "Hugging Face lookup failed\n"
        os.write(write_fd, b"/help\n")
        await _until(stdout, lambda: "ran /help" in stdout.getvalue())
        await _until(stdout, lambda: stdout.getvalue().endswith(PROMPT))
        os.close(write_fd)
        await asyncio.wait_for(console.finished.wait(), 5)
        # No prompt is showing now: a log line leaves stdout alone.
        before = stdout.getvalue()
        log.warning("shutting down")
        assert stdout.getvalue() == before
    finally:
        log.removeHandler(log_handler)
        await console.stop()
        stdin.close()
