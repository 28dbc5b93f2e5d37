"""What a plugin provides: a chat adapter (group ``paperbot.adapters``) or a storage
backend (group ``paperbot.storage``), registered as an entry point of its package.

The core finds plugins through :mod:`bot.plugins` and names none of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

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

    def local_files(self, url: str) -> tuple[Path | None, str]:
        """Where files derived from the database at ``url`` (the saved vector
        index) belong, and a name of that database's own to start theirs with.

        A file database answers its own folder and file name; a server
        database answers None (each process keeps them in a folder of its own,
        ``PAPERBOT_INDEX_DIR``) and a name derived from the server and database.
        """


class CopyFailed(Exception):
    """A database copy could not start or stopped; what was committed stays (it resumes)."""


class CopyProgress(Protocol):
    """Told how a database copy advances, e.g. to draw a progress bar."""

    def planned(self, rows: int) -> None:
        """The copy has this many source rows left to copy, over every table."""

    def copied(self, table: str, rows: int) -> None:
        """``rows`` more rows of ``table`` are committed in the target."""


@runtime_checkable
class CopiesDatabases(Protocol):
    """A storage plugin that can fill its database from another backend's (``paperbot db copy``).

    The copy is idempotent (rows are matched on their natural keys, so running
    it again changes nothing) and resumable (each committed batch records how
    far it got, and the next run carries on from there).
    """

    copy_sources: Sequence[str]
    """URL schemes of the databases it can copy from."""

    async def copy_from(
        self, source_url: str, target_url: str, *, from_start: bool, progress: CopyProgress
    ) -> dict[str, int]:
        """Copy every table of ``source_url`` into ``target_url``; rows copied per table.

        Both databases must be at their backend's latest schema. ``from_start``
        forgets where an earlier copy got to and copies every row again.
        Raises :class:`CopyFailed` with the reason when it cannot go on.
        """
