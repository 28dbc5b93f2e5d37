"""Neutral data models shared by the core, storage and every chat adapter.

Nothing here knows about Discord or Telegram. Channels are strings
``"platform:id"`` so one table serves every platform.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from bot.sources.arxiv_taxonomy import HF_SOURCE, format_arxiv_source

ARXIV_ID_RE = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$", re.ASCII)
# Identifiers from before April 2007: archive[.SUBJECT]/YYMMNNN, e.g. hep-th/9901001.
OLD_ARXIV_ID_RE = re.compile(r"^([a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})(v\d+)?$", re.ASCII)
HF_PAPER_URL = "https://huggingface.co/papers/{}"
ARXIV_URL = "https://arxiv.org/abs/{}"


def bare_arxiv_id(text: str) -> str | None:
    """``text`` as an arXiv id without its version (new or old style), else None."""
    match = ARXIV_ID_RE.match(text) or OLD_ARXIV_ID_RE.match(text)
    return match.group(1) if match else None


def title_key(title: str) -> str:
    """Stable key for a paper that has no arXiv id, derived from its title."""
    normal = " ".join(re.findall(r"\w+", title.casefold()))
    return "t:" + hashlib.sha1(normal.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Paper:
    """One research paper as the bot knows it.

    ``arxiv_id`` may be ``None`` (some seed papers have none); ``key`` is then
    derived from the title so the paper still loads, dedupes and is searchable.
    ``upvotes`` is ``None`` when the source does not know them (arXiv): storing
    such a paper keeps the count another source (Hugging Face) gave it.
    """

    title: str
    arxiv_id: str | None = None
    summary: str = ""
    authors: tuple[str, ...] = ()
    published_at: date | None = None
    featured_on: date | None = None
    upvotes: int | None = 0
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None

    @property
    def key(self) -> str:
        """Primary identity: the arXiv id when known, else a title hash."""
        return self.arxiv_id or title_key(self.title)

    @property
    def hf_url(self) -> str | None:
        """The Hugging Face paper page, when the paper has a new-style arXiv id.

        Hugging Face has pages only for ids of the 2007 scheme (2305.14858).
        """
        if self.arxiv_id and ARXIV_ID_RE.match(self.arxiv_id):
            return HF_PAPER_URL.format(self.arxiv_id)
        return None

    @property
    def arxiv_url(self) -> str | None:
        """The arXiv abstract page, when the paper has an arXiv id."""
        return ARXIV_URL.format(self.arxiv_id) if self.arxiv_id else None

    @property
    def day(self) -> date | None:
        """The date shown to users: featured day, else publication day."""
        return self.featured_on or self.published_at


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled URL shown under a paper card."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class PaperCard:
    """A paper ready for display: plain, unescaped text; adapters escape it."""

    title: str
    url: str | None
    authors: str
    date: str
    upvotes: int
    summary: str
    links: tuple[Link, ...] = ()
    rank: int | None = None
    arxiv_id: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """An action offered under a reply.

    Pressing it runs ``command`` with ``args`` in the same channel. ``alias`` is
    the short word the console adapter shows (``/next``); ``args`` must keep the
    encoded button within Telegram's 64 bytes and Discord's 100 characters, so
    state lives server-side and only a short key travels.
    """

    label: str
    command: str
    args: str = ""
    alias: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """A platform-neutral answer: a heading, text, paper cards and buttons.

    All text is plain (never markup); each adapter renders and escapes it.
    ``ephemeral`` asks the adapter to show it only to the caller where the
    platform can (Discord); ``is_error`` marks refusals and input errors.
    """

    text: str = ""
    title: str | None = None
    cards: tuple[PaperCard, ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str | None = None
    ephemeral: bool = False
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Post:
    """An unsolicited message (a digest) the core asks an adapter to send.

    ``key`` is unique per message the core intends to send; adapters use it as
    an idempotency nonce where the platform supports one (Discord
    ``enforce_nonce``), so a resend after a crash cannot double-post.
    """

    body: Reply
    key: str


@dataclass(frozen=True, slots=True)
class Command:
    """A user's request, translated by an adapter from a platform event."""

    name: str
    args: str
    channel: str
    user: str
    is_admin: bool = False


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's standing order for digests, with its own settings.

    ``weekdays`` holds ISO weekday numbers (1 = Monday). With ``cadence``
    ``"weekly"`` the digest covers the past ISO week and goes out on
    ``weekly_day``. ``arxiv_categories`` chooses the source: empty means
    Hugging Face Daily Papers, else the announcements of those arXiv
    categories (canonical codes); ``crosslists`` says whether papers only
    cross-listed into them count. ``alert_every`` is the least number of
    minutes between two alert messages of the channel (its keyword alerts,
    bot/alerts.py). ``match`` says how ``include`` picks papers: ``"keywords"``
    (the words as spelled) or ``"topic"`` (also papers about them, by meaning).
    """

    channel: str
    post_time: time = time(9, 0)
    timezone: str = "UTC"
    weekdays: frozenset[int] = frozenset(range(1, 8))
    top_n: int = 5
    min_upvotes: int = 0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    cadence: str = "daily"
    weekly_day: int = 1
    paused: bool = False
    paused_reason: str | None = None
    next_run_at: datetime | None = None
    created_by: str = ""
    arxiv_categories: tuple[str, ...] = ()
    crosslists: bool = True
    alert_every: int = 10
    match: str = "keywords"

    @property
    def source(self) -> str:
        """``hf``, or the arXiv source spec ``arxiv:cs.CL,cs.LG``."""
        if not self.arxiv_categories:
            return HF_SOURCE
        return format_arxiv_source(self.arxiv_categories)


@dataclass(frozen=True, slots=True)
class Defaults:
    """Defaults for new subscriptions."""

    post_time: time = time(9, 0)
    timezone: str = "UTC"
