"""Neutral replies as Discord messages: content, one embed per paper, buttons.

Pure functions: nothing here talks to Discord. Every piece of outside text
(paper titles, abstracts, author names, the user's own query) is made inert:
Markdown is escaped and mentions are broken with a zero-width space, so
``**x**`` shows as typed and ``@everyone`` or ``<@&123>`` neither pings nor
renders as a mention. ``allowed_mentions`` none on every message is the
guarantee against pings; the escaping keeps the text from even looking like one.

Per-embed limits are enforced here; the per-message ones (10 embeds, 6,000
embed characters) by the core's ``split_reply`` with :data:`LIMITS` and
:func:`measure`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import discord

from bot.cards import clean_text, shorten
from bot.models import Button, Link, PaperCard, Reply
from bot.ports.chat import RenderLimits

log = logging.getLogger("paperbot.discord")

# Discord's documented limits.
CONTENT_MAX = 2000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FOOTER_MAX = 2048
MESSAGE_EMBED_CHARS = 6000
MAX_EMBEDS = 10
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
BUTTONS_PER_ROW = 5
MAX_ROWS = 5

# Our own budgets inside those limits. A card is a title plus a description;
# with the footer cap, one card always fits a message on its own.
FOOTER_CHARS = 1024
META_CHARS = 600
CARD_CHARS = EMBED_TITLE_MAX + EMBED_DESCRIPTION_MAX
assert FOOTER_CHARS <= EMBED_FOOTER_MAX and CARD_CHARS + FOOTER_CHARS <= MESSAGE_EMBED_CHARS

LIMITS = RenderLimits(max_chars=MESSAGE_EMBED_CHARS, max_cards=MAX_EMBEDS)

NO_MENTIONS = discord.AllowedMentions.none()
EMBED_COLOUR = 0xFFD21E  # Hugging Face yellow
ZWSP = "\u200b"
EMPTY_CONTENT = "(nothing to show)"

# '@' starts every user, role and everyone/here mention; '<' starts the
# <@id>, <@&id>, <#id>, <t:...> and </cmd:id> forms.
_MENTION_RE = re.compile(r"@|<(?=\S)")
# Only plain http(s) URLs without characters that could close a Markdown link.
_SAFE_URL_RE = re.compile(r"^https?://[^\s()<>\[\]\\]{1,500}$")


@dataclass(frozen=True, slots=True)
class RenderedButton:
    """One button: ``custom_id`` is ``"<command> <args>"`` and fits Discord's 100 characters."""

    label: str
    custom_id: str
    row: int
    primary: bool


class PayloadView(discord.ui.View):
    """Buttons as message payload only.

    Clicks are answered from the database (the adapter reads the custom_id), so
    they keep working after a restart; discord.py must not track this view.
    """

    def is_dispatchable(self) -> bool:
        """Never register this view in discord.py's view store."""
        return False


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A reply as one Discord message: content, embeds and buttons."""

    content: str | None
    embeds: tuple[discord.Embed, ...] = ()
    buttons: tuple[RenderedButton, ...] = ()

    def view(self) -> PayloadView | None:
        """The buttons as a discord.py view, or None when there are none."""
        if not self.buttons:
            return None
        view = PayloadView(timeout=None)
        for button in self.buttons:
            style = discord.ButtonStyle.primary if button.primary else discord.ButtonStyle.secondary
            view.add_item(
                discord.ui.Button(
                    label=button.label, custom_id=button.custom_id, style=style, row=button.row
                )
            )
        return view

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for discord.py's ``send`` / ``send_message``."""
        kwargs: dict[str, Any] = {"embeds": list(self.embeds), "allowed_mentions": NO_MENTIONS}
        if self.content is not None:
            kwargs["content"] = self.content
        view = self.view()
        if view is not None:
            kwargs["view"] = view
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for discord.py's edits: every field, so nothing old survives."""
        return {
            "content": self.content,
            "embeds": list(self.embeds),
            "view": self.view(),
            "allowed_mentions": NO_MENTIONS,
        }

    @property
    def embed_chars(self) -> int:
        """The characters Discord counts towards its 6,000 per message."""
        return sum(len(embed) for embed in self.embeds)


def inert(text: str) -> str:
    """``text`` with Markdown escaped and mentions broken, for Markdown-rendering fields."""
    escaped = discord.utils.escape_markdown(text)
    return _MENTION_RE.sub(lambda match: match.group() + ZWSP, escaped)


