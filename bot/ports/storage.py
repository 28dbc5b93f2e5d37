"""The storage port: everything the core needs from a database, split by concern.

:class:`Storage` combines the parts (papers and search, subscriptions, the
outbox, keyword alerts, arXiv announcements, search sessions, role leases) with
the lifecycle of one open database. The SQLite backend (``storage/sqlite/``)
implements it; another backend implements the same protocols without touching
the core, and is found as a plugin of the ``paperbot.storage`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.models import Paper, Subscription
from bot.ports.embedder import Vectors
from bot.query import SearchQuery

# The period of every alert message in the outbox starts with this (a digest's
# period never does: it is a date or a week): backends tell the two apart by it.
ALERT_PERIOD_PREFIX = "alert "


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of search results; ``has_more`` says a next page exists.

    ``total`` counts every match (None when unknown); ``total_capped`` says the
    backend stopped counting at its search window, so there are at least that many.
    """

    papers: tuple[Paper, ...]
    has_more: bool
    total: int | None = None
    total_capped: bool = False


@dataclass(frozen=True, slots=True)
class VectorChanges:
    """Changes to the stored vectors of one model, in the order they were made.

    ``keys[i]`` got (or has kept since) ``vectors[i]``; the papers in ``removed``
    have no vector of the model any more. ``cursor`` is the number of the last
    change read, passed back to :meth:`PaperStore.vector_changes` for the next ones.
    """

    keys: tuple[str, ...]
    vectors: Vectors
    removed: tuple[str, ...]
    cursor: int


@dataclass(frozen=True, slots=True)
class SearchSession:
    """Server-side paging state behind a short button key."""

    key: str
    channel: str
    query: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: a subscription's digest for one period.

    ``parts_sent`` counts message parts the platform accepted, so a resend
    after a crash continues where it stopped instead of starting over.
    """

    id: int
    subscription_id: int
    channel: str
    period: str
    due_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime | None
    paper_keys: tuple[str, ...]
    parts_sent: int
    error: str | None
    # Temporary failures so far; only these count toward the retry limit.
    failures: int = 0
    # Where the papers came from, for the message (an arXiv digest's
    # categories and pool, as JSON: bot/digest.py ArxivPool); None for Hugging Face.
    digest_info: str | None = None
    # The process sending it ('sending' rows) and until when its claim holds.
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxLease:
    """Who claims outbox rows, and until when they stay theirs unless renewed.

    ``since`` is the claim's moment by the clock leases are kept in (real
    time, even where a test fakes the scheduling clock): rows whose lease
    ended by then are recovered. With ``role`` set, a claim succeeds only
    while ``owner`` holds that role's lease (see :class:`LeaseStore`): a
    process that lost its sender role cannot claim rows any more, even if it
    has not noticed yet.
    """

    owner: str
    since: datetime
    until: datetime
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A role held by one process: ``owner`` until ``expires_at`` unless it renews."""

    name: str
    owner: str
    expires_at: datetime
    renewed_at: datetime
    acquired_at: datetime


@dataclass(frozen=True, slots=True)
class AnnouncedPaper:
    """One paper of an arXiv category's announcement of ``day``.

    ``announce_type`` is arXiv's: ``new``, ``cross`` (a cross-list),
    ``replace`` or ``replace-cross`` (a new version of an older paper);
    ``position`` is its place in the category's feed, from 0.
    """

    category: str
    day: date
    paper_key: str
    announce_type: str
    position: int


@dataclass(frozen=True, slots=True)
class Alert:
    """One standing keyword alert of a channel: ``query`` in the search syntax."""

    id: int
    channel: str
    query: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertMatch:
    """A new paper one alert matched, not yet taken by an alert message (pending)."""

    alert_id: int
    subscription_id: int
    channel: str
    paper_key: str
    matched_at: datetime


class DatabaseUnusable(Exception):
    """The database cannot be opened or written at all; ``str(error)`` says why, in one line."""


class WriteFailed(Exception):
    """The database refused a write (disk full, I/O error, read-only); it was rolled back,
    so nothing of it was stored. ``str(error)`` is the database's reason."""


