"""Platform-neutral commands: a Command in, a neutral Reply out."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Protocol, TypeVar

from bot.cards import clean_text, paper_card, shorten
from bot.catalogue import BY_NAME, command_spec, help_text
from bot.clock import Clock
from bot.errors import UserError
from bot.models import Button, Command, Defaults, Paper, PaperCard, Reply, Subscription
from bot.ports.storage import SearchSession, Storage
from bot.query import SearchQuery, parse_query
from bot.schedule import describe_days, format_local, next_run
from bot.subscription_options import (
    SETTING_KEYS,
    apply_setting,
    describe_settings,
    parse_subscribe_args,
)

log = logging.getLogger("paperbot.commands")
T = TypeVar("T")

PAGE_SIZE = 5
MAX_PAGE = 50
SESSION_TTL = timedelta(hours=24)
LOOKUP_TIMEOUT = 1.5
# After a failed lookup, leave the source alone for a while: a down Hugging
# Face must not add its timeout to every search that finds nothing locally.
LOOKUP_COOLDOWN = timedelta(minutes=2)
MAX_ARGS_CHARS = 1000

_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/|arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?",
    re.IGNORECASE,
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SESSION_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{4,16}$")


class PaperLookup(Protocol):
    """A live paper source the commands may consult (Hugging Face)."""

    async def fetch_paper(self, arxiv_id: str) -> Paper | None:
        """One paper by arXiv id, or None when the source does not know it."""

    async def search(self, query: str, limit: int = 10) -> list[Paper]:
        """The source's own search."""


def error(text: str) -> Reply:
    """A one-line reply for bad input or a refusal."""
    return Reply(text=text, is_error=True, ephemeral=True)


