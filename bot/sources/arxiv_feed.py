"""Parsing arXiv's documents: the per-category announcement RSS and the export API's Atom.

Both are untrusted input. Documents are parsed with the standard library's expat
(2.4.1 and later refuse entity-expansion bombs; the version is checked at import)
and any document carrying a DTD is refused outright, since arXiv never sends one.
A bad entry is skipped alone with one warning naming it; a bad document raises
:class:`MalformedDocument` so the client can retry it.
"""

from __future__ import annotations

import logging
import pyexpat
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, get_args

from bot.models import Paper
from bot.sources.clean import clean_text

__all__ = [
    "AnnounceType",
    "Announcement",
    "ArxivMetadata",
    "ArxivRecord",
    "MalformedDocument",
    "UnknownFeedQuery",
    "parse_announcement",
    "parse_metadata",
]

log = logging.getLogger("paperbot.sources.arxiv")

if pyexpat.version_info < (2, 4, 1):  # pragma: no cover - depends on the Python build
    raise ImportError(
        f"{pyexpat.EXPAT_VERSION} lacks protection against entity expansion; need expat 2.4.1+"
    )

AnnounceType = Literal["new", "cross", "replace", "replace-cross"]
ANNOUNCE_TYPES: tuple[str, ...] = get_args(AnnounceType)

ARXIV_NS = "http://arxiv.org/schemas/atom"
ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"

# New-style ids (2401.01234) and old-style ones (hep-th/9901001), with an optional version.
ARXIV_ID = r"(\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v(\d{1,4}))?"
_ID_RE = re.compile(ARXIV_ID)
_GUID_RE = re.compile(r"oai:arXiv\.org:" + ARXIV_ID)
_ABS_RE = re.compile(r"https?://(?:export\.)?arxiv\.org/abs/" + ARXIV_ID)
_PREAMBLE_RE = re.compile(
    r"^\s*arXiv:" + ARXIV_ID + r"\s+Announce Type:\s*([\w-]+)\s*(?:Abstract:\s*)?", re.S
)
_DTD_RE = re.compile(rb"<!(?:DOCTYPE|ENTITY)")


class MalformedDocument(Exception):
    """A response that is not the XML document it should be (worth retrying)."""


class UnknownFeedQuery(Exception):
    """arXiv answered with its "Feed error for query" feed: a category it does not know."""


class _Skip(Exception):
    """One entry cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class _Listing:
    """What the feed and the API both say of a paper; ``arxiv_id`` has no version."""

    arxiv_id: str
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ArxivRecord(_Listing):
    """One paper of an announcement, as the category feed lists it.

    ``categories`` are in arXiv's order (the primary first when arXiv lists it).
    ``primary_category`` and ``published_on`` are only known once
    :meth:`with_metadata` has merged the export API's answer.
    """

    announce_type: AnnounceType
    announced_on: date
    primary_category: str | None = None
    published_on: date | None = None
    license: str | None = None

    @property
    def is_replacement(self) -> bool:
        """True for a new version of an older paper (never posted as new)."""
        return self.announce_type in ("replace", "replace-cross")

    @property
    def is_cross_list(self) -> bool:
        """True when the paper's primary category is not one of the requested ones."""
        return self.announce_type in ("cross", "replace-cross")

    def with_metadata(self, meta: ArxivMetadata) -> ArxivRecord:
        """This record completed with the export API's (authoritative) metadata."""
        return replace(
            self,
            title=meta.title or self.title,
            abstract=meta.abstract or self.abstract,
            authors=meta.authors or self.authors,
            categories=meta.categories or self.categories,
            primary_category=meta.primary_category or self.primary_category,
            published_on=meta.published.date() if meta.published else self.published_on,
        )

    def to_paper(self) -> Paper:
        """The neutral :class:`~bot.models.Paper` (fields it has today).

        Upvotes are unknown to arXiv (``None``), so storing the paper keeps
        whatever count Hugging Face gave it.
        """
        return Paper(
            title=self.title,
            arxiv_id=self.arxiv_id,
            summary=self.abstract,
            authors=self.authors,
            published_at=self.published_on or self.announced_on,
            upvotes=None,
        )