class PaperStore(Protocol):
    """Papers by key, the full-text search over them and the featured days."""

    async def upsert_papers(self, papers: Iterable[Paper]) -> int:
        """Insert or update papers by key; empty fields never erase stored ones.

        Returns how many papers were written.
        """

    async def get_paper(self, key: str) -> Paper | None:
        """The paper with this key (arXiv id or title key), if stored."""

    async def get_papers(self, keys: Sequence[str]) -> list[Paper]:
        """The stored papers among ``keys``, in the order given."""

    async def count_papers(self) -> int:
        """How many papers are stored."""

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """Papers matching ``query`` in its sort order, ``limit`` from ``offset``."""

    async def matching_keys(self, query: SearchQuery, keys: Sequence[str]) -> set[str]:
        """Which of the stored papers ``keys`` match ``query``, exactly as :meth:`search`
        would match them (its sort and the search window play no part)."""

    async def latest_featured_day(self, before: date) -> date | None:
        """The most recent Hugging Face day (or sample list day) strictly before ``before``."""

    async def papers_featured_between(self, first: date, last: date) -> list[Paper]:
        """Papers featured from ``first`` to ``last`` inclusive, most upvoted first.

        Sample lists of those days count too: their papers follow in list
        order, each paper once.
        """

    async def save_sample_list(self, day: date, keys: Sequence[str]) -> int:
        """Make the stored papers among ``keys`` ``day``'s sample list, in that order.

        Sample lists are bundled demo data (seeds/lists.json): saved Hugging
        Face pages ranked by their own order. Returns how many papers the list holds.
        """

    async def is_sample_day(self, day: date) -> bool:
        """Whether ``day`` has a sample list (its list is bundled demo data)."""

    async def latest_papers(self, limit: int) -> list[Paper]:
        """The most recently published papers, newest first."""

    async def save_vectors(self, model: str, keys: Sequence[str], vectors: Vectors) -> None:
        """Store ``vectors[i]`` as paper ``keys[i]``'s vector of ``model`` (replacing it).

        A backend may store them at lower precision (float16); unknown keys are
        skipped. A paper whose title, abstract or keywords change loses its
        vectors, so it is embedded again.
        """

    async def papers_without_vectors(self, model: str, limit: int) -> list[Paper]:
        """Up to ``limit`` papers with no vector of ``model``, oldest stored first."""

    async def count_vectors(self, model: str) -> int:
        """How many papers have a vector of ``model``."""

    async def vector_changes(self, model: str, after: int, limit: int) -> VectorChanges:
        """Up to ``limit`` changes to the vectors of ``model`` numbered after ``after``.

        Every vector written (added or replaced) and every vector removed
        takes the next number of one increasing sequence, and a number becomes
        visible only after every smaller one, so reading from 0 gives every
        stored vector and reading from a cursor gives exactly what changed
        since. A paper's latest vector comes once, at its latest number; a
        removal comes only while the paper has no vector of ``model``.
        """


class SubscriptionStore(Protocol):
    """One subscription per channel, with its schedule and pause state."""

    async def save_subscription(self, sub: Subscription) -> Subscription:
        """Create or replace the subscription of ``sub.channel``."""

    async def save_subscriptions(self, subs: Sequence[Subscription]) -> None:
        """Create or replace each subscription by channel in one transaction: all or none."""

    async def get_subscription(self, channel: str) -> Subscription | None:
        """The subscription of ``channel``, if any."""

    async def subscription_id(self, channel: str) -> int | None:
        """The row id of ``channel``'s subscription, if any."""

    async def delete_subscription(self, channel: str) -> bool:
        """Remove ``channel``'s subscription; True if one existed."""

    async def list_subscriptions(self) -> list[Subscription]:
        """Every subscription, paused ones included, ordered by channel."""

    async def due_subscriptions(self, now: datetime, limit: int) -> list[tuple[int, Subscription]]:
        """Active subscriptions whose ``next_run_at`` is at or before ``now``."""

    async def set_next_run(self, channel: str, next_run_at: datetime | None) -> None:
        """Record when ``channel`` posts next."""

    async def pause_subscription(self, channel: str, reason: str) -> None:
        """Stop posting to ``channel`` and remember why."""

    async def subscribed_arxiv_categories(self) -> list[str]:
        """Every arXiv category some active subscription names, sorted, each once."""

    async def move_subscription(self, old_channel: str, new_channel: str) -> None:
        """Re-key a subscription and everything that hangs off it to a new channel id.

        If ``new_channel`` already has a subscription it is kept: the old one
        is paused as "merged into <new_channel>" and its unsent digests go to
        the kept one, unless that has its own digest for the same period.
        """


