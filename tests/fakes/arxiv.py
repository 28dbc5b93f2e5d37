"""A fake arXiv served over real HTTP (aiohttp on 127.0.0.1): category feeds and export API.

It speaks arXiv's real formats: ``GET /rss/{cats}`` answers RSS 2.0 as
rss.arxiv.org does (several categories joined with ``+``; an unknown one gives the
"Feed error for query" feed; a day without announcement gives a channel with no
items and ``skipDays``), and ``GET /api/query?id_list=...&max_results=N`` answers the
export API's Atom. Announce types are computed the way arXiv does: a paper whose
primary category is requested is ``new`` (or ``replace`` for a later version),
one listed there only as a secondary category is ``cross`` (``replace-cross``).

It ENFORCES arXiv's terms and records every request: a request arriving less than
``3 s * time_scale`` after the previous one, or while another connection is open,
is counted in :attr:`FakeArxiv.violations` and answered 503 "Rate exceeded."
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Self
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes import take_fault

Route = Literal["rss", "api"]
FailureKind = Literal["500", "502", "503", "garbage", "truncated", "slow"]
MalformedKind = Literal["no_id", "bad_type", "no_title"]
ARXIV_INTERVAL = 3.0
API_DEFAULT_RESULTS = 10  # what arXiv returns when max_results is not given
API_MAX_RESULTS = 2000

TAXONOMY_PATH = Path(__file__).parents[2] / "bot" / "sources" / "arxiv_categories.json"
_ID_RE = re.compile(r"(\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(v\d+)?")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def known_codes() -> frozenset[str]:
    """Every category and archive code of arXiv's taxonomy (the real data file)."""
    data = json.loads(TAXONOMY_PATH.read_text(encoding="utf-8"))
    return frozenset({*data["categories"], *data["archives"]})


@dataclass
class FakePaper:
    """One paper the fake knows; ``categories[0]`` is its primary category."""

    arxiv_id: str
    title: str
    categories: tuple[str, ...]
    version: int = 1
    abstract: str = "We study things and report results."
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing")
    published: datetime = field(default_factory=lambda: datetime(2026, 3, 9, 17, 59, tzinfo=UTC))
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str = "http://creativecommons.org/licenses/by/4.0/"

    @property
    def updated(self) -> datetime:
        """When the current version was submitted."""
        return self.published + timedelta(days=30 * (self.version - 1))


@dataclass(frozen=True)
class SeenRequest:
    """One request the fake received, with its arrival time (``time.monotonic``)."""

    path: str
    query: dict[str, str]
    user_agent: str | None
    at: float


@dataclass
class _Failure:
    kind: str
    delay: float