def hard_cut(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis, never leaving a dangling escape."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip("\\") + "…"


def inert_fit(text: str, limit: int) -> str:
    """:func:`inert` text of at most ``limit`` characters, cut at a word where possible."""
    return hard_cut(inert(shorten(clean_text(text), limit)), limit)


def custom_id_for(button: Button) -> str:
    """The custom_id a button carries: the command and its arguments."""
    return f"{button.command} {button.args}".strip()


def render_buttons(buttons: tuple[Button, ...]) -> tuple[RenderedButton, ...]:
    """Buttons laid out one command per row (navigation, then details), five to a row.

    A button whose custom_id would break Discord's rules (too long, repeated)
    is left out rather than sent: the core keeps state server-side, so this
    only happens on a bug, and it is logged.
    """
    rendered: list[RenderedButton] = []
    seen: set[str] = set()
    row, in_row, last_command = -1, BUTTONS_PER_ROW, ""
    for button in buttons:
        custom_id = custom_id_for(button)
        if not 1 <= len(custom_id) <= CUSTOM_ID_MAX or custom_id in seen:
            log.warning("dropping button %r: custom_id not sendable", button.label)
            continue
        if button.command != last_command or in_row == BUTTONS_PER_ROW:
            row, in_row, last_command = row + 1, 0, button.command
        if row >= MAX_ROWS:
            log.warning("dropping button %r: no room left in the message", button.label)
            break
        seen.add(custom_id)
        in_row += 1
        label = hard_cut(clean_text(button.label), BUTTON_LABEL_MAX) or "…"
        rendered.append(RenderedButton(label, custom_id, row, primary=button.command != "page"))
    return tuple(rendered)


def _links_line(links: tuple[Link, ...]) -> str:
    return " · ".join(
        f"[{inert(link.label)}]({link.url})" for link in links if _SAFE_URL_RE.match(link.url)
    )


def render_card(card: PaperCard) -> discord.Embed:
    """One paper as an embed: linked title, authors · date · upvotes, summary, links."""
    rank = f"{card.rank}. " if card.rank is not None else ""
    meta = f"{card.authors} · {card.date}" + (f" · ▲ {card.upvotes}" if card.upvotes else "")
    head = inert_fit(meta, META_CHARS)
    links = _links_line(card.links)
    # Two blank lines separate the three blocks; the summary gets what is left.
    room = EMBED_DESCRIPTION_MAX - len(head) - len(links) - 4
    description = "\n\n".join(part for part in (head, inert_fit(card.summary, room), links) if part)
    url = card.url if card.url and _SAFE_URL_RE.match(card.url) else None
    return discord.Embed(
        title=inert_fit(rank + card.title, EMBED_TITLE_MAX),
        url=url,
        description=description,
        colour=EMBED_COLOUR,
    )


def _content(reply: Reply, footer_in_content: bool) -> str | None:
    title = f"**{inert_fit(reply.title, EMBED_TITLE_MAX)}**" if reply.title else ""
    footer = (
        f"-# {inert_fit(reply.footer, FOOTER_CHARS)}" if footer_in_content and reply.footer else ""
    )
    # The text gets whatever room the heading and footer leave (two newlines).
    room = CONTENT_MAX - len(title) - len(footer) - 2
    lines = [inert(clean_text(line)) for line in reply.text.splitlines()]
    text = hard_cut("\n".join(line for line in lines if line), room) if room > 0 else ""
    return "\n".join(part for part in (title, text, footer) if part) or None


def render_reply(reply: Reply) -> RenderedMessage:
    """The whole reply as one message; the heading and text go in the content.

    Without cards the footer joins the content as small print; with cards it
    is the last embed's footer (plain text there: footers render no Markdown).
    """
    embeds = [render_card(card) for card in reply.cards]
    if embeds and reply.footer:
        embeds[-1].set_footer(text=hard_cut(clean_text(reply.footer), FOOTER_CHARS))
    content = _content(reply, footer_in_content=not embeds)
    if content is None and not embeds:
        content = EMPTY_CONTENT
    return RenderedMessage(content, tuple(embeds), render_buttons(reply.buttons))


def measure(reply: Reply) -> int:
    """Embed characters of the rendered reply, as Discord counts them per message."""
    return render_reply(reply).embed_chars