class OutboxStore(Protocol):
    """The delivery outbox: one row per subscription and period, and what was sent."""

    async def create_delivery(
        self,
        subscription_id: int,
        channel: str,
        period: str,
        due_at: datetime,
        paper_keys: Sequence[str],
        state: str = "pending",
        error: str | None = None,
        digest_info: str | None = None,
    ) -> int | None:
        """Add an outbox row; None when this subscription already has one for ``period``.

        ``digest_info`` is kept with the row for the message (see :class:`Delivery`).
        """

    async def claim_deliveries(
        self, platform: str, now: datetime, limit: int, lease: OutboxLease
    ) -> list[Delivery]:
        """Lease up to ``limit`` ready rows of ``platform`` to ``lease.owner`` and return them.

        Ready: pending rows whose ``next_attempt_at`` is at or before ``now``,
        and rows whose sender's lease ended by ``lease.since`` (it died
        mid-send; they go back to pending first). Rows another live process is sending are never
        taken. Nothing is claimed when ``lease.role`` is not held by the owner.
        """

    async def renew_deliveries(self, owner: str, until: datetime) -> int:
        """Extend the lease of every row ``owner`` is still sending to ``until``; how many."""

    async def release_deliveries(self, owner: str, ids: Sequence[int]) -> int:
        """Return the rows ``ids`` that ``owner`` leased but did not send to pending; how many.

        For a sender that stops (or lost its role) before sending them:
        another process may claim them at once.
        """

    async def record_part_sent(
        self, delivery_id: int, parts_sent: int, *, owner: str | None = None
    ) -> bool:
        """Remember that the first ``parts_sent`` message parts were accepted.

        With ``owner``, only while that owner's lease on the row holds (as for
        every outcome write below); returns whether the row was written.
        """

    async def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        error: str | None = None,
        *,
        parts_sent: int | None = None,
        owner: str | None = None,
    ) -> bool:
        """Set a terminal state (and ``parts_sent`` when given); 'sent' also
        records the papers as sent to the channel. Fenced by ``owner`` when given."""

    async def retry_delivery(
        self,
        delivery_id: int,
        at: datetime,
        error: str,
        *,
        failure: bool = False,
        owner: str | None = None,
    ) -> bool:
        """Put a row back to 'pending' for another attempt at ``at``.

        ``failure`` marks a temporary send failure, which counts toward the
        retry limit (rate-limit waits and channel moves do not). Fenced by
        ``owner`` when given.
        """

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        """One outbox row by id (its current state, e.g. after a channel moved)."""

    async def last_delivery(self, channel: str) -> Delivery | None:
        """The most recent outbox row of ``channel``."""

    async def outbox_depth(self) -> int:
        """How many rows are pending or sending."""

    async def sent_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` were already posted to ``channel``."""

    async def queued_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` are in ``channel``'s outbox rows not sent yet (pending or sending)."""


class AlertStore(Protocol):
    """Keyword alerts, the new papers waiting to be matched and the matches awaiting a message."""

    async def add_alert(self, channel: str, query: str, created_by: str) -> int | None:
        """Add an alert to ``channel``'s subscription; its id, or None when the channel
        has no subscription or already has this exact query."""

    async def list_alerts(self, channel: str | None = None) -> list[Alert]:
        """``channel``'s alerts (every channel's when None), oldest first."""

    async def delete_alert(self, alert_id: int) -> bool:
        """Remove one alert and its pending matches; True if it existed."""

    async def queue_alert_candidates(self, keys: Sequence[str]) -> int:
        """Remember which of ``keys`` are not stored yet, before an ingest stores them.

        Nothing is queued while no alert exists. Returns how many were queued.
        """

    async def alert_candidates(self, limit: int) -> list[str]:
        """Up to ``limit`` queued keys whose papers are stored by now, oldest first."""

    async def save_alert_matches(
        self, matches: Sequence[tuple[int, str]], done: Sequence[str]
    ) -> int:
        """Record ``(alert id, paper key)`` matches as pending and drop ``done`` from the queue.

        One transaction; a paper already sent to the alert's channel, or
        already matched by that alert, is not recorded again. Queued keys
        whose papers were never stored are dropped after a day. Returns how
        many matches were recorded.
        """

    async def pending_alert_matches(self) -> list[AlertMatch]:
        """Matches no alert message has taken yet, of subscriptions that are not paused."""

    async def last_alert_at(self, subscription_id: int) -> datetime | None:
        """When the subscription's latest alert message was queued, if ever."""

    async def queue_alert_message(
        self,
        subscription_id: int,
        channel: str,
        period: str,
        due_at: datetime,
        paper_keys: Sequence[str],
        taken: Sequence[str],
    ) -> int | None:
        """Queue an alert message in the outbox and close its matches, in one transaction.

        The pending matches of ``taken`` papers become 'queued' with the new
        outbox row (``paper_keys``, period ``period``), or 'skipped' when
        ``paper_keys`` is empty (no row is made then). Returns the row's id;
        None, writing nothing, when any of ``paper_keys`` is no longer
        pending because another process (or job) queued it first.
        """

    async def alert_messages_sent(self) -> dict[str, int]:
        """How many alert messages each channel has been sent."""


