"""The installed plugins (entry points ``paperbot.adapters``, ``paperbot.storage`` and
``paperbot.embedders``) and the configuration they make up with the core's settings."""

from __future__ import annotations

import asyncio
import functools
import os
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from bot.config import ConfigError, Settings, load, load_settings
from bot.models import Defaults
from bot.ports.chat import ChatAdapter, CommandHandler
from bot.ports.embedder import Embedder, EmbedderPlugin
from bot.ports.plugins import AdapterPlugin, StoragePlugin
from bot.ports.storage import Storage
from bot.semantic import Semantic

ADAPTER_GROUP = "paperbot.adapters"
STORAGE_GROUP = "paperbot.storage"
EMBEDDER_GROUP = "paperbot.embedders"
# PAPERBOT_EMBEDDER value that turns semantic search off.
NO_EMBEDDER = "none"


@functools.cache
def adapter_plugins() -> tuple[AdapterPlugin[Any], ...]:
    """Every installed adapter plugin, by name (the order adapters start and doctor checks)."""
    found = sorted(entry_points(group=ADAPTER_GROUP), key=lambda entry: entry.name)
    return tuple(entry.load() for entry in found)


@functools.cache
def storage_plugins() -> tuple[StoragePlugin, ...]:
    """Every installed storage plugin, by name."""
    found = sorted(entry_points(group=STORAGE_GROUP), key=lambda entry: entry.name)
    return tuple(entry.load() for entry in found)


def platform_names() -> tuple[str, ...]:
    """The channel prefixes of every installed adapter."""
    return tuple(plugin.name for plugin in adapter_plugins())


def secret_patterns() -> list[re.Pattern[str]]:
    """The secret shapes every installed adapter asks the logs to redact."""
    return [pattern for plugin in adapter_plugins() for pattern in plugin.secret_patterns]


@dataclass(frozen=True, slots=True)
class Config:
    """The core's settings and each installed adapter's own."""

    core: Settings
    platforms: dict[str, BaseSettings]

    def enabled(self) -> list[tuple[AdapterPlugin[Any], BaseSettings]]:
        """The adapter plugins ``paperbot run`` starts (a token is set), with their settings."""
        return [
            (plugin, self.platforms[plugin.name])
            for plugin in adapter_plugins()
            if plugin.name in self.platforms and plugin.enabled(self.platforms[plugin.name])
        ]

    def secrets(self) -> list[str]:
        """Every secret value set (the database password too), for the log redaction."""
        found = [
            secret
            for plugin in adapter_plugins()
            if plugin.name in self.platforms
            for secret in plugin.secrets(self.platforms[plugin.name])
        ]
        password = self.core.storage_password
        return [*found, password] if password else found


def load_config(core: Settings | None = None) -> Config:
    """The core's settings and every installed adapter's, each bad value a ``ConfigError``."""
    settings = core if core is not None else load_settings()
    storage_plugin(settings.storage_url)
    embedder_entry(settings.embedder)
    return Config(
        settings, {plugin.name: load(plugin.settings_class) for plugin in adapter_plugins()}
    )


def defaults_from(settings: Settings) -> Defaults:
    """Subscription defaults from the settings."""
    return Defaults(post_time=settings.post_time, timezone=settings.default_timezone)


def enabled_adapters(config: Config, handler: CommandHandler) -> list[ChatAdapter]:
    """One adapter per enabled plugin; the fallback (console) when none is enabled."""
    defaults = defaults_from(config.core)
    found = [plugin.create(settings, handler, defaults) for plugin, settings in config.enabled()]
    return found or [fallback_adapter(handler, defaults)]


def fallback_adapter(handler: CommandHandler, defaults: Defaults) -> ChatAdapter:
    """The adapter run when no platform is configured (the console)."""
    plugin = _fallback_plugin()
    if plugin is None:
        raise ConfigError("no chat adapter is enabled and no fallback adapter is installed")
    return plugin.create(load(plugin.settings_class), handler, defaults)


def _fallback_plugin() -> AdapterPlugin[Any] | None:
    return next((plugin for plugin in adapter_plugins() if plugin.fallback), None)


