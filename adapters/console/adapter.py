"""Console chat: stdin lines in, plain-text replies out. The user is admin of ``console:local``."""

from __future__ import annotations

import asyncio
import io
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
PROMPT = "> "
# Moves to the start of the line and erases it (ANSI), taking the prompt away.
_CLEAR_LINE = "\r\x1b[K"


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
        self._prompt_shown = False
        self.finished = asyncio.Event()

    def log_stream(self, stream: TextIO) -> io.TextIOBase:
        """``stream`` (stderr) wrapped so log lines never land after the "> " prompt.

        Each line clears the prompt first and shows it again after; point the
        log handler at this while the console runs.
        """
        return _PromptSafeStream(self, stream)

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
                self._prompt_shown = False
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
        if name in {"next", "prev"} or (name.isdigit() and not args):
            self._write(self._no_such_action(name))
            return
        reply = await self._handler(
            Command(name=name, args=args, channel=CHANNEL, user=USER, is_admin=True)
        )
        self._follow(name, reply)
        self._write(render_reply(reply))

    def _follow(self, name: str, reply: Reply) -> None:
        """Make numbers and /next, /prev refer to the list this reply shows, if it shows one.

        Paging keeps the numbers of the pages seen before, so /1 still opens
        the first result from page 2.
        """
        if not any(card.rank is not None for card in reply.cards):
            return  # not a list (help, settings, one paper): the last list stays current
        if name == "page":
            kept = tuple(b for b in self._buttons if b.alias.isdigit())
            fresh = {b.alias for b in reply.buttons}
            self._buttons = reply.buttons + tuple(b for b in kept if b.alias not in fresh)
        else:
            self._buttons = reply.buttons

    def _no_such_action(self, name: str) -> str:
        """Why ``/name`` does nothing for the list on screen."""
        if name.isdigit():
            numbers = sorted(int(b.alias) for b in self._buttons if b.alias.isdigit())
            if not numbers:
                return f"! Nothing numbered {name} on screen — run /search or /today first."
            return f"! No result {name} here; results shown are /{numbers[0]}…/{numbers[-1]}."
        if not self._buttons:
            return f"! Nothing to page through with /{name} — run /search first."
        if not any(b.alias in {"next", "prev"} for b in self._buttons):
            return "! The list on screen has only one page."
        where = "last" if name == "next" else "first"
        return f"! This is the {where} page of these results."

    def _prompt(self) -> None:
        if self._interactive:
            self._stdout.write(PROMPT)
            self._stdout.flush()
            self._prompt_shown = True

    def _write(self, text: str) -> None:
        self._stdout.write(text + "\n\n")
        self._stdout.flush()


class _PromptSafeStream(io.TextIOBase):
    """A log stream that takes the console's prompt away while a line is written."""

    def __init__(self, console: ConsoleAdapter, stream: TextIO) -> None:
        self._console = console
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text``; around a whole line, hide and re-show a visible prompt."""
        console = self._console
        prompt = console._prompt_shown
        if prompt:
            console._stdout.write(_CLEAR_LINE)
            console._stdout.flush()
        self._stream.write(text)
        self._stream.flush()
        if prompt:
            console._stdout.write(PROMPT)
            console._stdout.flush()
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self._stream.flush()
