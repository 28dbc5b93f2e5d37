"""Search sessions: server-side paging state behind short button keys."""

from __future__ import annotations

from datetime import datetime

from bot.ports.storage import SearchSession
from storage.postgresql.connection import PgConnection, affected


class PgSessions(PgConnection):
    """The search-session part of the storage port."""

    async def save_search_session(self, session: SearchSession) -> None:
        """Store paging state, replacing any under the same key."""
        await self._write(
            "INSERT INTO search_sessions (key, channel, query, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET"
            " channel = excluded.channel, query = excluded.query,"
            " created_at = excluded.created_at",
            session.key,
            session.channel,
            session.query,
            session.created_at,
        )

    async def get_search_session(self, key: str) -> SearchSession | None:
        """Paging state by key."""
        row = await self._pool.fetchrow("SELECT * FROM search_sessions WHERE key = $1", key)
        if not row:
            return None
        return SearchSession(row["key"], row["channel"], row["query"], row["created_at"])

    async def purge_search_sessions(self, older_than: datetime) -> int:
        """Drop expired paging state."""
        status = await self._write("DELETE FROM search_sessions WHERE created_at < $1", older_than)
        return affected(status)
