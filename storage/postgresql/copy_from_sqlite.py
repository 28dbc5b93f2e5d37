"""``paperbot db copy``: an embedded SQLite database copied into PostgreSQL.

Rows are matched on natural keys (a paper's key, a subscription's channel…),
never on SQLite's row ids, so the target may already hold rows of its own and
a second run changes nothing. References between tables (a featured day's
paper, a delivery's subscription) travel as the parent's natural key and are
looked up in the target. Each batch is staged with ``COPY``, merged with one
``INSERT … ON CONFLICT`` and committed together with the position it reached,
so an interrupted copy resumes after its last committed batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import asyncpg

from bot.ports.plugins import CopyFailed, CopyProgress

BATCH_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Reference:
    """A column holding a parent row's id, copied as the parent's natural key.

    ``within`` names a column the parent and the child share when ``key``
    identifies the parent only within it (an alert's query within its
    subscription): the parent must then hold the child's value of that
    column too. ``optional`` references may be NULL (and stay NULL).
    """

    parent: str
    key: str
    within: str | None = None
    optional: bool = False


@dataclass(frozen=True, slots=True)
class TableCopy:
    """How one table is copied: the columns that identify a row in the target."""

    name: str
    conflict: tuple[str, ...]
    references: dict[str, Reference] = field(default_factory=dict)


_PAPER = Reference("papers", "paper_key")
_SUBSCRIPTION = Reference("subscriptions", "channel")

# Parents before children. Not copied: each database's own write probe
# (`health`), record of applied migrations, role leases (`leases`: which
# process of the old database held which role; the copy runs with the bot
# stopped), and its numbering of vector changes (`vector_changes`,
# `vector_removals`: the target numbers the vectors it receives itself).
TABLES: tuple[TableCopy, ...] = (
    TableCopy("papers", ("paper_key",)),
    TableCopy("featured_days", ("day", "paper_id"), {"paper_id": _PAPER}),
    TableCopy("sample_lists", ("day", "rank"), {"paper_id": _PAPER}),
    TableCopy("paper_vectors", ("model", "paper_id"), {"paper_id": _PAPER}),
    TableCopy("subscriptions", ("channel",)),
    TableCopy("deliveries", ("subscription_id", "period"), {"subscription_id": _SUBSCRIPTION}),
    TableCopy("sent_papers", ("channel", "paper_key")),
    TableCopy("search_sessions", ("key",)),
    TableCopy("arxiv_announcements", ("category", "day")),
    TableCopy("arxiv_announced", ("category", "day", "paper_key")),
    # An alert is its query within its channel's subscription (unique there).
    TableCopy("alerts", ("subscription_id", "query"), {"subscription_id": _SUBSCRIPTION}),
    TableCopy("alert_inbox", ("paper_key",)),
    TableCopy(
        "alert_matches",
        ("alert_id", "paper_key"),
        {
            "subscription_id": _SUBSCRIPTION,
            "alert_id": Reference("alerts", "query", within="subscription_id"),
            # The alert message that took the match: a delivery of the same subscription.
            "delivery_id": Reference(
                "deliveries", "period", within="subscription_id", optional=True
            ),
        },
    ),
)
NOT_COPIED = frozenset(
    {"health", "schema_migrations", "leases", "vector_changes", "vector_removals"}
)


def _digits_or_json(value: str) -> list[Any]:
    # SQLite keeps weekdays as a string of digits ("12345") and keyword lists as JSON.
    return list(json.loads(value)) if value.startswith("[") else [int(c) for c in value]


def _timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# SQLite stores these as text or integers; the target column's type says how to read them.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "date": date.fromisoformat,
    "time without time zone": time.fromisoformat,
    "timestamp with time zone": _timestamp,
    "boolean": bool,
    "ARRAY": _digits_or_json,
    "bytea": bytes,
}


@dataclass(slots=True)
class _Plan:
    """One table's columns on both sides, worked out from the two schemas."""

    table: TableCopy
    columns: list[str]  # copied columns, in the target's names and order
    types: dict[str, str]  # target data type per copied column
    source_key: list[str]  # the source primary key, for resumable paging

    def select_sql(self, resume: bool) -> str:
        """The next batch of source rows, parents' ids replaced by their natural keys."""
        picked = []
        for name in self.columns:
            ref = self.table.references.get(name)
            picked.append(
                f'(SELECT "{ref.key}" FROM "{ref.parent}" WHERE id = t."{name}")'
                if ref
                else f't."{name}"'
            )
        key = self.key_columns()
        return (
            f'SELECT {", ".join(picked)}, {key} FROM "{self.table.name}" AS t'
            f" {self.after(resume)} ORDER BY {key} LIMIT {BATCH_ROWS}"
        )

    def count_sql(self, resume: bool) -> str:
        """How many source rows are left after the position (or in all)."""
        return f'SELECT count(*) FROM "{self.table.name}" AS t {self.after(resume)}'

    def key_columns(self) -> str:
        """The source primary key's columns, for paging in key order."""
        return ", ".join(f't."{k}"' for k in self.source_key)

    def after(self, resume: bool) -> str:
        """The condition for rows past the position (its values are the parameters)."""
        marks = ", ".join("?" * len(self.source_key))
        return f"WHERE ({self.key_columns()}) > ({marks})" if resume else ""

    def convert(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """A source row in the staging table's types."""
        values = []
        for name, value in zip(self.columns, row, strict=False):
            kind = "text" if name in self.table.references else self.types[name]
            convert = _CONVERTERS.get(kind)
            values.append(convert(value) if convert and value is not None else value)
        return tuple(values)

    def merge_sql(self, staging: str) -> str:
        """Staged rows into the real table, references resolved, matched on natural keys."""
        names = ", ".join(f'"{c}"' for c in self.columns)
        values = [f"ref_{c}.id" if c in self.table.references else f's."{c}"' for c in self.columns]
        joins = []
        # A reference scoped by a shared column joins after the one resolving that column.
        for name, ref in sorted(self.table.references.items(), key=lambda r: bool(r[1].within)):
            alias = f"ref_{name}"
            on = f'{alias}."{ref.key}" = s."{name}"'
            if ref.within:
                on += f' AND {alias}."{ref.within}" = {values[self.columns.index(ref.within)]}'
            join = "LEFT JOIN" if ref.optional else "JOIN"
            joins.append(f'{join} "{ref.parent}" AS {alias} ON {on}')
        updates = [c for c in self.columns if c not in self.table.conflict]
        action = (
            "DO UPDATE SET " + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in updates)
            if updates
            else "DO NOTHING"
        )
        return (
            f'INSERT INTO "{self.table.name}" ({names}) SELECT {", ".join(values)}'
            f" FROM {staging} AS s {' '.join(joins)}"
            f" ON CONFLICT ({', '.join(self.table.conflict)}) {action}"
        )


