"""``paperbot db copy --to URL``: move the embedded database to a server backend.

The configured database (the source, usually SQLite) and the target are both
opened through their plugins first, which brings each to its latest schema;
the target's plugin then copies the rows (see :class:`bot.ports.plugins.CopiesDatabases`).
"""

from __future__ import annotations

import sys
from typing import Any

from bot.config import ConfigError, Settings, mask_url_passwords
from bot.plugins import open_storage, storage_plugin, url_scheme
from bot.ports.plugins import CopiesDatabases, CopyFailed
from bot.ports.storage import DatabaseUnusable


class _Bar:
    """A tqdm progress bar over every row the copy has left, by table."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar: Any = tqdm(total=0, unit="row", file=sys.stderr)

    def planned(self, rows: int) -> None:
        """Sets the bar's length."""
        self._bar.reset(total=rows)

    def copied(self, table: str, rows: int) -> None:
        """Advances the bar and names the table being copied."""
        self._bar.set_postfix_str(table, refresh=False)
        self._bar.update(rows)

    def close(self) -> None:
        """Finishes the bar's line."""
        self._bar.close()


async def copy_database(settings: Settings, target_url: str, *, from_start: bool) -> str:
    """Copy the configured database into ``target_url``; the summary line to print.

    Raises :class:`ConfigError` when the target backend cannot take a copy
    from the configured one, :class:`CopyFailed` when the target cannot be
    used or the copy stops, and the storage port's errors for the source.
    """
    target = storage_plugin(target_url)
    source_scheme = url_scheme(settings.storage_url)
    if not isinstance(target, CopiesDatabases) or source_scheme not in target.copy_sources:
        raise ConfigError(
            f"--to: the {target.name} backend cannot copy a {source_scheme} database"
            " (copy from the embedded SQLite database to postgresql://…)"
        )
    if url_scheme(target_url) == source_scheme:
        raise ConfigError("--to: the target must be another backend than PAPERBOT_DATABASE_URL's")
    # Opening migrates each side to its backend's latest schema before rows move.
    await (await open_storage(settings.storage_url)).close()
    try:
        await (await open_storage(target_url)).close()
    except DatabaseUnusable as exc:
        raise CopyFailed(
            f"cannot use the target database {mask_url_passwords(target_url)}: {exc}"
        ) from exc
    bar = _Bar()
    try:
        counts = await target.copy_from(
            settings.storage_url, target_url, from_start=from_start, progress=bar
        )
    finally:
        bar.close()
    copied = ", ".join(f"{rows} {table}" for table, rows in counts.items() if rows) or "nothing new"
    return (
        f"copied {settings.storage_label} into {mask_url_passwords(target_url)}: {copied}."
        " Set PAPERBOT_DATABASE_URL to it and start the bot there."
    )
