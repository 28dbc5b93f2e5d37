"""Console chat: stdin lines in, plain-text replies out. The user is admin of ``console:local``."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from adapters.console.parse import parse_line
from adapters.console.render import RULE, render_reply
from bot.models import Button, Command, Post, Reply
from bot.ports.chat import CommandHandler, RateWindow, RenderLimits

CHANNEL = "console:local"
USER = "console:user"
GREETING = "paperbot console — type /help for commands, Ctrl-D to quit."


class ConsoleAdapter:
    """A chat adapter over stdin/stdout, interactive or piped.

    Lines are read on a daemon thread so a blocked ``readline`` never holds
    the process open; ``finished`` is set at end of input or on ``/quit``.
    """

    platform = "console"
    limits = RenderLimits(max_chars=100_000, max_cards=50)

    def __init__(
        self,
        handler: CommandHandler,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._handler = handler
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._interactive = self._stdin.isatty()
        self._buttons: tuple[Button, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    async def start(self) -> None:
        """Greet and start answering lines."""
        self._write(GREETING)
        self._task = asyncio.create_task(self._serve(), name="console-adapter")

    async def stop(self) -> None:
        """Stop answering; safe to call twice."""
        if self._task and not self._task.done():
            self._task.cancel()
        self.finished.set()

    def is_connected(self) -> bool:
        """Whether lines are still being read (false before start and after end of input)."""
        return self._task is not None and not self._task.done()

    async def send(self, channel: str, post: Post) -> str:
        """Print a digest post."""
        self._write(f"{RULE}\n[digest for {channel}]\n{render_reply(post.body)}\n{RULE}")
        return post.key

    def measure(self, body: Reply) -> int:
        """Rendered length in characters."""
        return len(render_reply(body))

    def rate_windows(self, channel: str) -> list[RateWindow]:
        """A terminal has no rate limit."""
        return []

    async def _serve(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            for line in self._stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        try:
            while True:
                self._prompt()
                line = await lines.get()
                if line is None or line.strip() in {"/quit", "/exit"}:
                    break
                if line.strip():
                    await self._answer(line)
        finally:
            self.finished.set()

    async def _answer(self, line: str) -> None:
        parsed = parse_line(line, self._buttons)
        if parsed is None:
            self._write("! Commands start with / — type /help.")
            return
        name, args = parsed
        if name in {"next", "prev"}:
            self._write(f"! Nothing to page through with /{name} — run /search first.")
            return
        reply = await self._handler(
            Command(name=name, args=args, channel=CHANNEL, user=USER, is_admin=True)
        )
        if reply.buttons:
            self._buttons = reply.buttons
        self._write(render_reply(reply))

    def _prompt(self) -> None:
        if self._interactive:
            self._stdout.write("> ")
            self._stdout.flush()

    def _write(self, text: str) -> None:
        self._stdout.write(text + "\n\n")
        self._stdout.flush()