def _source_columns(db: sqlite3.Connection, table: str) -> tuple[list[str], list[str]]:
    """(columns, primary key in order) of a source table."""
    info = db.execute(f'PRAGMA table_info("{table}")').fetchall()
    columns = [row[1] for row in info]
    key = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
    return columns, key or ["rowid"]


async def _target_types(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    """Data type of each column the copy may write (not generated, not identity)."""
    rows = await conn.fetch(
        """
        SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = $1
          AND is_generated = 'NEVER' AND is_identity = 'NO'
        """,
        table,
    )
    return {row["column_name"]: row["data_type"] for row in rows}


def data_tables(db: sqlite3.Connection) -> set[str]:
    """The tables of a SQLite database that hold data (not SQLite's or full-text internals)."""
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {name for name in names if not name.startswith(("sqlite_", "papers_fts"))}


def _fetch(source: sqlite3.Connection, plan: _Plan, position: list[Any] | None) -> list[Any]:
    """The batch of source rows after ``position`` (from the first row when None)."""
    return source.execute(plan.select_sql(position is not None), position or ()).fetchall()


class SqliteToPostgres:
    """One copy of the SQLite file at ``path`` into the PostgreSQL database at ``url``."""

    def __init__(self, path: str, url: str, progress: CopyProgress) -> None:
        self._path = path
        self._url = url
        self._progress = progress
        # The checkpoint belongs to this file wherever the command is run from.
        self._source_id = os.path.realpath(path)

    async def run(self, *, from_start: bool) -> dict[str, int]:
        """Copy every table; rows copied per table in this run."""
        try:
            return await self._run(from_start)
        except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise CopyFailed(
                f"stopped by {type(exc).__name__}: {exc}"
                " (the batches already copied stay; run it again to resume)"
            ) from exc

    async def _run(self, from_start: bool) -> dict[str, int]:
        source = await asyncio.to_thread(self._open_source)
        conn: asyncpg.Connection = await asyncpg.connect(self._url)
        try:
            if from_start:
                await conn.execute("DELETE FROM database_copies WHERE source = $1", self._source_id)
            plans = [await self._plan(source, conn, table) for table in TABLES]
            positions = {plan.table.name: await self._position(conn, plan) for plan in plans}
            left = 0
            for plan in plans:
                left += await asyncio.to_thread(
                    self._count_left, source, plan, positions[plan.table.name]
                )
            self._progress.planned(left)
            return {
                plan.table.name: await self._copy_table(
                    source, conn, plan, positions[plan.table.name]
                )
                for plan in plans
            }
        finally:
            await conn.close()
            source.close()

    def _open_source(self) -> sqlite3.Connection:
        if not os.path.exists(self._path):
            raise CopyFailed(f"{self._path}: no such database file")
        db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
        unknown = data_tables(db) - NOT_COPIED - {t.name for t in TABLES}
        if unknown:
            db.close()
            # A table this module does not know would be silently left behind.
            raise CopyFailed(
                f"the source has tables this version cannot copy: {', '.join(sorted(unknown))}"
            )
        return db

    async def _plan(
        self, source: sqlite3.Connection, conn: asyncpg.Connection, table: TableCopy
    ) -> _Plan:
        columns, key = await asyncio.to_thread(_source_columns, source, table.name)
        types = await _target_types(conn, table.name)
        missing = [c for c in columns if c not in types and c != "id"]
        if missing:
            raise CopyFailed(
                f"{table.name}: the target has no column {', '.join(missing)};"
                " upgrade paperbot where the PostgreSQL database is used, or migrate it"
            )
        copied = [c for c in columns if c in types]
        return _Plan(table, copied, {c: types[c] for c in copied}, key)

    async def _position(self, conn: asyncpg.Connection, plan: _Plan) -> list[Any] | None:
        row = await conn.fetchval(
            "SELECT last_key FROM database_copies WHERE source = $1 AND table_name = $2",
            self._source_id,
            plan.table.name,
        )
        return list(json.loads(row)) if row is not None else None

    @staticmethod
    def _count_left(source: sqlite3.Connection, plan: _Plan, position: list[Any] | None) -> int:
        count = source.execute(plan.count_sql(position is not None), position or ()).fetchone()
        return int(count[0])

    async def _copy_table(
        self,
        source: sqlite3.Connection,
        conn: asyncpg.Connection,
        plan: _Plan,
        position: list[Any] | None,
    ) -> int:
        copied = 0
        staging = f"copy_{plan.table.name}"
        staged_columns = ", ".join(
            f'NULL::text AS "{c}"' if c in plan.table.references else f'"{c}"' for c in plan.columns
        )
        while True:
            rows = await asyncio.to_thread(_fetch, source, plan, position)
            if not rows:
                return copied
            width = len(plan.columns)
            records = [plan.convert(row[:width]) for row in rows]
            position = list(rows[-1][width:])
            async with conn.transaction():
                await conn.execute(
                    f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS"
                    f' SELECT {staged_columns} FROM "{plan.table.name}" WITH NO DATA'
                )
                await conn.copy_records_to_table(staging, records=records, columns=plan.columns)
                await conn.execute(plan.merge_sql(staging))
                await conn.execute(
                    """
                    INSERT INTO database_copies (source, table_name, last_key, copied)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (source, table_name) DO UPDATE
                    SET last_key = EXCLUDED.last_key,
                        copied = database_copies.copied + EXCLUDED.copied,
                        updated_at = now()
                    """,
                    self._source_id,
                    plan.table.name,
                    json.dumps(position),
                    len(rows),
                )
            copied += len(rows)
            self._progress.copied(plan.table.name, len(rows))
