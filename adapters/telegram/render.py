"""Neutral replies as Telegram HTML messages with inline keyboards (pure, no I/O).

Every piece of text is escaped here and only tags Telegram documents are
produced (``b``, ``i``, ``a``), so hostile paper text can never break
parsing. Sizes are counted as Telegram counts them: visible characters after
entity parsing.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.cards import clean_text, shorten
from bot.models import Button, PaperCard, Reply

log = logging.getLogger("paperbot.telegram")

MAX_MESSAGE_CHARS = 4096
# A card plus the longest heading and footer still fits one message, so the
# core's splitter never has to produce a part Telegram would reject.
MAX_CARD_CHARS = 3500
MAX_CARDS = 10
MAX_CALLBACK_BYTES = 64
HEADING_CHARS = 200
FOOTER_CHARS = 200
CARD_TITLE_CHARS = 300
CARD_AUTHORS_CHARS = 300
MAX_URL_CHARS = 2048
BUTTONS_PER_ROW = 8
BLOCK_SEPARATOR = "\n\n"
EMPTY_TEXT = "…"
UNTITLED = "(untitled)"

_TAG_RE = re.compile(r"<[^>]*>")
_SAFE_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def plain(text: str) -> str:
    """One line of outside text, cleaned of control characters and HTML-escaped."""
    return html.escape(clean_text(text), quote=False)


def visible_length(markup: str) -> int:
    """Characters Telegram counts for ``markup``: tags dropped, entities decoded.

    Exact for what this module renders, because every ``<`` in escaped text
    became ``&lt;``.
    """
    return len(html.unescape(_TAG_RE.sub("", markup)))


def link(label: str, url: str | None) -> str:
    """``label`` linked to ``url``, or plain ``label`` when the URL is unusable.

    Telegram rejects or mangles odd schemes and huge URLs; those stay unlinked.
    """
    text = plain(label)
    if url is None or len(url) > MAX_URL_CHARS or not _SAFE_URL_RE.fullmatch(url):
        return text
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>'


# A fan-out renders the same few cards for thousands of chats, and the
# splitter re-measures each card once per candidate part: cache them.
@functools.lru_cache(maxsize=4096)
def render_card(card: PaperCard) -> str:
    """Rank and linked bold title, authors · date · ▲ upvotes, summary, links.

    The summary is trimmed so the whole card stays within ``MAX_CARD_CHARS``
    visible characters (5,000-character abstracts included).
    """
    rank = f"{card.rank}. " if card.rank is not None else ""
    title = shorten(clean_text(card.title), CARD_TITLE_CHARS) or UNTITLED
    head = f"{rank}<b>{link(title, card.url)}</b>"
    meta_parts = [shorten(clean_text(card.authors), CARD_AUTHORS_CHARS), card.date]
    if card.upvotes:
        meta_parts.append(f"▲ {card.upvotes}")
    meta = plain(" · ".join(meta_parts))
    links = " · ".join(link(item.label, item.url) for item in card.links)
    fixed = [part for part in (head, meta, links) if part]
    room = MAX_CARD_CHARS - sum(map(visible_length, fixed)) - len(fixed)  # a newline each
    return "\n".join(part for part in (head, meta, fit(card.summary, room), links) if part)


def fit(text: str, room: int) -> str:
    """Multi-line outside text, cleaned line by line, cut to ``room`` visible
    characters (nothing at all when there is no room) and HTML-escaped."""
    if room <= 0:
        return ""
    lines = (clean_text(line) for line in text.splitlines())
    return html.escape(shorten("\n".join(line for line in lines if line), room), quote=False)


def _styled(tag: str, text: str | None, room: int) -> str:
    content = fit(text or "", room)
    # An empty <b></b> would leave a message of blanks, which Telegram rejects.
    return f"<{tag}>{content}</{tag}>" if content else ""


def render_text(reply: Reply) -> str:
    """The message text in HTML; always between 1 and 4,096 visible characters
    when the reply's cards fit (which :func:`bot.splitting.split_reply` ensures)."""
    if reply.is_error:  # refusals and input errors stay plain one-liners
        return fit(reply.text, MAX_MESSAGE_CHARS) or EMPTY_TEXT
    heading = _styled("b", reply.title, HEADING_CHARS)
    footer = _styled("i", reply.footer, FOOTER_CHARS)
    cards = [render_card(card) for card in reply.cards]
    fixed = [block for block in (heading, *cards, footer) if block]
    used = sum(map(visible_length, fixed)) + len(BLOCK_SEPARATOR) * len(fixed)
    text = fit(reply.text, MAX_MESSAGE_CHARS - used)
    blocks = [block for block in (heading, text, *cards, footer) if block]
    return BLOCK_SEPARATOR.join(blocks) or EMPTY_TEXT


def measure(reply: Reply) -> int:
    """Visible characters of ``reply`` once rendered (what the 4,096 limit counts)."""
    return visible_length(render_text(reply))


def callback_data(button: Button) -> str | None:
    """``"<command> <args>"``, or None when it would exceed Telegram's 64 bytes."""
    data = f"{button.command} {button.args}".strip()
    return data if len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES else None


def render_keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: one row per run of buttons sharing a command
    (Prev/Next on one row, the details buttons on the next)."""
    rows: list[list[InlineKeyboardButton]] = []
    previous: str | None = None
    for button in buttons:
        data = callback_data(button)
        if data is None:  # invalid data would make Telegram reject the whole message
            log.error("dropped button %r: callback data over %d bytes", button, MAX_CALLBACK_BYTES)
            continue
        key = InlineKeyboardButton(button.label or data, callback_data=data)
        if rows and button.command == previous and len(rows[-1]) < BUTTONS_PER_ROW:
            rows[-1].append(key)
        else:
            rows.append([key])
        previous = button.command
    return InlineKeyboardMarkup(rows) if rows else None


def render_reply(reply: Reply) -> tuple[str, InlineKeyboardMarkup | None]:
    """HTML text and keyboard for one message part."""
    return render_text(reply), render_keyboard(reply.buttons)
