"""A fake Hugging Face Daily Papers API served over real HTTP (aiohttp on 127.0.0.1).

Items are built from a real captured daily item (``hf_daily_item.json``) with
:func:`make_item`, so the client under test sees the genuine JSON shape. Failures
(429, 5xx, garbage, slow, dropped connections) can be queued per route.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from tests.fakes import take_fault

TEMPLATE_PATH = Path(__file__).with_name("hf_daily_item.json")

Route = Literal["daily_papers", "search", "paper"]
FailureKind = Literal["400", "429", "500", "502", "garbage", "not_list", "slow", "drop"]
ROUTES: tuple[str, ...] = ("daily_papers", "search", "paper")
KINDS: tuple[str, ...] = ("400", "429", "500", "502", "garbage", "not_list", "slow", "drop")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Missing:
    """Sentinel type for :data:`MISSING`."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Pass as a :func:`make_item` override to delete that key from ``paper``."""


def load_template() -> dict[str, Any]:
    """A fresh copy of the real captured daily item."""
    data: dict[str, Any] = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return data


def make_item(
    arxiv_id: str,
    title: str,
    *,
    day: date | str,
    upvotes: Any = 0,
    summary: Any = "An abstract.",
    authors: Any = ("Ada Lovelace", "Alan Turing"),
    top: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A daily item shaped exactly like the real one, featured on ``day``.

    ``authors`` is a sequence of names (turned into ``{name, hidden}`` objects) or
    any raw value, passed through as-is. ``overrides`` replace keys of ``paper``;
    ``top`` replaces top-level keys. ``MISSING`` as any value deletes that key.
    Anything goes, so tests can build hostile items.
    """
    item = load_template()
    paper = item["paper"]
    featured = date.fromisoformat(day) if isinstance(day, str) else day
    published = f"{featured - timedelta(days=1)}T17:08:18.000Z"
    if isinstance(authors, list | tuple) and all(isinstance(a, str) for a in authors):
        authors = [
            {"_id": f"a{i}", "name": name, "hidden": False} for i, name in enumerate(authors)
        ]
    core = {"title": title, "summary": summary, "publishedAt": published}
    _apply(
        paper,
        {
            **core,
            "id": arxiv_id,
            "authors": authors,
            "upvotes": upvotes,
            "submittedOnDailyAt": f"{featured}T03:55:12.777Z",
            "discussionId": f"d-{arxiv_id}",
            **overrides,
        },
    )
    thumbnail = f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png"
    _apply(item, {**core, "thumbnail": thumbnail, **(top or {})})
    return item


def _apply(target: dict[str, Any], changes: dict[str, Any]) -> None:
    """Set or (for ``MISSING``) delete keys."""
    for key, value in changes.items():
        if value is MISSING:
            target.pop(key, None)
        else:
            target[key] = value


@dataclass(frozen=True)
class SeenRequest:
    """One request the fake received."""

    path: str
    query: dict[str, str]


@dataclass
class _Failure:
    """One queued fault for a route."""

    kind: str
    retry_after: int | None
    ratelimit_reset: int | None
    delay: float


class FakeHuggingFace:
    """In-process HTTP server imitating the Daily Papers API.

    Use as ``async with FakeHuggingFace() as fake:`` and point the client at
    ``fake.endpoint``. Load data with :meth:`add_papers`; queue faults with :meth:`fail`.
    """

    def __init__(self) -> None:
        self.endpoint = ""
        self.requests: list[SeenRequest] = []
        # "daily" serves search hits like the real site; "paper" serves bare paper objects.
        self.search_shape: Literal["daily", "paper"] = "daily"
        self._days: dict[date, list[Any]] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and start serving."""
        app = web.Application()
        app.router.add_get("/api/daily_papers", self._daily_papers)
        # Registered before the {id} route so "search" is not taken for an id.
        app.router.add_get("/api/papers/search", self._search)
        app.router.add_get("/api/papers/{arxiv_id}", self._paper)
        # Cancellation lets "slow" handlers end with the client instead of stalling stop().
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.endpoint = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving and free the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- data ----------------------------------------------------------------

    def add_papers(self, day: date | str, items: list[Any]) -> None:
        """Append raw items (normally from :func:`make_item`) to ``day``'s list.

        Items are served as given, duplicates and non-objects included.
        """
        key = date.fromisoformat(day) if isinstance(day, str) else day
        self._days.setdefault(key, []).extend(items)

    def set_upvotes(self, arxiv_id: str, upvotes: Any) -> None:
        """Change the upvotes of every copy of ``arxiv_id``."""
        for item in self._all_items():
            if _paper_id(item) == arxiv_id:
                item["paper"]["upvotes"] = upvotes

    def fail(
        self,
        route: Route,
        kind: FailureKind,
        times: int = 1,
        *,
        retry_after: int | None = 1,
        ratelimit_reset: int | None = None,
        delay: float = 1.0,
    ) -> None:
        """Make the next ``times`` requests to ``route`` fail as ``kind``.

        "400" answers like a rejected date. "429" sends ``Retry-After: retry_after``
        (omitted if ``None``) and ``RateLimit: "api";r=0;t=ratelimit_reset``
        (defaults to ``retry_after``).
        "slow" waits ``delay`` seconds, then answers normally.
        """
        if route not in ROUTES or kind not in KINDS:
            raise ValueError(f"unknown route {route!r} or kind {kind!r}")
        reset = ratelimit_reset if ratelimit_reset is not None else retry_after
        for _ in range(times):
            self._failures[route].append(_Failure(kind, retry_after, reset, delay))

    def clear_failures(self) -> None:
        """Drop every queued failure: the server answers normally again."""
        for queue in self._failures.values():
            queue.clear()

    def count(self, path: str) -> int:
        """How many requests hit ``path``."""
        return sum(1 for r in self.requests if r.path == path)

    # --- handlers ------------------------------------------------------------

    async def _daily_papers(self, request: web.Request) -> web.StreamResponse:
        early = await self._intercept("daily_papers", request)
        if early is not None:
            return early
        raw_date = request.query.get("date")
        if raw_date is None:
            day = max(self._days, default=None)
        elif _DATE_RE.fullmatch(raw_date):
            try:
                day = date.fromisoformat(raw_date)
            except ValueError:
                return _error(400, "Invalid date")
        else:
            return _error(400, "Invalid date")
        limit = _int_param(request, "limit", 50, 1, 100)
        page = _int_param(request, "p", 0, 0, 10_000)
        if limit is None or page is None:
            return _error(400, "Invalid limit or page")
        items = list(self._days.get(day, [])) if day is not None else []
        if request.query.get("sort") == "trending":
            items.reverse()  # deliberately not upvote order, like the real site
        return web.json_response(items[page * limit : (page + 1) * limit])

    async def _search(self, request: web.Request) -> web.StreamResponse:
        early = await self._intercept("search", request)
        if early is not None:
            return early
        query = request.query.get("q", "").casefold()
        limit = _int_param(request, "limit", 10, 1, 120)
        if limit is None:
            return _error(400, "Invalid limit")
        hits = [item for item in self._unique_items() if query in _haystack(item)]
        if self.search_shape == "paper":
            hits = [item["paper"] for item in hits]
        return web.json_response(hits[:limit])

    async def _paper(self, request: web.Request) -> web.StreamResponse:
        early = await self._intercept("paper", request)
        if early is not None:
            return early
        wanted = request.match_info["arxiv_id"]
        for item in reversed(self._all_items()):
            if _paper_id(item) == wanted:
                return web.json_response(item["paper"])
        return _error(404, "Paper not found")

    async def _intercept(self, route: str, request: web.Request) -> web.StreamResponse | None:
        """Record the request and play the next queued failure, if any."""
        self.requests.append(SeenRequest(request.path, dict(request.query)))
        failure = await take_fault(self._failures[route])
        if failure is None:
            return None
        if failure.kind == "drop":
            assert request.transport is not None
            request.transport.abort()  # the client sees the connection die mid-request
            return web.Response()
        return _failure_response(failure)

    # --- helpers -------------------------------------------------------------

    def _all_items(self) -> list[Any]:
        return [item for items in self._days.values() for item in items]

    def _unique_items(self) -> list[dict[str, Any]]:
        """The latest copy of each valid item, in insertion order."""
        seen: dict[str, dict[str, Any]] = {}
        for item in self._all_items():
            arxiv_id = _paper_id(item)
            if arxiv_id is not None:
                seen.pop(arxiv_id, None)
                seen[arxiv_id] = item
        return list(seen.values())


def _paper_id(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("paper"), dict):
        value = item["paper"].get("id")
        return value if isinstance(value, str) else None
    return None


def _haystack(item: dict[str, Any]) -> str:
    paper = item["paper"]
    parts = (paper.get("title"), paper.get("summary"))
    return " ".join(p for p in parts if isinstance(p, str)).casefold()


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return min(high, max(low, int(raw)))
    except ValueError:
        return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _failure_response(failure: _Failure) -> web.Response:
    if failure.kind == "429":
        headers = {"RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        if failure.ratelimit_reset is not None:
            headers["RateLimit"] = f'"api";r=0;t={failure.ratelimit_reset}'
        return web.json_response({"error": "Too many requests"}, status=429, headers=headers)
    if failure.kind == "400":
        return _error(400, "Bad request")
    if failure.kind in ("500", "502"):
        return web.Response(status=int(failure.kind), text="upstream error")
    if failure.kind == "garbage":
        return web.Response(text="<html>not json", content_type="application/json")
    return web.json_response({"error": "not a list"})  # not_list