@dataclass(frozen=True, slots=True)
class Announcement:
    """What one feed request returned: the announced papers of some categories.

    ``announced_on`` is the channel's announcement date (US Eastern), ``None`` when
    the feed does not say. ``skipped`` counts malformed entries left out,
    ``enriched`` the records completed with the export API's metadata.
    """

    categories: tuple[str, ...]
    announced_on: date | None
    records: tuple[ArxivRecord, ...]
    skipped: int = 0
    enriched: int = 0

    @property
    def is_empty(self) -> bool:
        """True on days without an announcement (weekends, holidays)."""
        return not self.records and not self.skipped


@dataclass(frozen=True, slots=True)
class ArxivMetadata(_Listing):
    """One entry of the export API: the latest (or requested) version of a paper."""

    primary_category: str | None
    published: datetime | None
    updated: datetime | None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    pdf_url: str | None = None


# --- the announcement feed (RSS 2.0) -----------------------------------------


def parse_announcement(body: bytes, categories: tuple[str, ...]) -> Announcement:
    """Parse a ``rss.arxiv.org/rss/<cats>`` document requested for ``categories``.

    Raises :class:`UnknownFeedQuery` for arXiv's error feed and
    :class:`MalformedDocument` when the body is not an RSS channel.
    """
    root = _parse_xml(body)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise MalformedDocument(f"expected an RSS channel, got <{root.tag[:40]}>")
    title = clean_text(channel.findtext("title"))
    if title.startswith("Feed error for query"):
        raise UnknownFeedQuery(title)
    announced_on = _rfc822_day(channel.findtext("pubDate"))
    records: list[ArxivRecord] = []
    seen: set[str] = set()
    skipped = 0
    for item in channel.iter("item"):
        try:
            record = _feed_record(item, announced_on)
        except _Skip as exc:
            skipped += 1
            log.warning("skipping arXiv feed entry: %s", exc)
            continue
        # A paper listed in two of the requested categories appears once in arXiv's
        # combined feed; guard anyway so a paper is never counted twice.
        if record.arxiv_id not in seen:
            seen.add(record.arxiv_id)
            records.append(record)
    return Announcement(categories, announced_on, tuple(records), skipped)


def _feed_record(item: ET.Element, channel_day: date | None) -> ArxivRecord:
    """One RSS ``item`` as a record, or :class:`_Skip` saying what is wrong with it."""
    guid = (item.findtext("guid") or "").strip()
    link = (item.findtext("link") or "").strip()
    match = _GUID_RE.fullmatch(guid) or _ABS_RE.fullmatch(link)
    if match is None:
        raise _Skip(f"no arXiv id in guid {guid[:60]!r} or link {link[:60]!r}")
    arxiv_id = match.group(1)
    description = item.findtext("description") or ""
    preamble = _PREAMBLE_RE.match(description)
    announce = (item.findtext(f"{{{ARXIV_NS}}}announce_type") or "").strip()
    if not announce and preamble is not None:
        announce = preamble.group(3)
    if announce not in ANNOUNCE_TYPES:
        raise _Skip(f"{arxiv_id}: unknown announce type {announce[:30]!r}")
    version_text = match.group(2) or (preamble.group(2) if preamble else None)
    title = clean_text(item.findtext("title"))
    if not title:
        raise _Skip(f"{arxiv_id}: no title")
    day = _rfc822_day(item.findtext("pubDate")) or channel_day
    if day is None:
        raise _Skip(f"{arxiv_id}: no announcement date")
    abstract = description[preamble.end() :] if preamble else description
    return ArxivRecord(
        arxiv_id=arxiv_id,
        version=int(version_text) if version_text else 1,
        title=title,
        abstract=clean_text(abstract),
        authors=_split_creators(item.findtext(f"{{{DC_NS}}}creator")),
        categories=_unique(clean_text(c.text) for c in item.iter("category")),
        announce_type=announce,  # type: ignore[arg-type]  # checked against ANNOUNCE_TYPES
        announced_on=day,
        license=clean_text(item.findtext(f"{{{DC_NS}}}rights")) or None,
    )


