"""The PostgreSQL backend of the storage port (asyncpg, weighted tsvector search), split by
concern like the SQLite one."""

from storage.postgresql.backend import PostgresStorage, available_migrations

__all__ = ["PostgresStorage", "available_migrations"]
