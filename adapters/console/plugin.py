"""The console adapter as a ``paperbot.adapters`` plugin: the fallback when no platform is set."""

from __future__ import annotations

import os
import stat
import sys

import httpx
from pydantic_settings import BaseSettings

from adapters.console.adapter import ConsoleAdapter
from bot.config import settings_config
from bot.models import Defaults
from bot.ports.chat import ChatAdapter, CommandHandler
from bot.ports.plugins import Check


class ConsoleSettings(BaseSettings):
    """The console has nothing to configure."""

    model_config = settings_config("PAPERBOT_CONSOLE_")


class ConsolePlugin:
    """Chat on stdin/stdout, run when no other adapter is enabled (and by ``paperbot demo``)."""

    name = "console"
    settings_class = ConsoleSettings
    fallback = True
    enable_hint = ""
    secret_patterns = ()

    def enabled(self, settings: ConsoleSettings) -> bool:
        """Never chosen by configuration: only as the fallback."""
        return False

    def fallback_ready(self) -> bool:
        """Whether stdin can carry a chat: a terminal, a pipe or a file.

        A container started without ``-i`` has ``/dev/null`` (or nothing)
        there; the console would read end-of-input at once and the bot would
        just exit.
        """
        try:
            if sys.stdin.isatty():
                return True
            mode = os.fstat(sys.stdin.fileno()).st_mode
        except (OSError, ValueError, AttributeError):  # closed or replaced stdin
            return False
        return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)

    def create(
        self, settings: ConsoleSettings, handler: CommandHandler, defaults: Defaults
    ) -> ChatAdapter:
        """A console adapter on the process's stdin and stdout."""
        return ConsoleAdapter(handler)

    async def check(self, settings: ConsoleSettings, client: httpx.AsyncClient) -> Check | None:
        """Nothing remote to check."""
        return None

    def secrets(self, settings: ConsoleSettings) -> list[str]:
        """No secrets."""
        return []


plugin = ConsolePlugin()