class FakeArxiv(TestServer):
    """In-process arXiv: ``async with FakeArxiv() as fake``, point the client at
    :attr:`endpoint`, load a scenario with :meth:`announce`.

    ``time_scale`` shrinks arXiv's 3-second rule (0.01 → 30 ms) so tests run fast.
    """

    def __init__(self, *, time_scale: float = 1.0) -> None:
        app = web.Application(middlewares=[self._police])
        app.router.add_get("/rss/{query}", self._rss)
        app.router.add_get("/api/query", self._api)
        super().__init__(app)
        self.min_interval = ARXIV_INTERVAL * time_scale
        self.requests: list[SeenRequest] = []
        self.violations: list[str] = []
        self.known_categories = known_codes()
        self.announced_on: date = date(2026, 3, 10)
        self._announced: list[FakePaper] = []
        self._raw_items: list[tuple[int, str]] = []
        self._papers: dict[str, FakePaper] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._in_flight = 0
        self._last_arrival: float | None = None

    async def __aenter__(self) -> Self:
        """Start serving; typed as the fake, not as aiohttp's base test server."""
        await super().__aenter__()
        return self

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        # A short shutdown: a "slow" handler must not hold up the end of a test.
        return web.AppRunner(self.app, shutdown_timeout=0.5, **kwargs)

    @property
    def endpoint(self) -> str:
        """The fake's root URL (serves both the feeds and the API), once started."""
        return str(self.make_url("")).rstrip("/")

    # --- scenarios -----------------------------------------------------------

    def announce(self, day: date, papers: list[FakePaper]) -> None:
        """Make ``papers`` the announcement of ``day`` (the API knows them too)."""
        self.announced_on = day
        self._announced = list(papers)
        self._raw_items.clear()
        self.add_papers(papers)

    def no_announcement(self, day: date) -> None:
        """An empty feed for ``day``, as on weekends and holidays."""
        self.announce(day, [])

    def add_papers(self, papers: list[FakePaper]) -> None:
        """Papers the export API knows (not announced unless :meth:`announce` lists them)."""
        self._papers.update((p.arxiv_id, p) for p in papers)

    def add_malformed(self, kind: MalformedKind, position: int = 1) -> None:
        """Insert a broken item at ``position`` among the feed's good items."""
        self._raw_items.append((position, _malformed_item(kind, self.announced_on)))

    def fail(self, route: Route, kind: FailureKind, times: int = 1, *, delay: float = 1.0) -> None:
        """Make the next ``times`` requests to ``route`` fail as ``kind``.

        "slow" waits ``delay`` seconds before answering normally; "garbage" is an
        HTML error page with status 200; "truncated" cuts the XML in half.
        """
        for _ in range(times):
            self._failures[route].append(_Failure(kind, delay))

    def assert_terms_kept(self) -> None:
        """Fail unless every request kept arXiv's terms and named the bot in its User-Agent."""
        assert self.violations == [], self.violations
        agents = {r.user_agent or "" for r in self.requests}
        assert all(agent.startswith("paperbot/") and "+http" in agent for agent in agents), agents

    def count(self, route: Route) -> int:
        """How many requests hit ``route``."""
        prefix = "/rss/" if route == "rss" else "/api/"
        return sum(1 for r in self.requests if r.path.startswith(prefix))

    # --- the terms of use ------------------------------------------------------

    @web.middleware
    async def _police(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        now = time.monotonic()
        self.requests.append(
            SeenRequest(request.path, dict(request.query), request.headers.get("User-Agent"), now)
        )
        broken = []
        if self._last_arrival is not None and now - self._last_arrival < self.min_interval:
            gap = now - self._last_arrival
            broken.append(f"{gap:.3f}s after the previous request (< {self.min_interval:.3f}s)")
        self._last_arrival = now
        server = self.runner.server if self.runner is not None else None
        open_connections = len(server.connections) if server is not None else 0
        if open_connections > 1 or self._in_flight:
            broken.append(f"{max(open_connections, 2)} connections at once")
        if broken:
            self.violations.append(f"{request.path}: " + "; ".join(broken))
            return web.Response(status=503, text="Rate exceeded.")
        self._in_flight += 1
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1

    async def _failure(self, route: str) -> web.Response | None:
        """Play the next queued failure of ``route``; ``None`` means answer normally."""
        failure = await take_fault(self._failures[route])
        if failure is None:
            return None
        if failure.kind == "garbage":
            page = "<html><body>Bad gateway</body></html>"
            return web.Response(text=page, content_type="text/html")
        if failure.kind == "truncated":
            body = _rss_document("cs.LG", self.announced_on, [_item_xml(_sample(), "new")])
            return web.Response(text=body[: len(body) // 2], content_type="application/rss+xml")
        return web.Response(status=int(failure.kind), text="upstream error")

    # --- handlers --------------------------------------------------------------

    async def _rss(self, request: web.Request) -> web.StreamResponse:
        failed = await self._failure("rss")
        if failed is not None:
            return failed
        query = request.match_info["query"]
        cats = query.split("+")
        if not all(c in self.known_categories for c in cats):
            return web.Response(text=_error_feed(query), content_type="application/rss+xml")
        items = self._feed_items(cats)
        for position, raw in sorted(self._raw_items):
            items.insert(min(position, len(items)), raw)
        body = _rss_document(query, self.announced_on, items)
        return web.Response(text=body, content_type="application/rss+xml")

    def _feed_items(self, cats: list[str]) -> list[str]:
        """Items of the announcement for ``cats``, in arXiv's order of announce types."""

        def listed(code: str) -> bool:
            return code in cats or code.split(".")[0] in cats

        groups: dict[str, list[str]] = {t: [] for t in ("new", "cross", "replace", "replace-cross")}
        for paper in self._announced:
            if listed(paper.categories[0]):
                kind = "new" if paper.version == 1 else "replace"
            elif any(listed(c) for c in paper.categories[1:]):
                kind = "cross" if paper.version == 1 else "replace-cross"
            else:
                continue
            groups[kind].append(_item_xml(paper, kind, self.announced_on))
        return [item for kind in groups for item in groups[kind]]

    async def _api(self, request: web.Request) -> web.StreamResponse:
        failed = await self._failure("api")
        if failed is not None:
            return failed
        raw_ids = [i for i in request.query.get("id_list", "").split(",") if i]
        try:
            limit = int(request.query.get("max_results", API_DEFAULT_RESULTS))
        except ValueError:
            return _api_error(request.query_string, "max_results must be an integer")
        limit = max(0, min(limit, API_MAX_RESULTS))
        entries = []
        for raw in raw_ids:
            match = _ID_RE.fullmatch(raw)
            if match is None:
                return _api_error(request.query_string, f"incorrect id format for {raw}")
            paper = self._papers.get(match.group(1))
            if paper is not None:
                entries.append(_entry_xml(paper))
        body = _atom_document(request.query_string, len(entries), entries[:limit], limit)
        return web.Response(text=body, content_type="application/atom+xml")


# --- documents -----------------------------------------------------------------


def rfc822(day: date) -> str:
    """Midnight US Eastern of ``day`` as arXiv writes it (``Tue, 10 Mar 2026 00:00:00 -0400``)."""
    offset = "-0400" if 3 <= day.month <= 10 else "-0500"  # close enough to DST for a fake
    month = _MONTHS[day.month - 1]
    return f"{_DAYS[day.weekday()]}, {day.day:02d} {month} {day.year} 00:00:00 {offset}"


def _rss_document(query: str, day: date, items: list[str]) -> str:
    skip = "" if items else "<skipDays>\n<day>Saturday</day>\n<day>Sunday</day>\n</skipDays>\n"
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">\n'
        "<channel>\n"
        f"<title>{escape(query)} updates on arXiv.org</title>\n"
        f"<link>http://rss.arxiv.org/rss/{escape(query)}</link>\n"
        f"<description>{escape(query)} updates on the arXiv.org e-print archive.</description>\n"
        f'<atom:link href="http://rss.arxiv.org/rss/{escape(query)}" rel="self" '
        'type="application/rss+xml"/>\n'
        "<docs>http://www.rssboard.org/rss-specification</docs>\n"
        "<language>en-us</language>\n"
        f"<lastBuildDate>{rfc822(day)[:17]}04:00:11 +0000</lastBuildDate>\n"
        "<managingEditor>rss-help@arxiv.org</managingEditor>\n"
        f"<pubDate>{rfc822(day)}</pubDate>\n"
        f"{skip}{''.join(items)}"
        "</channel>\n</rss>\n"
    )


def _error_feed(query: str) -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">\n<channel>\n'
        f"<title>Feed error for query: {escape(query)}</title>\n"
        f"<link>http://rss.arxiv.org/rss/{escape(query)}</link>\n"
        "<description>Feed error for query</description>\n"
        "<docs>http://www.rssboard.org/rss-specification</docs>\n"
        "<language>en-us</language>\n"
        "</channel>\n</rss>\n"
    )


def _item_xml(paper: FakePaper, kind: str, day: date | None = None) -> str:
    vid = f"{paper.arxiv_id}v{paper.version}"
    cats = "".join(f"<category>{escape(c)}</category>\n" for c in paper.categories)
    return (
        "<item>\n"
        f"<title>{escape(paper.title)}</title>\n"
        f"<link>https://arxiv.org/abs/{paper.arxiv_id}</link>\n"
        f"<description>arXiv:{vid} Announce Type: {kind} \n"
        f"Abstract: {escape(paper.abstract)}</description>\n"
        f'<guid isPermaLink="false">oai:arXiv.org:{vid}</guid>\n'
        f"{cats}"
        f"<pubDate>{rfc822(day or date(2026, 3, 10))}</pubDate>\n"
        f"<arxiv:announce_type>{kind}</arxiv:announce_type>\n"
        f"<dc:rights>{escape(paper.license)}</dc:rights>\n"
        f"<dc:creator>{escape(', '.join(paper.authors))}</dc:creator>\n"
        "</item>\n"
    )


def _malformed_item(kind: MalformedKind, day: date) -> str:
    broken = _sample()
    item = _item_xml(broken, "new", day)
    if kind == "no_id":
        item = item.replace("oai:arXiv.org:2603.99999v1", "tag:nowhere").replace(
            "https://arxiv.org/abs/2603.99999", "https://example.org/nothing"
        )
    elif kind == "bad_type":
        item = item.replace(">new</arxiv:announce_type>", ">sideways</arxiv:announce_type>")
        item = item.replace("Announce Type: new", "Announce Type: sideways")
    else:
        item = item.replace(f"<title>{broken.title}</title>", "<title>  </title>")
    return item


def _sample() -> FakePaper:
    return FakePaper("2603.99999", "A broken entry", ("cs.LG",))


def _entry_xml(paper: FakePaper) -> str:
    vid = f"{paper.arxiv_id}v{paper.version}"
    authors = "".join(f"<author>\n<name>{escape(a)}</name>\n</author>\n" for a in paper.authors)
    cats = "".join(
        f'<category term={quoteattr(c)} scheme="http://arxiv.org/schemas/atom"/>\n'
        for c in paper.categories
    )
    extras = "".join(
        f"<arxiv:{tag}>{escape(value)}</arxiv:{tag}>\n"
        for tag, value in (
            ("comment", paper.comment),
            ("journal_ref", paper.journal_ref),
            ("doi", paper.doi),
        )
        if value
    )
    return (
        "<entry>\n"
        f"<id>http://arxiv.org/abs/{vid}</id>\n"
        f"<title>{escape(paper.title)}</title>\n"
        f"<updated>{paper.updated.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>\n"
        f'<link href="https://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>\n'
        f'<link href="https://arxiv.org/pdf/{vid}" rel="related" type="application/pdf" '
        'title="pdf"/>\n'
        f"<summary>{escape(paper.abstract)}</summary>\n"
        f"{cats}"
        f"<published>{paper.published.strftime('%Y-%m-%dT%H:%M:%SZ')}</published>\n"
        f"{extras}"
        f"<arxiv:primary_category term={quoteattr(paper.categories[0])}/>\n"
        f"{authors}"
        "</entry>\n"
    )


def _atom_document(query: str, total: int, entries: list[str], per_page: int) -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">\n'
        "<id>https://arxiv.org/api/SkuXkYxumgL1drFIL7NufdnpkFc</id>\n"
        f"<title>arXiv Query: {escape(query)}</title>\n"
        "<updated>2026-03-10T18:34:08Z</updated>\n"
        f'<link href="https://arxiv.org/api/query?{escape(query)}" type="application/atom+xml"/>\n'
        f"<opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>\n"
        f"<opensearch:totalResults>{total}</opensearch:totalResults>\n"
        "<opensearch:startIndex>0</opensearch:startIndex>\n"
        f"{''.join(entries)}"
        "</feed>\n"
    )


