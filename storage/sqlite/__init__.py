"""The SQLite backend of the storage port (aiosqlite, FTS5 search), split by concern."""

from storage.sqlite.backend import SqliteStorage, available_migrations

__all__ = ["SqliteStorage", "available_migrations"]
