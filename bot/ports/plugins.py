"""What a plugin provides: a chat adapter (group ``paperbot.adapters``) or a storage
backend (group ``paperbot.storage``), registered as an entry point of its package.

The core finds plugins through :mod:`bot.plugins` and names none of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import httpx
from pydantic_settings import BaseSettings

from bot.models import Defaults
from bot.ports.chat import ChatAdapter, CommandHandler
from bot.ports.storage import Storage

S = TypeVar("S", bound=BaseSettings)


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one ``paperbot doctor`` check."""

    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        """``ok  name: detail`` or ``FAIL name: detail``."""
        return f"{'ok ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


class AdapterPlugin(Protocol[S]):
    """One chat platform as a plugin.

    ``name`` is the platform prefix of the channels it owns. ``settings_class``
    reads the plugin's own ``PAPERBOT_*`` variables. A plugin whose module
    imports its platform library only inside :meth:`create` keeps the core
    free of it. ``fallback`` marks the adapter run when no other is enabled
    (the console).
    """

    name: str
    settings_class: type[S]
    fallback: bool
    # What an operator sets to enable it ("PAPERBOT_TELEGRAM_TOKEN"); empty for the fallback.
    enable_hint: str
    # Shapes of secrets worth redacting from logs even when not configured
    # (a second bot's token, say).
    secret_patterns: Sequence[re.Pattern[str]]

    def enabled(self, settings: S) -> bool:
        """Whether ``paperbot run`` should start this adapter (its token is set)."""

    def fallback_ready(self) -> bool:
        """As the fallback: whether someone could chat with it here (the console: a terminal)."""

    def create(self, settings: S, handler: CommandHandler, defaults: Defaults) -> ChatAdapter:
        """A new adapter that feeds commands to ``handler``; ``start`` connects it."""

    async def check(self, settings: S, client: httpx.AsyncClient) -> Check | None:
        """``paperbot doctor``'s check of this platform (its token), or None without one."""

    def secrets(self, settings: S) -> list[str]:
        """The secret values set in ``settings``, for log redaction."""


class StoragePlugin(Protocol):
    """One storage backend as a plugin, chosen by the scheme of ``PAPERBOT_DATABASE_URL``."""

    name: str
    schemes: Sequence[str]

    async def open(self, url: str) -> Storage:
        """Connect to (and migrate) the database at ``url``."""

    def latest_schema_version(self) -> int:
        """The schema version :meth:`open` migrates to."""
