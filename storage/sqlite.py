"""aiosqlite implementation of the :class:`bot.ports.storage.Storage` port."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import Paper, Subscription
from bot.ports.storage import Delivery, SearchPage, SearchSession
from bot.query import SearchQuery
from storage.fts import quote, search_sql

log = logging.getLogger("paperbot.storage")

AUTHOR_SEP = "; "

_PAPER_COLUMNS = (
    "paper_key, arxiv_id, title, summary, authors, keywords, published_at, featured_on,"
    " upvotes, ai_summary, github_repo, github_stars, project_page"
)
_PENDING_STATES = ("pending", "sending")


def to_ts(moment: datetime) -> str:
    """A sortable UTC text timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_ts(text: str | None) -> datetime | None:
    """Inverse of :func:`to_ts`."""
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(AUTHOR_SEP) if part)


def _now() -> str:
    return to_ts(datetime.now(UTC))


def paper_row(paper: Paper) -> tuple[Any, ...]:
    """The column values of ``paper`` in ``_PAPER_COLUMNS`` order."""
    return (
        paper.key,
        paper.arxiv_id,
        paper.title,
        paper.summary,
        AUTHOR_SEP.join(paper.authors),
        AUTHOR_SEP.join(paper.ai_keywords),
        _iso(paper.published_at),
        _iso(paper.featured_on),
        paper.upvotes,
        paper.ai_summary,
        paper.github_repo,
        paper.github_stars,
        paper.project_page,
    )


def _paper(row: aiosqlite.Row) -> Paper:
    return Paper(
        title=row["title"],
        arxiv_id=row["arxiv_id"],
        summary=row["summary"],
        authors=_split(row["authors"]),
        published_at=_date(row["published_at"]),
        featured_on=_date(row["featured_on"]),
        upvotes=row["upvotes"],
        ai_summary=row["ai_summary"],
        ai_keywords=_split(row["keywords"]),
        github_repo=row["github_repo"],
        github_stars=row["github_stars"],
        project_page=row["project_page"],
    )


def _subscription(row: aiosqlite.Row) -> Subscription:
    hour, minute = (int(part) for part in row["post_time"].split(":"))
    return Subscription(
        channel=row["channel"],
        post_time=time(hour, minute),
        timezone=row["timezone"],
        weekdays=frozenset(int(day) for day in row["weekdays"]),
        top_n=row["top_n"],
        min_upvotes=row["min_upvotes"],
        include=tuple(json.loads(row["include_kw"])),
        exclude=tuple(json.loads(row["exclude_kw"])),
        cadence=row["cadence"],
        weekly_day=row["weekly_day"],
        paused=bool(row["paused"]),
        paused_reason=row["paused_reason"],
        next_run_at=from_ts(row["next_run_at"]),
        created_by=row["created_by"],
    )


def _delivery(row: aiosqlite.Row) -> Delivery:
    due_at = from_ts(row["due_at"])
    assert due_at is not None
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        channel=row["channel"],
        period=row["period"],
        due_at=due_at,
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=from_ts(row["next_attempt_at"]),
        paper_keys=tuple(json.loads(row["paper_keys"])),
        parts_sent=row["parts_sent"],
        error=row["error"],
    )


# An upsert never lets an empty incoming field erase what is stored: a Hugging
# Face item with a missing abstract must not wipe the abstract we already have.
_UPSERT_SQL = f"""
INSERT INTO papers ({_PAPER_COLUMNS}, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (paper_key) DO UPDATE SET
    title = excluded.title,
    summary = CASE WHEN excluded.summary <> '' THEN excluded.summary ELSE summary END,
    authors = CASE WHEN excluded.authors <> '' THEN excluded.authors ELSE authors END,
    keywords = CASE WHEN excluded.keywords <> '' THEN excluded.keywords ELSE keywords END,
    published_at = coalesce(excluded.published_at, published_at),
    featured_on = coalesce(excluded.featured_on, featured_on),
    upvotes = max(excluded.upvotes, upvotes),
    ai_summary = coalesce(excluded.ai_summary, ai_summary),
    github_repo = coalesce(excluded.github_repo, github_repo),
    github_stars = coalesce(excluded.github_stars, github_stars),
    project_page = coalesce(excluded.project_page, project_page),
    updated_at = excluded.updated_at
"""