class ArxivStore(Protocol):
    """The arXiv announcements fetched so far: which days, and what each listed."""

    async def record_arxiv_announcement(
        self,
        category: str,
        day: date,
        fetched_at: datetime,
        listings: Sequence[tuple[str, str]],
    ) -> None:
        """Record ``category``'s announcement of ``day``: (paper key, announce type) in feed order.

        An empty ``listings`` records a day without announcement. Recording
        the same category and day again replaces what was recorded.
        """

    async def arxiv_categories_fetched(self, categories: Sequence[str], since: date) -> set[str]:
        """Which of ``categories`` have an announcement recorded for ``since`` or later."""

    async def latest_arxiv_day(self, categories: Sequence[str]) -> date | None:
        """The latest day on which one of ``categories`` announced at least one paper."""

    async def arxiv_announced(
        self, categories: Sequence[str], first: date, last: date
    ) -> list[AnnouncedPaper]:
        """What ``categories`` announced from ``first`` to ``last``, by day, category, position."""

    async def purge_arxiv_announcements(self, before: date) -> int:
        """Forget the announcements of days before ``before`` (not the papers); returns how many."""


class SearchSessionStore(Protocol):
    """Server-side paging state of searches, behind short button keys."""

    async def save_search_session(self, session: SearchSession) -> None:
        """Store paging state under ``session.key``."""

    async def get_search_session(self, key: str) -> SearchSession | None:
        """Paging state by key, if still stored."""

    async def purge_search_sessions(self, older_than: datetime) -> int:
        """Delete sessions created before ``older_than``; returns how many."""


class LeaseStore(Protocol):
    """Roles that one process at a time holds (a token's sender, the tick...), as leases.

    A lease is taken when free or expired and renewed by its owner before it
    expires; a holder that dies loses it at ``expires_at``. Times come from
    the callers' clocks, so hosts sharing a database keep them in sync (NTP).
    """

    async def acquire_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew ``name`` for ``owner`` until ``until``; False while another holds it."""

    async def release_lease(self, name: str, owner: str) -> bool:
        """Give ``name`` up if ``owner`` holds it, so another process takes it at once."""

    async def list_leases(self) -> list[Lease]:
        """Every role lease, expired ones included, by name."""

    async def watch_outbox(
        self, wake: Callable[[str], None]
    ) -> Callable[[], Awaitable[None]] | None:
        """Call ``wake(platform)`` whenever a row of that platform becomes pending, in
        any process (``wake("")``: maybe missed some, look at every platform).

        Returns the function that stops watching; None when this backend
        cannot tell (its senders poll).
        """


class Storage(
    PaperStore,
    SubscriptionStore,
    OutboxStore,
    AlertStore,
    ArxivStore,
    SearchSessionStore,
    LeaseStore,
    Protocol,
):
    """One open database: every part of the port plus its lifecycle.

    All datetimes are timezone-aware UTC.
    """

    async def close(self) -> None:
        """Release the connection; the object is unusable afterwards."""

    async def is_writable(self) -> bool:
        """Whether a write to the database succeeds right now (for health checks)."""

    async def schema_version(self) -> int:
        """The version of the applied schema (the highest migration number)."""

    async def upkeep(self, budget_seconds: float | None) -> bool:
        """Background maintenance in steps, for at most ``budget_seconds`` (no limit: to the end).

        Returns True when nothing is left to do. The bot calls it between
        other work; a backend with nothing to maintain returns True at once.
        """
