"""Platform-neutral commands: a Command in, a neutral Reply out."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Protocol, TypeVar

from bot.cards import clean_text, paper_card, shorten
from bot.catalogue import BY_NAME, command_spec, help_text
from bot.clock import Clock
from bot.digest import NO_LIST, Candidates, digest_reply, plan_digest
from bot.errors import UserError
from bot.faults import describe
from bot.hybrid import HybridSearch
from bot.models import (
    Button,
    Command,
    Defaults,
    Paper,
    Reply,
    Subscription,
)
from bot.paper_refs import key_argument
from bot.ports.storage import SearchSession, Storage, WriteFailed
from bot.query import SearchQuery, parse_query
from bot.reply_parts import (
    EMPTY_EXPLAINED,
    MAX_PAGE,
    PAGE_SIZE,
    days_covered,
    detail_buttons,
    next_post_line,
    of_total,
    page_buttons,
    remote_results,
)
from bot.schedule import describe_days, next_run, period_of
from bot.semantic import Semantic, paper_text
from bot.subscription_options import (
    SETTING_KEYS,
    apply_setting,
    describe_filters,
    describe_settings,
    parse_subscribe_args,
    setting_key,
)

log = logging.getLogger("paperbot.commands")
T = TypeVar("T")

# A /similar list's length, and the mark of its search session (a control
# character: cleaned user text never holds one, so no search can look like it).
SIMILAR_MAX = 50
SIMILAR_SESSION = "\x1fsimilar "
SESSION_TTL = timedelta(hours=24)
LOOKUP_TIMEOUT = 1.5
# After a failed lookup, leave the source alone for a while: a down Hugging
# Face must not add its timeout to every search that finds nothing locally.
LOOKUP_COOLDOWN = timedelta(minutes=2)
MAX_ARGS_CHARS = 1000

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
        semantic: Semantic | None = None,
    ) -> None:
        self.storage = storage
        self.semantic = semantic
        self.searcher = HybridSearch(storage, semantic)
        self.clock = clock
        self.defaults = defaults or Defaults()
        self.lookup = lookup
        self._lookup_resumes_at = self.clock.now()
        # Whether the last lookup failed: replies then say the source is down
        # rather than that nothing matches.
        self._source_down = False
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
            return error(f"That is {len(cleaned):,} characters; use at most {MAX_ARGS_CHARS}.")
        spec = command_spec(cmd.name)
        if spec is not None and spec.needs_admin(cleaned) and not cmd.is_admin:
            return error(f"Only admins of this chat can {spec.admin_action}.")
        try:
            return await handler(replace(cmd, args=cleaned))
        except UserError as exc:
            return error(str(exc))
        except WriteFailed as exc:
            log.error("command /%s in %s not saved: %s", cmd.name, cmd.channel, describe(exc))
            return error(
                f"Sorry, that was not saved: the database refused the write ({exc})."
                " Nothing changed; please try again later."
            )
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
            cards = tuple(paper_card(p, i) for i, p in enumerate(papers, 1))
            return Reply(
                title="Latest papers in the library",
                text="No Hugging Face daily list is stored yet; these are the newest papers.",
                cards=cards,
                buttons=tuple(detail_buttons(cards, papers)),
            )
        papers = (await self.storage.papers_featured_between(day, day))[:top]
        if not papers:
            return Reply(text=f"No papers stored for {day.isoformat()}.")
        cards = tuple(paper_card(p, i) for i, p in enumerate(papers, 1))
        buttons = tuple(detail_buttons(cards, papers))
        shown_day = day.strftime("%a %d %b %Y")
        if await self.storage.is_sample_day(day):
            return Reply(
                title=f"Sample list of {shown_day}",
                text="Bundled sample data: a saved Hugging Face Daily Papers page.",
                cards=cards,
                buttons=buttons,
                footer="Ranked in the page's own order (Hugging Face's ranking)",
            )
        note = " (the list is still filling up)" if day >= utc_today else ""
        return Reply(
            title=f"Top papers of {shown_day}{note}",
            cards=cards,
            buttons=buttons,
            footer="Ranked by Hugging Face upvotes",
        )

    async def search(self, cmd: Command) -> Reply:
        """Full-text search, first page."""
        if not cmd.args:
            raise UserError('Usage: /search <words> — e.g. /search "language model" -video')
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
        if session.query.startswith(SIMILAR_SESSION):
            return await self._similar_page(session, page)
        return await self._results(session, parse_query(session.query), page)

    async def _results(self, session: SearchSession, query: SearchQuery, page: int) -> Reply:
        offset = (page - 1) * PAGE_SIZE
        found = await self.searcher.search(query, offset, PAGE_SIZE)
        shown = shorten(session.query, 80)
        if not found.papers:
            if page > 1:
                return Reply(text=f"No more results for “{shown}”.")
            remote = await self._remote_search(query)
            if remote:
                return remote_results(shown, remote)
            if self._source_down:
                empty = await self.storage.count_papers() == 0
                where = "The library is empty" if empty else f"No stored papers match “{shown}”"
                return Reply(
                    text=f"{where}, and Hugging Face cannot be reached right now to search it."
                    " Try again in a few minutes."
                )
            return Reply(
                text=f"No papers match “{shown}”. Try fewer or broader words, or drop filters."
            )
        cards = tuple(paper_card(p, offset + i) for i, p in enumerate(found.papers, 1))
        buttons = page_buttons(session.key, page, found.has_more)
        buttons.extend(detail_buttons(cards, found.papers))
        first, last = offset + 1, offset + len(cards)
        return Reply(
            title=f"Results for “{shown}”",
            cards=cards,
            buttons=tuple(buttons),
            footer=(
                f"Results {first}–{last}{of_total(found)}, page {page} · sorted by {query.sort}"
            ),
        )

    async def paper(self, cmd: Command) -> Reply:
        """One paper in detail, by arXiv id or URL."""
        key = key_argument("paper", cmd.args)
        found = await self.storage.get_paper(key)
        if found is None and not key.startswith("t:"):
            found = await self._lookup(key)
        if found is None:
            if self._source_down:
                return error(
                    f"I don't know paper {key} yet, and Hugging Face cannot be reached right now"
                    " to look it up. Try again in a few minutes."
                )
            return error(f"I don't know paper {key} yet.")
        # Offered only where semantic search runs (PAPERBOT_EMBEDDER is not none).
        similar = (Button("Similar", "similar", found.key, alias="similar"),)
        return Reply(
            cards=(paper_card(found, detailed=True),),
            buttons=similar if self.semantic is not None else (),
        )

    async def similar(self, cmd: Command) -> Reply:
        """The papers nearest in content to one paper, first page (paged like search)."""
        if self.semantic is None:
            raise UserError(
                "Similar papers need semantic search, which is turned off here"
                " (PAPERBOT_EMBEDDER=none)."
            )
        key = key_argument("similar", cmd.args)
        known = await self.storage.get_paper(key) is not None
        if not known and (key.startswith("t:") or await self._lookup(key) is None):
            raise UserError(f"I don't know paper {key} yet.")
        session = SearchSession(
            key=secrets.token_urlsafe(6),
            channel=cmd.channel,
            query=SIMILAR_SESSION + key,
            created_at=self.clock.now(),
        )
        await self.storage.save_search_session(session)
        return await self._similar_page(session, 1)

    async def _similar_page(self, session: SearchSession, page: int) -> Reply:
        key = session.query.removeprefix(SIMILAR_SESSION)
        paper = await self.storage.get_paper(key)
        if paper is None or self.semantic is None:
            raise UserError("This list is not available any more; run /similar again.")
        near = self.semantic.nearest_to_paper(key, SIMILAR_MAX)
        if near is None:  # looked up just now, or not embedded yet
            found = await self.semantic.nearest_to_text(paper_text(paper), SIMILAR_MAX + 1)
            near = [(other, score) for other, score in found if other != key][:SIMILAR_MAX]
        offset = (page - 1) * PAGE_SIZE
        papers = await self.storage.get_papers([k for k, _ in near[offset : offset + PAGE_SIZE]])
        title = shorten(paper.title, 80)
        if not papers:
            return Reply(text=f"No more papers similar to “{title}”.")
        cards = tuple(paper_card(p, offset + i) for i, p in enumerate(papers, 1))
        buttons = page_buttons(session.key, page, offset + PAGE_SIZE < len(near))
        buttons.extend(detail_buttons(cards, papers))
        first, last = offset + 1, offset + len(cards)
        return Reply(
            title=f"Papers similar to “{title}”",
            cards=cards,
            buttons=tuple(buttons),
            footer=f"Results {first}–{last} of {len(near)}, page {page} · closest in content first",
        )

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
            answer = await asyncio.wait_for(ask(self.lookup), LOOKUP_TIMEOUT)
        except Exception as exc:  # a slow or broken source must not break the reply
            log.warning("Hugging Face lookup failed: %s", describe(exc))
            self._lookup_resumes_at = self.clock.now() + LOOKUP_COOLDOWN
            self._source_down = True
            return None
        self._source_down = False
        return answer

    # subscription commands -------------------------------------------------------
    async def subscribe(self, cmd: Command) -> Reply:
        """Create or update this channel's subscription (admins: see the catalogue)."""
        at, zone = parse_subscribe_args(cmd.args)
        existing = await self.storage.get_subscription(cmd.channel)
        # What is not given keeps the channel's current value (a bare /subscribe
        # resumes a paused digest unchanged); defaults only apply to new ones.
        base = existing or Subscription(
            channel=cmd.channel,
            created_by=cmd.user,
            post_time=self.defaults.post_time,
            timezone=self.defaults.timezone,
        )
        sub = replace(
            base,
            post_time=at or base.post_time,
            timezone=zone or base.timezone,
            paused=False,
            paused_reason=None,
        )
        sub = await self._save_with_next_run(sub)
        verb = "Updated" if existing else "Subscribed"
        return Reply(
            title=(
                f"{verb}: daily digest at {sub.post_time.strftime('%H:%M')} {sub.timezone}"
                f" ({describe_days(sub)})"
            ),
            text=next_post_line(sub)
            + "\nSee what it would post now with /preview."
            + "\nChange it with /settings, stop it with /unsubscribe.",
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
        return replace(reply, title=f"Updated {setting_key(key)}. " + (reply.title or ""))

    async def preview(self, cmd: Command) -> Reply:
        """What this channel's next digest would hold if it went out now (anyone may ask)."""
        sub = await self.storage.get_subscription(cmd.channel)
        if sub is None:
            return Reply(text="This channel is not subscribed. An admin can run /subscribe.")
        now = self.clock.now()
        plan = await plan_digest(
            self.storage, sub, now, Candidates(self.storage, self.semantic)
        )
        filters = f"Filters: {describe_filters(sub)}."
        if not plan.papers:
            return Reply(
                title="Preview: the digest would be empty right now",
                text=f"{EMPTY_EXPLAINED[plan.empty_reason or NO_LIST]}\n{filters}",
                footer=next_post_line(sub),
            )
        body = digest_reply(plan.papers, period_of(sub, now))
        sample = plan.last_day is not None and await self.storage.is_sample_day(plan.last_day)
        days = days_covered(plan.first_day, plan.last_day) + (" (sample data)" if sample else "")
        return replace(
            body,
            title=f"Preview: {body.title}",
            text=f"If the digest went out now, it would post these papers of {days}.\n{filters}",
            footer=next_post_line(sub),
        )

    async def _show_settings(self, sub: Subscription) -> Reply:
        lines = describe_settings(sub)
        last = await self.storage.last_delivery(sub.channel)
        if last is not None:
            # Why it was skipped or failed ("nothing new", "all filtered out"...).
            reason = f" ({last.error})" if last.error else ""
            lines.append(f"last post: {last.period} — {last.state}{reason}")
        if sub.paused:
            lines.append(f"paused: {sub.paused_reason or 'yes'} (run /subscribe to resume)")
        else:
            lines.append(next_post_line(sub))
        keys = ", ".join(SETTING_KEYS)
        return Reply(
            title="Digest settings for this channel",
            text="\n".join(lines),
            footer=f"Change one with /settings <key> <value>; keys: {keys}",
        )

    async def _save_with_next_run(self, sub: Subscription) -> Subscription:
        sub = replace(sub, next_run_at=next_run(sub, self.clock.now()))
        return await self.storage.save_subscription(sub)