# upsert_papers maintains the full-text index itself (migration 002 says why).
# Index rows are keyed by the negative paper id (migration 003 says why), and
# are written in ascending key order: FTS5 flushes its buffer to a new segment
# whenever a key is lower than the one before.
_TEXT_COLUMNS = "title, keywords, authors, summary"
_INDEXED = f"-id, {_TEXT_COLUMNS}"
_INDEXED_BY_KEYS = (
    f"SELECT {_INDEXED} FROM papers WHERE paper_key IN (SELECT value FROM json_each(?))"
)
_INDEXED_BY_ROWIDS = (
    f"SELECT {_INDEXED} FROM papers WHERE id IN (SELECT -value FROM json_each(?)) ORDER BY id DESC"
)
_INDEX_NEW = (
    f"INSERT INTO papers_fts (rowid, {_TEXT_COLUMNS}) SELECT {_INDEXED} FROM papers WHERE id > ?"
    " ORDER BY id DESC"
)
_INDEX_ROWIDS = f"INSERT INTO papers_fts (rowid, {_TEXT_COLUMNS}) {_INDEXED_BY_ROWIDS}"
_MERGE_INDEX = "INSERT INTO papers_fts (papers_fts, rank) VALUES ('merge', ?)"
_INDEX_DELETE = (
    f"INSERT INTO papers_fts (papers_fts, rowid, {_TEXT_COLUMNS}) VALUES ('delete', ?, ?, ?, ?, ?)"
)


