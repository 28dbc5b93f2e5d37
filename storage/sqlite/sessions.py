"""Search paging sessions on SQLite."""

from __future__ import annotations

from datetime import datetime

from bot.ports.storage import SearchSession
from storage.sqlite.connection import SqliteConnection, from_ts, to_ts


class SqliteSessions(SqliteConnection):
    """The search-sessions part of the storage port."""

    # search sessions ---------------------------------------------------------
    async def save_search_session(self, session: SearchSession) -> None:
        """Store paging state."""
        await self._write(
            "INSERT OR REPLACE INTO search_sessions (key, channel, query, created_at)"
            " VALUES (?, ?, ?, ?)",
            (session.key, session.channel, session.query, to_ts(session.created_at)),
        )

    async def get_search_session(self, key: str) -> SearchSession | None:
        """Paging state by key."""
        row = await self._one("SELECT * FROM search_sessions WHERE key = ?", (key,))
        if not row:
            return None
        created = from_ts(row["created_at"])
        assert created is not None
        return SearchSession(row["key"], row["channel"], row["query"], created)

    async def purge_search_sessions(self, older_than: datetime) -> int:
        """Drop expired paging state."""
        return await self._write(
            "DELETE FROM search_sessions WHERE created_at < ?", (to_ts(older_than),)
        )