def _api_error(query: str, message: str) -> web.Response:
    entry = (
        "<entry>\n<id>https://arxiv.org/api/errors</id>\n<title>Error</title>\n"
        f"<summary>{escape(message)}</summary>\n</entry>\n"
    )
    return web.Response(
        status=400, text=_atom_document(query, 1, [entry], 1), content_type="application/atom+xml"
    )


# --- a normal weekday ------------------------------------------------------------


@asynccontextmanager
async def announcing_tuesday(time_scale: float) -> AsyncIterator[FakeArxiv]:
    """The fake announcing :func:`weekday_papers` on Tuesday 10 March 2026.

    On leaving, it checks that arXiv's terms were kept (:meth:`FakeArxiv.assert_terms_kept`).
    """
    async with FakeArxiv(time_scale=time_scale) as server:
        server.announce(date(2026, 3, 10), weekday_papers())
        yield server
        server.assert_terms_kept()


def weekday_papers() -> list[FakePaper]:
    """A Tuesday's announcement over cs.CL, cs.LG and stat.ML with every announce type.

    For a cs.CL+cs.LG feed: 2 new in cs.CL, 1 new in cs.LG, 1 cross (primary
    stat.ML), 1 replacement (cs.CL v3) and 1 replace-cross (primary math.OC, v2);
    one more paper in hep-th only, which those feeds must not list.
    """
    return [
        FakePaper(
            "2603.10001",
            "Sparse Attention for Long Documents",
            ("cs.CL", "cs.LG"),
            abstract="We make attention sparse.\nIt reads long documents.",
            authors=("Ada Lovelace", "Alan Turing", "Grace Hopper"),
            comment="12 pages, 4 figures",
        ),
        FakePaper("2603.10002", "Multilingual Tokenizers Revisited", ("cs.CL",)),
        FakePaper("2603.10003", "Stable Training of Deep Networks", ("cs.LG", "stat.ML")),
        FakePaper(
            "2603.10004",
            "Kernel Two-Sample Tests at Scale",
            ("stat.ML", "cs.LG"),
            doi="10.1234/kernel.5",
        ),
        FakePaper(
            "2511.04321",
            "Retrieval-Augmented Summarisation",
            ("cs.CL", "cs.AI"),
            version=3,
            published=datetime(2025, 11, 6, 9, 0, tzinfo=UTC),
            journal_ref="ACL 2026",
        ),
        FakePaper(
            "2512.00777",
            "Convex Relaxations for Learning",
            ("math.OC", "cs.LG"),
            version=2,
            published=datetime(2025, 12, 1, 12, 0, tzinfo=UTC),
        ),
        FakePaper("2603.10009", "Holography in de Sitter Space", ("hep-th",)),
    ]