class SqliteStorage:
    """The storage port on one aiosqlite connection in WAL mode.

    Open it with :meth:`open`, which applies pending numbered migrations from
    ``storage/migrations`` inside a transaction each.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._db = conn
        # One connection is shared by every coroutine; the lock keeps one
        # coroutine's statement from landing inside another's transaction.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStorage:
        """Connect, configure and migrate the database at ``path``."""
        conn = await aiosqlite.connect(str(path))
        conn.row_factory = aiosqlite.Row
        # Only takes effect on a new database (before its first write). Pages
        # of 16 KB hold a paper row with its abstract without overflow pages
        # and cut B-tree work on bulk ingest by about a fifth.
        await conn.execute("PRAGMA page_size = 16384")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        # FTS5 index merges reread recent pages; 32 MB of cache makes bulk
        # ingest about a fifth faster and stays well inside the memory budget.
        await conn.execute("PRAGMA cache_size = -32768")
        store = cls(conn)
        await store._migrate()
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            applied = {row[0] async for row in cur}
        for version, sql in available_migrations():
            if version in applied:
                continue
            log.info("applying migration %03d", version)
            # executescript commits first, so wrap the script and its record in
            # one explicit transaction to keep a failed migration all-or-nothing.
            await self._db.executescript(
                f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES ({version}, '{_now()}');"
                "\nCOMMIT;"
            )

    async def schema_version(self) -> int:
        """The highest applied migration number."""
        async with self._db.execute("SELECT max(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        # One hop to the database thread (execute + fetch + close together):
        # each hop costs tens of microseconds on the search hot path.
        return list(await self._db.execute_fetchall(sql, params))

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._lock:
            cur = await self._db.execute(sql, params)
            await self._db.commit()
            return cur.rowcount

    # papers -------------------------------------------------------------------
    async def upsert_papers(self, papers: Iterable[Paper]) -> int:
        """Insert or update papers by key in one transaction, index included.

        New papers are indexed with one statement; an updated paper is
        re-indexed only when its title, keywords, authors or abstract changed
        (an upvote refresh leaves the index alone).
        """
        now = _now()
        rows = [(*paper_row(paper), now) for paper in papers]
        keys = json.dumps([row[0] for row in rows])
        async with self._lock:
            # IMMEDIATE: the id high-water mark and the old texts read below
            # must still hold when the rows are written.
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                before = await self._one("SELECT coalesce(max(id), 0) FROM papers")
                old = await self._all(_INDEXED_BY_KEYS, (keys,))
                await self._db.executemany(_UPSERT_SQL, rows)
                await self._db.execute(_INDEX_NEW, (before[0] if before else 0,))
                await self._reindex_changed(old)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
        return len(rows)

    async def _reindex_changed(self, old: list[aiosqlite.Row]) -> None:
        """Replace the index entries of updated papers whose indexed text changed."""
        if not old:
            return
        rowids = json.dumps([row[0] for row in old])
        current = {row[0]: tuple(row) for row in await self._all(_INDEXED_BY_ROWIDS, (rowids,))}
        changed = sorted(tuple(row) for row in old if current.get(row[0]) != tuple(row))
        if not changed:
            return
        await self._db.executemany(_INDEX_DELETE, changed)
        await self._db.execute(_INDEX_ROWIDS, (json.dumps([row[0] for row in changed]),))

    async def get_paper(self, key: str) -> Paper | None:
        """A paper by key."""
        row = await self._one("SELECT * FROM papers WHERE paper_key = ?", (key,))
        return _paper(row) if row else None

    async def get_papers(self, keys: Sequence[str]) -> list[Paper]:
        """Papers by key in the order given, in one query."""
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        rows = await self._all(f"SELECT * FROM papers WHERE paper_key IN ({marks})", keys)
        found = {row["paper_key"]: _paper(row) for row in rows}
        return [found[key] for key in keys if key in found]

    async def count_papers(self) -> int:
        """How many papers are stored."""
        row = await self._one("SELECT count(*) FROM papers")
        return int(row[0]) if row else 0

    async def merge_search_index(self, pages: int) -> bool:
        """One FTS5 'merge' step of about ``pages`` pages; True while more is left.

        A positive page count only merges levels holding at least 'usermerge'
        (4) segments, the shape FTS5 itself keeps with its default automerge;
        migration 002 raised automerge so ingest merges less in line.
        """
        async with self._lock:
            before = self._db.total_changes
            await self._db.execute(_MERGE_INDEX, (pages,))
            await self._db.commit()
            # FTS5 documents that a step which found nothing to merge changes
            # fewer than two rows.
            return self._db.total_changes - before >= 2

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """Full-text search; fetches one extra row to learn whether more exist.

        The last word is expanded as a prefix only when it matches nothing as
        a whole word: a finished word stays precise (and fast), an unfinished
        one still finds papers.
        """
        if query.prefix_last and await self._matches_anything(quote(query.words[-1])):
            query = replace(query, prefix_last=False)
        sql, params = search_sql(query, offset, limit + 1)
        rows = await self._all(sql, params)
        return SearchPage(tuple(_paper(row) for row in rows[:limit]), len(rows) > limit)

    async def _matches_anything(self, expression: str) -> bool:
        row = await self._one(
            "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? LIMIT 1", (expression,)
        )
        return row is not None

    async def latest_featured_day(self, before: date) -> date | None:
        """Most recent featured day before ``before``."""
        row = await self._one(
            "SELECT max(featured_on) FROM papers WHERE featured_on < ?", (before.isoformat(),)
        )
        return _date(row[0]) if row else None

    async def papers_featured_between(self, first: date, last: date) -> list[Paper]:
        """Papers featured in ``[first, last]``, most upvoted first."""
        rows = await self._all(
            "SELECT * FROM papers WHERE featured_on BETWEEN ? AND ?"
            " ORDER BY upvotes DESC, published_at DESC, id",
            (first.isoformat(), last.isoformat()),
        )
        return [_paper(row) for row in rows]

    async def latest_papers(self, limit: int) -> list[Paper]:
        """Newest papers by publication date."""
        rows = await self._all(
            "SELECT * FROM papers ORDER BY coalesce(published_at, featured_on) DESC NULLS LAST,"
            " upvotes DESC LIMIT ?",
            (limit,),
        )
        return [_paper(row) for row in rows]

    # subscriptions ------------------------------------------------------------
    async def save_subscription(self, sub: Subscription) -> Subscription:
        """Insert or replace by channel, keeping the row id (the outbox refers to it)."""
        await self.save_subscriptions([sub])
        return sub

    async def get_subscription(self, channel: str) -> Subscription | None:
        """The subscription of ``channel``."""
        row = await self._one("SELECT * FROM subscriptions WHERE channel = ?", (channel,))
        return _subscription(row) if row else None

    async def subscription_id(self, channel: str) -> int | None:
        """Row id of ``channel``'s subscription."""
        row = await self._one("SELECT id FROM subscriptions WHERE channel = ?", (channel,))
        return int(row[0]) if row else None

    async def delete_subscription(self, channel: str) -> bool:
        """Delete ``channel``'s subscription (its outbox rows go with it)."""
        return await self._write("DELETE FROM subscriptions WHERE channel = ?", (channel,)) > 0

    async def list_subscriptions(self) -> list[Subscription]:
        """All subscriptions by channel."""
        rows = await self._all("SELECT * FROM subscriptions ORDER BY channel")
        return [_subscription(row) for row in rows]

    async def due_subscriptions(self, now: datetime, limit: int) -> list[tuple[int, Subscription]]:
        """Active subscriptions due at ``now``, oldest due first."""
        rows = await self._all(
            "SELECT * FROM subscriptions WHERE paused = 0 AND next_run_at <= ?"
            " ORDER BY next_run_at LIMIT ?",
            (to_ts(now), limit),
        )
        return [(int(row["id"]), _subscription(row)) for row in rows]

    async def set_next_run(self, channel: str, next_run_at: datetime | None) -> None:
        """Record the next post time of ``channel``."""
        await self._write(
            "UPDATE subscriptions SET next_run_at = ?, updated_at = ? WHERE channel = ?",
            (to_ts(next_run_at) if next_run_at else None, _now(), channel),
        )

    async def pause_subscription(self, channel: str, reason: str) -> None:
        """Pause ``channel`` with ``reason``."""
        await self._write(
            "UPDATE subscriptions SET paused = 1, paused_reason = ?, updated_at = ?"
            " WHERE channel = ?",
            (reason, _now(), channel),
        )

    async def move_subscription(self, old_channel: str, new_channel: str) -> None:
        """Re-key ``old_channel`` to ``new_channel`` in every table, atomically."""
        async with self._lock:
            try:
                for table in ("subscriptions", "deliveries", "search_sessions"):
                    await self._db.execute(
                        f"UPDATE {table} SET channel = ? WHERE channel = ?",
                        (new_channel, old_channel),
                    )
                await self._db.execute(
                    "UPDATE OR IGNORE sent_papers SET channel = ? WHERE channel = ?",
                    (new_channel, old_channel),
                )
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise

    # deliveries ----------------------------------------------------------------
    async def create_delivery(
        self,
        subscription_id: int,
        channel: str,
        period: str,
        due_at: datetime,
        paper_keys: Sequence[str],
        state: str = "pending",
        error: str | None = None,
    ) -> int | None:
        """Insert an outbox row unless one exists for (subscription, period)."""
        now = _now()
        async with self._lock:
            cur = await self._db.execute(
                "INSERT OR IGNORE INTO deliveries (subscription_id, channel, period, due_at, state,"
                " next_attempt_at, paper_keys, error, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    subscription_id,
                    channel,
                    period,
                    to_ts(due_at),
                    state,
                    to_ts(due_at),
                    json.dumps(list(paper_keys)),
                    error,
                    now,
                    now,
                ),
            )
            await self._db.commit()
        return cur.lastrowid if cur.rowcount > 0 else None

    async def claim_deliveries(self, platform: str, now: datetime, limit: int) -> list[Delivery]:
        """Atomically move ready rows of ``platform`` to 'sending'."""
        async with self._lock:
            rows = await self._all(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?"
                " WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending'"
                " AND next_attempt_at <= ? AND substr(channel, 1, ?) = ?"
                " ORDER BY next_attempt_at LIMIT ?) RETURNING *",
                # An exact prefix test: LIKE would fold case and read "_" as a wildcard.
                (_now(), to_ts(now), len(platform) + 1, platform + ":", limit),
            )
            await self._db.commit()
        return sorted((_delivery(row) for row in rows), key=lambda d: d.due_at)

    async def recover_deliveries(self) -> int:
        """Return rows stuck in 'sending' (the process died mid-send) to 'pending'."""
        return await self._write(
            "UPDATE deliveries SET state = 'pending', updated_at = ? WHERE state = 'sending'",
            (_now(),),
        )

    async def record_part_sent(self, delivery_id: int, parts_sent: int) -> None:
        """Persist progress through a multi-part digest."""
        await self._write(
            "UPDATE deliveries SET parts_sent = ?, updated_at = ? WHERE id = ?",
            (parts_sent, _now(), delivery_id),
        )

    async def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        error: str | None = None,
        *,
        parts_sent: int | None = None,
    ) -> None:
        """Close a delivery; on 'sent' the papers join the channel's sent set."""
        now = _now()
        async with self._lock:
            await self._db.execute(
                "UPDATE deliveries SET state = ?, error = ?, updated_at = ?,"
                " parts_sent = coalesce(?, parts_sent) WHERE id = ?",
                (state, error, now, parts_sent, delivery_id),
            )
            if state == "sent":
                await self._db.execute(
                    "INSERT OR IGNORE INTO sent_papers (channel, paper_key, sent_at)"
                    " SELECT d.channel, k.value, ? FROM deliveries d, json_each(d.paper_keys) k"
                    " WHERE d.id = ?",
                    (now, delivery_id),
                )
            await self._db.commit()

    async def retry_delivery(self, delivery_id: int, at: datetime, error: str) -> None:
        """Schedule another attempt."""
        await self._write(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, error = ?,"
            " updated_at = ? WHERE id = ?",
            (to_ts(at), error, _now(), delivery_id),
        )

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        """One outbox row."""
        row = await self._one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return _delivery(row) if row else None

    async def last_delivery(self, channel: str) -> Delivery | None:
        """The newest outbox row of ``channel``."""
        row = await self._one(
            "SELECT * FROM deliveries WHERE channel = ? ORDER BY id DESC LIMIT 1", (channel,)
        )
        return _delivery(row) if row else None

    async def outbox_depth(self) -> int:
        """Rows not yet finished."""
        row = await self._one(
            "SELECT count(*) FROM deliveries WHERE state IN (?, ?)", _PENDING_STATES
        )
        return int(row[0]) if row else 0

    async def sent_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Subset of ``keys`` already posted to ``channel``."""
        if not keys:
            return set()
        marks = ", ".join("?" * len(keys))
        rows = await self._all(
            f"SELECT paper_key FROM sent_papers WHERE channel = ? AND paper_key IN ({marks})",
            (channel, *keys),
        )
        return {row[0] for row in rows}

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

    # operations: export/import and health -------------------------------------
    async def save_subscriptions(self, subs: Sequence[Subscription]) -> None:
        """Create or replace each subscription by channel, all in one transaction."""
        now = _now()
        rows = [
            (
                sub.channel,
                sub.post_time.strftime("%H:%M"),
                sub.timezone,
                "".join(str(day) for day in sorted(sub.weekdays)),
                sub.top_n,
                sub.min_upvotes,
                json.dumps(list(sub.include)),
                json.dumps(list(sub.exclude)),
                sub.cadence,
                sub.weekly_day,
                int(sub.paused),
                sub.paused_reason,
                to_ts(sub.next_run_at) if sub.next_run_at else None,
                sub.created_by,
                now,
                now,
            )
            for sub in subs
        ]
        # The row id is kept on conflict because the outbox refers to it.
        async with self._lock:
            try:
                await self._db.executemany(
                    """
                    INSERT INTO subscriptions (channel, post_time, timezone, weekdays, top_n,
                        min_upvotes, include_kw, exclude_kw, cadence, weekly_day, paused,
                        paused_reason, next_run_at, created_by, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (channel) DO UPDATE SET
                        post_time = excluded.post_time, timezone = excluded.timezone,
                        weekdays = excluded.weekdays, top_n = excluded.top_n,
                        min_upvotes = excluded.min_upvotes, include_kw = excluded.include_kw,
                        exclude_kw = excluded.exclude_kw, cadence = excluded.cadence,
                        weekly_day = excluded.weekly_day, paused = excluded.paused,
                        paused_reason = excluded.paused_reason,
                        next_run_at = excluded.next_run_at, updated_at = excluded.updated_at
                    """,
                    rows,
                )
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise

    async def is_writable(self) -> bool:
        """Whether a write reaches the database file now (not read-only, not failing)."""
        async with self._lock:
            try:
                # Rewriting the unused user_version header field is a real, harmless
                # write: it fails on a read-only file, full disk or broken connection.
                row = await self._one("PRAGMA user_version")
                await self._db.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")
            except (aiosqlite.Error, ValueError) as exc:  # ValueError: connection closed
                log.warning("database is not writable: %s", exc)
                return False
        return True


def available_migrations() -> list[tuple[int, str]]:
    """(version, sql) of every bundled migration, in order."""
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)