class CommandRouter:
    """Runs commands against storage; the adapters' :data:`CommandHandler`.

    Never raises: bad input becomes a one-line error reply, and an unexpected
    failure is logged and answered with an apology.
    """

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        defaults: Defaults | None = None,
        lookup: PaperLookup | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.defaults = defaults or Defaults()
        self.lookup = lookup
        self._lookup_resumes_at = self.clock.now()
        # Each catalogue command is the method of its name; "page" answers buttons.
        self._handlers: dict[str, Callable[[Command], Awaitable[Reply]]] = {
            name: getattr(self, spec.name) for name, spec in BY_NAME.items()
        }
        self._handlers["page"] = self.page

    @property
    def command_names(self) -> tuple[str, ...]:
        """Names users may type (``page`` is reserved for buttons)."""
        return tuple(BY_NAME)

    async def __call__(self, cmd: Command) -> Reply:
        """Handle one command; never raises."""
        handler = self._handlers.get(cmd.name.casefold())
        if handler is None:
            return error(f"Unknown command /{shorten(clean_text(cmd.name), 40)}. Type /help.")
        cleaned = clean_text(cmd.args)
        if len(cleaned) > MAX_ARGS_CHARS:
            return error(f"That is {len(cleaned):,} characters; keep it under {MAX_ARGS_CHARS}.")
        spec = command_spec(cmd.name)
        if spec is not None and spec.needs_admin(cleaned) and not cmd.is_admin:
            return error(f"Only admins of this chat can {spec.admin_action}.")
        try:
            return await handler(replace(cmd, args=cleaned))
        except UserError as exc:
            return error(str(exc))
        except Exception:
            log.exception("command /%s failed in %s", cmd.name, cmd.channel)
            return error("Sorry, something went wrong on my side. Please try again.")

    # read-only commands ----------------------------------------------------------
    async def help(self, cmd: Command) -> Reply:
        """The command list."""
        return Reply(title="paperbot — research papers in your chat", text=help_text())

    async def today(self, cmd: Command) -> Reply:
        """The most upvoted papers of the latest settled day, or of a given day."""
        sub = await self.storage.get_subscription(cmd.channel)
        top = sub.top_n if sub else PAGE_SIZE
        utc_today = self.clock.now().date()
        if cmd.args:
            if not _DATE_RE.match(cmd.args):
                raise UserError(f"{cmd.args!r} is not a date like 2025-03-14.")
            try:
                day: date | None = date.fromisoformat(cmd.args)
            except ValueError:
                raise UserError(f"{cmd.args} is not a real date.") from None
        else:
            day = await self.storage.latest_featured_day(before=utc_today)
        if day is None:
            papers = await self.storage.latest_papers(top)
            if not papers:
                return Reply(text="No papers stored yet. Run `paperbot ingest` to fetch some.")
            return Reply(
                title="Latest papers in the library",
                text="No Hugging Face daily list is stored yet; these are the newest papers.",
                cards=tuple(paper_card(p, i) for i, p in enumerate(papers, 1)),
            )
        papers = (await self.storage.papers_featured_between(day, day))[:top]
        if not papers:
            return Reply(text=f"No papers stored for {day.isoformat()}.")
        note = " (the list is still filling up)" if day >= utc_today else ""
        return Reply(
            title=f"Top papers of {day.strftime('%a %d %b %Y')}{note}",
            cards=tuple(paper_card(p, i) for i, p in enumerate(papers, 1)),
            footer="Ranked by Hugging Face upvotes",
        )

    async def search(self, cmd: Command) -> Reply:
        """Full-text search, first page."""
        if not cmd.args:
            raise UserError('Usage: /search <words> — e.g. /search "diffusion model" -video')
        query = parse_query(cmd.args)
        session = SearchSession(
            key=secrets.token_urlsafe(6),
            channel=cmd.channel,
            query=cmd.args,
            created_at=self.clock.now(),
        )
        await self.storage.save_search_session(session)
        return await self._results(session, query, 1)

    async def page(self, cmd: Command) -> Reply:
        """Another page of an earlier search (from a Prev/Next button)."""
        key, _, number = cmd.args.partition(" ")
        if not _SESSION_KEY_RE.match(key) or not number.isdigit():
            raise UserError("That button is not valid any more; run the search again.")
        session = await self.storage.get_search_session(key)
        if session is None or self.clock.now() - session.created_at > SESSION_TTL:
            raise UserError("This search expired; run it again.")
        page = min(max(int(number), 1), MAX_PAGE)
        return await self._results(session, parse_query(session.query), page)

    async def _results(self, session: SearchSession, query: SearchQuery, page: int) -> Reply:
        offset = (page - 1) * PAGE_SIZE
        found = await self.storage.search(query, offset, PAGE_SIZE)
        shown = shorten(session.query, 80)
        if not found.papers:
            if page > 1:
                return Reply(text=f"No more results for “{shown}”.")
            remote = await self._remote_search(query)
            if remote:
                return _remote_results(shown, remote)
            return Reply(
                text=f"No papers match “{shown}”. Try fewer or broader words, or drop filters."
            )
        cards = tuple(paper_card(p, offset + i) for i, p in enumerate(found.papers, 1))
        buttons: list[Button] = []
        if page > 1:
            buttons.append(Button("◀ Prev", "page", f"{session.key} {page - 1}", alias="prev"))
        if found.has_more and page < MAX_PAGE:
            buttons.append(Button("Next ▶", "page", f"{session.key} {page + 1}", alias="next"))
        buttons.extend(_detail_buttons(cards, found.papers))
        first, last = offset + 1, offset + len(cards)
        return Reply(
            title=f"Results for “{shown}”",
            cards=cards,
            buttons=tuple(buttons),
            footer=f"Results {first}–{last}, page {page} · sorted by {query.sort}",
        )

    async def paper(self, cmd: Command) -> Reply:
        """One paper in detail, by arXiv id or URL."""
        if not cmd.args:
            raise UserError("Usage: /paper <arXiv id or URL>, e.g. /paper 2305.14858")
        key = paper_key_from(cmd.args)
        if key is None:
            raise UserError(f"{shorten(cmd.args, 60)!r} is not an arXiv id like 2305.14858.")
        found = await self.storage.get_paper(key)
        if found is None and not key.startswith("t:"):
            found = await self._lookup(key)
        if found is None:
            return error(f"I don't know paper {key} yet.")
        return Reply(cards=(paper_card(found, detailed=True),))

    async def _lookup(self, arxiv_id: str) -> Paper | None:
        found = await self._ask_source(lambda source: source.fetch_paper(arxiv_id))
        if found is not None:
            await self.storage.upsert_papers([found])
        return found

    async def _remote_search(self, query: SearchQuery) -> list[Paper]:
        text = " ".join((*query.words, *query.phrases, *query.authors))
        found = await self._ask_source(lambda source: source.search(text, PAGE_SIZE))
        if found:
            await self.storage.upsert_papers(found)
        return found or []

    async def _ask_source(self, ask: Callable[[PaperLookup], Awaitable[T]]) -> T | None:
        """``ask`` the live source within ``LOOKUP_TIMEOUT``; None if it is absent or failing."""
        if self.lookup is None or self.clock.now() < self._lookup_resumes_at:
            return None
        try:
            return await asyncio.wait_for(ask(self.lookup), LOOKUP_TIMEOUT)
        except Exception as exc:  # a slow or broken source must not break the reply
            log.warning("Hugging Face lookup failed: %s", exc or type(exc).__name__)
            self._lookup_resumes_at = self.clock.now() + LOOKUP_COOLDOWN
            return None

    # subscription commands -------------------------------------------------------
    async def subscribe(self, cmd: Command) -> Reply:
        """Create or update this channel's subscription (admins: see the catalogue)."""
        at, zone = parse_subscribe_args(cmd.args, self.defaults.post_time, self.defaults.timezone)
        existing = await self.storage.get_subscription(cmd.channel)
        base = existing or Subscription(channel=cmd.channel, created_by=cmd.user)
        sub = replace(base, post_time=at, timezone=zone, paused=False, paused_reason=None)
        sub = await self._save_with_next_run(sub)
        verb = "Updated" if existing else "Subscribed"
        return Reply(
            title=f"{verb}: daily digest at {at.strftime('%H:%M')} {zone} ({describe_days(sub)})",
            text=_next_post_line(sub) + "\nChange it with /settings, stop it with /unsubscribe.",
        )

    async def unsubscribe(self, cmd: Command) -> Reply:
        """Remove this channel's subscription (admins: see the catalogue)."""
        if await self.storage.delete_subscription(cmd.channel):
            return Reply(text="Unsubscribed. This channel gets no more digests.")
        return Reply(text="This channel is not subscribed.")

    async def settings(self, cmd: Command) -> Reply:
        """Show the settings, or change one (admins)."""
        sub = await self.storage.get_subscription(cmd.channel)
        if sub is None:
            return Reply(text="This channel is not subscribed. An admin can run /subscribe.")
        if not cmd.args:
            return await self._show_settings(sub)
        key, _, value = cmd.args.partition(" ")
        updated = await self._save_with_next_run(apply_setting(sub, key, value))
        reply = await self._show_settings(updated)
        return replace(reply, title=f"Updated {key.casefold()}. " + (reply.title or ""))

    async def _show_settings(self, sub: Subscription) -> Reply:
        lines = describe_settings(sub)
        last = await self.storage.last_delivery(sub.channel)
        if last is not None:
            lines.append(f"last post: {last.period} — {last.state}")
        if sub.paused:
            lines.append(f"paused: {sub.paused_reason or 'yes'} (run /subscribe to resume)")
        else:
            lines.append(_next_post_line(sub))
        keys = ", ".join(SETTING_KEYS)
        return Reply(
            title="Digest settings for this channel",
            text="\n".join(lines),
            footer=f"Change one with /settings <key> <value>; keys: {keys}",
        )

    async def _save_with_next_run(self, sub: Subscription) -> Subscription:
        sub = replace(sub, next_run_at=next_run(sub, self.clock.now()))
        return await self.storage.save_subscription(sub)