def fallback_ready() -> bool:
    """Whether the fallback adapter could serve anyone here (the console needs a terminal)."""
    plugin = _fallback_plugin()
    return plugin is not None and plugin.fallback_ready()


def no_chat_message() -> str:
    """What to set when no adapter can run: every installed platform's variable."""
    hints = " and/or ".join(p.enable_hint for p in adapter_plugins() if p.enable_hint)
    return (
        f"no chat token set: set {hints} (in .env for Docker),"
        " or run it in a terminal for the console chat"
    )


def url_scheme(url: str) -> str:
    """``sqlite`` for ``sqlite:///x`` and for a bare path (no ``scheme://``)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else "sqlite"


def storage_plugin(url: str) -> StoragePlugin:
    """The installed backend that accepts ``url``'s scheme; else a ``ConfigError``."""
    scheme = url_scheme(url)
    for plugin in storage_plugins():
        if scheme in plugin.schemes:
            return plugin
    known = ", ".join(s for plugin in storage_plugins() for s in plugin.schemes) or "none"
    raise ConfigError(
        f"PAPERBOT_DATABASE_URL: no installed storage backend for {scheme!r} (installed: {known})"
    )


async def open_storage(url: str) -> Storage:
    """Open the database at ``url`` with the backend its scheme selects."""
    return await storage_plugin(url).open(url)


def embedder_entry(spec: str) -> EntryPoint | None:
    """The installed embedder plugin ``spec`` (``name`` or ``name:argument``) names, not loaded.

    None for "none"; a ``ConfigError`` naming the installed ones when unknown.
    """
    name = spec.strip().partition(":")[0]
    if name.casefold() == NO_EMBEDDER:
        return None
    entries = {entry.name: entry for entry in entry_points(group=EMBEDDER_GROUP)}
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none installed"
        raise ConfigError(
            f"PAPERBOT_EMBEDDER: unknown embedder {name!r} (installed: {known}, or none)"
        )
    return entries[name]


def load_embedder(spec: str) -> Embedder | None:
    """The embedder ``PAPERBOT_EMBEDDER`` names, loaded; None for "none"."""
    entry = embedder_entry(spec)
    if entry is None:
        return None
    plugin: EmbedderPlugin = entry.load()
    embedder = plugin.load(spec.strip().partition(":")[2].strip())
    # One BLAS thread. Embedding runs in one worker thread beside the event loop
    # and the database's; BLAS's own threads only fight them for the cores and
    # spin: on the 2-core machine the default embedder did 5,000-7,400 papers/s
    # with one thread against 1,800-5,000 with two (bench/relevance.py's texts).
    threadpool_limits(limits=1, user_api="blas")
    return embedder


def vector_index_file(settings: Settings, model: str) -> Path:
    """Where the semantic index of ``model`` over the configured database is saved.

    In ``PAPERBOT_INDEX_DIR`` when set; else beside a database file (SQLite),
    or for a server database in the user's cache folder (``$XDG_CACHE_HOME``,
    else ``~/.cache``, then ``paperbot``): each process keeps its own copy
    there. The name starts with the database's own and names the model.
    """
    url = settings.storage_url
    folder, name = storage_plugin(url).local_files(url)
    if settings.index_dir is not None:
        folder = settings.index_dir
    elif folder is None:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperbot"
    return folder / f"{name}.{re.sub(r'[^A-Za-z0-9._-]+', '-', model)}.vectors"


async def open_semantic(
    storage: Storage, spec: str, *, load: bool = True, settings: Settings | None = None
) -> Semantic | None:
    """Semantic search over ``storage`` with the embedder ``spec`` names; None when
    ``spec`` is "none". Its stored vectors are loaded first unless ``load`` is false
    (then the first :meth:`Semantic.embed_missing` loads them). With ``settings``
    (those ``storage`` was opened with) its index is saved and loaded where
    :func:`vector_index_file` says."""
    embedder = await asyncio.to_thread(load_embedder, spec)
    if embedder is None:
        return None
    index_file = vector_index_file(settings, embedder.name) if settings is not None else None
    semantic = Semantic(storage, embedder, index_file)
    if load:
        await semantic.load()
    return semantic