def _split_creators(value: str | None) -> tuple[str, ...]:
    """Author names from ``dc:creator`` ("A. One, B. Two, C. Three")."""
    names = []
    for part in clean_text(value).split(","):
        name = part.strip()
        if name.startswith("and "):
            name = name[4:].strip()
        if name:
            names.append(name)
    return tuple(names)


# --- the export API (Atom) ----------------------------------------------------


def parse_metadata(body: bytes) -> list[ArxivMetadata]:
    """The entries of an export API answer; bad entries are skipped with a warning.

    Raises :class:`MalformedDocument` when the body is not an Atom feed.
    """
    root = _parse_xml(body)
    if root.tag != f"{{{ATOM_NS}}}feed":
        raise MalformedDocument(f"expected an Atom feed, got <{root.tag[:40]}>")
    entries: list[ArxivMetadata] = []
    for entry in root.iter(f"{{{ATOM_NS}}}entry"):
        try:
            entries.append(_api_entry(entry))
        except _Skip as exc:
            log.warning("skipping arXiv API entry: %s", exc)
    return entries


def _api_entry(entry: ET.Element) -> ArxivMetadata:
    """One Atom ``entry`` of the export API, or :class:`_Skip`."""
    raw_id = (entry.findtext(f"{{{ATOM_NS}}}id") or "").strip()
    match = _ABS_RE.fullmatch(raw_id)
    if match is None:
        raise _Skip(f"entry id {raw_id[:60]!r} is not an arXiv abstract URL")
    arxiv_id = match.group(1)
    title = clean_text(entry.findtext(f"{{{ATOM_NS}}}title"))
    if not title:
        raise _Skip(f"{arxiv_id}: no title")
    primary = entry.find(f"{{{ARXIV_NS}}}primary_category")
    pdf_url = None
    for link in entry.iter(f"{{{ATOM_NS}}}link"):
        if link.get("title") == "pdf" or link.get("type") == "application/pdf":
            pdf_url = link.get("href")
    authors = (a.findtext(f"{{{ATOM_NS}}}name") for a in entry.iter(f"{{{ATOM_NS}}}author"))
    return ArxivMetadata(
        arxiv_id=arxiv_id,
        version=int(match.group(2) or 1),
        title=title,
        abstract=clean_text(entry.findtext(f"{{{ATOM_NS}}}summary")),
        authors=_unique(clean_text(name) for name in authors),
        categories=_unique(clean_text(c.get("term")) for c in entry.iter(f"{{{ATOM_NS}}}category")),
        primary_category=(clean_text(primary.get("term")) or None) if primary is not None else None,
        published=_iso_time(entry.findtext(f"{{{ATOM_NS}}}published")),
        updated=_iso_time(entry.findtext(f"{{{ATOM_NS}}}updated")),
        comment=clean_text(entry.findtext(f"{{{ARXIV_NS}}}comment")) or None,
        journal_ref=clean_text(entry.findtext(f"{{{ARXIV_NS}}}journal_ref")) or None,
        doi=clean_text(entry.findtext(f"{{{ARXIV_NS}}}doi")) or None,
        pdf_url=pdf_url,
    )


# --- shared helpers -------------------------------------------------------------


def _parse_xml(body: bytes) -> ET.Element:
    """The document's root element; :class:`MalformedDocument` if it is not safe XML."""
    if _DTD_RE.search(body):
        raise MalformedDocument("document declares a DTD")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedDocument(f"not XML ({exc})") from exc


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty strings of ``values``, first occurrence kept."""
    return tuple(dict.fromkeys(v for v in values if v))


def _rfc822_day(value: str | None) -> date | None:
    """The calendar day of an RSS date, in its own offset (arXiv uses US Eastern)."""
    if not value or not value.strip():
        return None
    try:
        return parsedate_to_datetime(value.strip()).date()
    except (TypeError, ValueError):
        return None


def _iso_time(value: str | None) -> datetime | None:
    """An Atom timestamp in UTC; ``None`` if missing or unparsable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