def _detail_buttons(cards: Sequence[PaperCard], papers: Sequence[Paper]) -> list[Button]:
    """One button per result, labelled with its rank, that opens the paper."""
    return [
        Button(str(card.rank), "paper", paper.key, alias=str(card.rank))
        for card, paper in zip(cards, papers, strict=True)
    ]


def _remote_results(shown: str, papers: list[Paper]) -> Reply:
    shown_papers = papers[:PAGE_SIZE]
    cards = tuple(paper_card(p, i) for i, p in enumerate(shown_papers, 1))
    return Reply(
        title=f"Results for “{shown}” from Hugging Face",
        text="Nothing in the local library matched, so these come from Hugging Face's search.",
        cards=cards,
        buttons=tuple(_detail_buttons(cards, shown_papers)),
    )




def _next_post_line(sub: Subscription) -> str:
    if sub.next_run_at is None:
        return "next post: none scheduled"
    return f"next post: {format_local(sub.next_run_at, sub.timezone)}"


def paper_key_from(text: str) -> str | None:
    """The paper key in an arXiv id, arXiv/Hugging Face URL, or a ``t:`` title key."""
    text = text.strip()
    if re.fullmatch(r"t:[0-9a-f]{16}", text):
        return text
    match = _ARXIV_IN_TEXT.search(text)
    return match.group(1) if match else None
