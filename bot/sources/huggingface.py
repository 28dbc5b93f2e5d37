"""Hugging Face Daily Papers client.

Reads the public JSON API (``/api/daily_papers``, ``/api/papers/search`` and
``/api/papers/{id}``) with ``httpx`` and turns items into :class:`~bot.models.Paper`.
Upstream data is treated as untrusted: any field except ``paper.id`` and
``paper.title`` may be missing, null or of the wrong type, and transient failures
(timeouts, 429, 5xx, broken JSON) are retried with backoff before giving up.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import httpx

from bot.models import ARXIV_ID_RE, Paper
from bot.sources.clean import BadValue, bounded_count, clean_text, has_surrogates
from bot.sources.http import (
    Retry,
    RetryPolicy,
    Sleep,
    SourceError,
    SourceUnavailable,
    SourceUnreachable,
    check_status,
    require_http_url,
    send,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "HuggingFaceSource",
    "SourceError",
    "SourceUnavailable",
    "SourceUnreachable",
    "parse_item",
]

log = logging.getLogger("paperbot.sources.hf")

DEFAULT_ENDPOINT = "https://huggingface.co"
PAGE_SIZE = 100
# A day rarely has more than ~60 papers; the cap only guards against a server
# that never returns a short page.
MAX_PAGES = 20
USER_AGENT = "paperbot/0.1 (+https://github.com/paperbot)"

_J = TypeVar("_J")


class _NotFound(SourceError):
    """HTTP 404: the requested thing does not exist upstream."""


class _Skip(Exception):
    """An item cannot become a Paper; the message says why (for the log)."""


class HuggingFaceSource:
    """Async client for Hugging Face Daily Papers.

    ``endpoint`` is the site root (``https://huggingface.co`` or a mirror/fake).
    Pass ``client`` to share a connection pool (it is then not closed by
    :meth:`aclose`), and ``sleep`` to make retry waits observable in tests.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        require_http_url(endpoint, "endpoint")
        if timeout <= 0:
            raise ValueError("need timeout > 0")
        self._endpoint = endpoint.rstrip("/")
        self._timeout = timeout
        self._retry = RetryPolicy("Hugging Face", max_attempts, backoff, max_backoff, sleep)
        self._owns_client = client is None
        if client is None:
            client = httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=True,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        self._client = client

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it."""
        if self._owns_client and not self._client.is_closed:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def fetch_day(self, day: date) -> list[Paper]:
        """All papers featured on ``day``, in server order, deduplicated by arXiv id.

        Raises :class:`SourceError` if the date is rejected and
        :class:`SourceUnavailable` if the API keeps failing.
        """
        papers: dict[str, Paper] = {}
        previous: list[Any] | None = None
        for page in range(MAX_PAGES):
            params: dict[str, str | int] = {"date": day.isoformat(), "limit": PAGE_SIZE, "p": page}
            what = f"daily papers for {day.isoformat()} (page {page})"
            items = await self._get_json("/api/daily_papers", params, list, what)
            # A server that ignores ``p`` would hand back the same page forever.
            if items == previous:
                break
            self._collect(items, papers)
            if len(items) < PAGE_SIZE:
                break
            previous = items
        else:
            log.warning("stopped paging %s after %d pages", day.isoformat(), MAX_PAGES)
        return list(papers.values())

    async def search(self, query: str, limit: int = 10) -> list[Paper]:
        """Papers matching ``query`` according to the site's own search (at most ``limit``)."""
        query = " ".join(query.split())
        if not query or limit < 1:
            return []
        limit = min(limit, PAGE_SIZE)
        items = await self._get_json(
            "/api/papers/search", {"q": query, "limit": limit}, list, "paper search"
        )
        papers: dict[str, Paper] = {}
        self._collect(items, papers)
        # Do not trust the server to honour ``limit``.
        return list(papers.values())[:limit]

    async def fetch_paper(self, arxiv_id: str) -> Paper | None:
        """One paper by arXiv id; ``None`` if unknown to Hugging Face or not an arXiv id."""
        match = ARXIV_ID_RE.match(arxiv_id.strip())
        if match is None:
            # Also keeps arbitrary user text out of the request path.
            return None
        bare_id = match.group(1)
        try:
            data = await self._get_json(f"/api/papers/{bare_id}", None, dict, f"paper {bare_id}")
        except _NotFound:
            return None
        return _parse_logged(data)

    def _collect(self, items: list[Any], into: dict[str, Paper]) -> None:
        """Parse ``items`` into ``into``, skipping bad items and ids already present."""
        for item in items:
            paper = _parse_logged(item)
            if paper is not None and paper.key not in into:
                into[paper.key] = paper

    async def _get_json(
        self,
        path: str,
        params: Mapping[str, str | int] | None,
        expect: type[_J],
        what: str,
    ) -> _J:
        """GET ``path`` and return its JSON body (of type ``expect``), retrying transient faults.

        ``what`` names the request in logs and errors; it must not contain secrets
        or user text. A 404 raises :class:`_NotFound` (a :class:`SourceError`).
        """
        url = self._endpoint + path

        async def attempt() -> _J:
            response = await send(self._client, url, params, wait=self._timeout)
            return _check_response(response, expect, what)

        return await self._retry.run(attempt, what, self._endpoint, log)


def _check_response(response: httpx.Response, expect: type[_J], what: str) -> _J:
    """Map an HTTP response to its JSON body, :class:`Retry` or :class:`SourceError`."""
    if response.status_code == 404:
        raise _NotFound(f"Hugging Face has no {what}: HTTP 404")
    check_status(response, "Hugging Face", what)
    try:
        data = response.json()
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise Retry("malformed JSON") from exc
    if not isinstance(data, expect):
        # Typically an error object from a proxy or a half-deployed server.
        raise Retry(f"expected a JSON {expect.__name__}, got {type(data).__name__}")
    return data


# --- item parsing -------------------------------------------------------------


def parse_item(item: object) -> Paper | None:
    """Turn one API item into a Paper, or ``None`` if it lacks a valid id or title.

    Accepts daily-item shape (fields under ``paper``) and paper shape (fields at
    top level). Pure: no I/O, no logging. Malformed optional fields become
    defaults rather than errors.
    """
    try:
        return _parse(item)
    except _Skip:
        return None


def _parse_logged(item: object) -> Paper | None:
    """:func:`parse_item`, logging why an item was skipped."""
    try:
        return _parse(item)
    except _Skip as exc:
        log.warning("skipping Hugging Face item: %s", exc)
        return None


def _parse(item: object) -> Paper:
    """Build a Paper from an item, raising :class:`_Skip` when it has no usable id/title."""
    if not isinstance(item, dict):
        raise _Skip(f"item is a {type(item).__name__}, not an object")
    top: Mapping[str, object] | None = None
    fields: Mapping[str, object] = item
    if "paper" in item:
        if not isinstance(item["paper"], dict):
            raise _Skip("item.paper is not an object")
        top, fields = item, item["paper"]
    arxiv_id = _arxiv_id(fields.get("id"))
    raw_title = fields.get("title")
    if raw_title is not None and not isinstance(raw_title, str):
        raise _Skip(f"paper {arxiv_id}: title is a {type(raw_title).__name__}, not text")
    title = clean_text(raw_title)
    if not title:
        raise _Skip(f"paper {arxiv_id} has no title (none left without invisible characters)")
    try:
        # Upvotes rank the digest: a paper whose count is garbage is refused.
        upvotes = bounded_count(fields.get("upvotes"), "upvotes") or 0
    except BadValue as exc:
        raise _Skip(f"paper {arxiv_id}: {exc}") from None
    featured_on = _date(fields.get("submittedOnDailyAt"))
    if featured_on is None and top is not None:
        featured_on = _date(top.get("publishedAt"))
    return Paper(
        title=title,
        arxiv_id=arxiv_id,
        summary=clean_text(fields.get("summary")),
        authors=_authors(fields.get("authors")),
        published_at=_date(fields.get("publishedAt")),
        featured_on=featured_on,
        upvotes=upvotes,
        ai_summary=clean_text(fields.get("ai_summary")) or None,
        ai_keywords=_keywords(fields.get("ai_keywords")),
        github_repo=_url(fields.get("githubRepo")),
        github_stars=_stars(arxiv_id, fields.get("githubStars")),
        project_page=_url(fields.get("projectPage")),
    )


def _arxiv_id(value: object) -> str:
    """The bare arXiv id (version dropped so dedupe is stable), or :class:`_Skip`."""
    if not isinstance(value, str) or not value.strip():
        raise _Skip("item has no paper.id")
    match = ARXIV_ID_RE.match(value.strip())
    if match is None:
        raise _Skip(f"paper.id {value[:40]!r} is not an arXiv id")
    return match.group(1)


def _stars(arxiv_id: str, value: object) -> int | None:
    """The repository's star count; a garbage count only drops this decorative field."""
    try:
        return bounded_count(value, "githubStars")
    except BadValue as exc:
        log.warning("paper %s: ignoring %s", arxiv_id, exc)
        return None


def _date(value: object) -> date | None:
    """The UTC calendar date of an ISO-8601 timestamp or date; ``None`` if unparsable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.date()


def _authors(value: object) -> tuple[str, ...]:
    """Author names; hidden authors still count, entries without a name are dropped."""
    if not isinstance(value, list):
        return ()
    names = (clean_text(a.get("name")) if isinstance(a, dict) else clean_text(a) for a in value)
    return tuple(name for name in names if name)


def _keywords(value: object) -> tuple[str, ...]:
    """Keyword strings from a list; anything else gives ``()``."""
    if not isinstance(value, list):
        return ()
    words = (clean_text(word) for word in value)
    return tuple(word for word in words if word)


def _url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL without whitespace; else ``None``.

    Other schemes (``javascript:``, ``file:``) would become clickable links in chats.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if (
        not url
        or has_surrogates(url)
        or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url)
    ):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. malformed IPv6 brackets
        return None
    return url if parts.scheme.lower() in ("http", "https") and host else None
