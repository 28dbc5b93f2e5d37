"""The console adapter at a terminal: log lines and the "> " prompt do not mix."""

from __future__ import annotations

import asyncio
import io
import logging
import os

from adapters.console.adapter import PROMPT, ConsoleAdapter
from bot.models import Command, Reply
from tests.support import eventually


class TerminalInput(io.TextIOWrapper):
    """A pipe that says it is a terminal, so the console shows its prompt."""

    def isatty(self) -> bool:
        return True


async def test_a_log_line_takes_the_prompt_away_and_puts_it_back() -> None:
    async def handler(cmd: Command) -> Reply:
        return Reply(text=f"ran /{cmd.name}")

    read_fd, write_fd = os.pipe()
    stdin = TerminalInput(io.FileIO(read_fd, "r"), encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    console = ConsoleAdapter(handler, stdin=stdin, stdout=stdout)
    log = logging.getLogger("test.console")
    log_handler = logging.StreamHandler(console.log_stream(stderr))
    log.addHandler(log_handler)
    try:
        await console.start()
        await eventually(lambda: stdout.getvalue().endswith(PROMPT), message="the prompt")
        log.warning("Hugging Face lookup failed")
        # The prompt was erased before the line and drawn again after it.
        assert stdout.getvalue().endswith(PROMPT + "\r\x1b[K" + PROMPT)
        assert stderr.getvalue() == "Hugging Face lookup failed\n"
        os.write(write_fd, b"/help\n")
        await eventually(lambda: "ran /help" in stdout.getvalue(), message="the reply")
        await eventually(lambda: stdout.getvalue().endswith(PROMPT), message="the prompt")
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
