"""The pure parts of the Telegram adapter: parsing updates, rendering HTML, mapping errors.

Rendering is checked with the fake's own HTML validator (the one that guards
every over-the-wire test) and with generated text, so no input can produce a
message Telegram would reject.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.errors import delivery_error
from adapters.telegram.parse import (
    CommandText,
    Target,
    admin_without_lookup,
    parse_callback_data,
    parse_channel,
    parse_command_text,
    sender_of,
    should_answer,
    target_of,
)
from adapters.telegram.render import (
    MAX_CARD_CHARS,
    MAX_MESSAGE_CHARS,
    measure,
    render_card,
    render_keyboard,
    render_text,
)
from bot.catalogue import needs_admin
from bot.models import Button, Link, PaperCard, Reply
from bot.ports.chat import ChannelGone, ChannelMoved, RateLimited, TemporaryFailure
from bot.splitting import split_reply
from tests.fakes.telegram import validate_html

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

BOT = "paperbot_test_bot"


def card(**fields: Any) -> PaperCard:
    """A paper card with plausible defaults."""
    values: dict[str, Any] = {
        "title": "A paper",
        "url": "https://huggingface.co/papers/2401.00001",
        "authors": "Ada Lovelace",
        "date": "2026-03-09",
        "upvotes": 3,
        "summary": "An abstract.",
        "links": (Link("arXiv", "https://arxiv.org/abs/2401.00001"),),
        "rank": 1,
    }
    values.update(fields)
    return PaperCard(**values)


def visible(markup: str) -> str:
    """What Telegram shows for ``markup``; fails on anything it would reject."""
    error, shown = validate_html(markup)
    assert error is None, f"{error}: {markup[:300]!r}"
    return shown


def message(chat: dict[str, Any], **fields: Any) -> Message:
    """A PTB Message from Bot API JSON."""
    data = {"message_id": 1, "date": 0, "chat": chat, "text": "/x", **fields}
    parsed = Message.de_json(data, None)
    assert parsed is not None
    return parsed


PRIVATE = {"id": 42, "type": "private", "first_name": "Ada"}
GROUP = {"id": -4001, "type": "group", "title": "Readers"}
FORUM = {"id": -1001, "type": "supergroup", "title": "Forum", "is_forum": True}
CHANNEL = {"id": -1002, "type": "channel", "title": "News"}
PERSON = {"id": 42, "is_bot": False, "first_name": "Ada", "last_name": "L"}


# --------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", CommandText("help", "", addressed=False)),
        ("/Search  llm  agents ", CommandText("search", "llm  agents", addressed=False)),
        (f"/help@{BOT.upper()} now", CommandText("help", "now", addressed=True)),
        ("/search a\nb", CommandText("search", "a\nb", addressed=False)),
        ("/help@other_bot", None),
        ("hello /help", None),
        ("/", None),
        ("/" + "x" * 33, None),
    ],
)
def test_parse_command_text(text: str, expected: CommandText | None) -> None:
    """Names fold case, ``@`` must name this bot, arguments keep their inner text."""
    assert parse_command_text(text, BOT) == expected


@pytest.mark.parametrize(
    ("name", "addressed", "chat_type", "answer"),
    [
        ("frob", False, "private", True),
        ("frob", False, "group", False),
        ("frob", True, "supergroup", True),
        ("help", False, "group", True),
        ("help", False, "channel", True),
    ],
)
def test_should_answer(name: str, addressed: bool, chat_type: str, answer: bool) -> None:
    """Bare unknown commands in groups belong to other bots."""
    assert should_answer(CommandText(name, "", addressed), chat_type) is answer


@pytest.mark.parametrize(
    ("channel", "target"),
    [
        ("telegram:42", Target(42)),
        ("telegram:-1001234567890", Target(-1001234567890)),
        ("telegram:-1001234567890/99", Target(-1001234567890, 99)),
    ],
)
def test_channels_round_trip(channel: str, target: Target) -> None:
    """Channel strings parse to targets and back."""
    assert parse_channel(channel) == target
    assert target.channel == channel


@pytest.mark.parametrize(
    "channel", ["discord:1", "telegram:", "telegram:abc", "telegram:1/x", "telegram:1/2/3"]
)
def test_foreign_channels_are_rejected(channel: str) -> None:
    """Anything else is not a Telegram chat."""
    with pytest.raises(ValueError, match="not a Telegram channel"):
        parse_channel(channel)


def test_callback_data_and_admin_only_commands() -> None:
    """Button data splits into command and args; only changes need the admin lookup."""
    assert parse_callback_data("page AbC-12_x 3") == ("page", "AbC-12_x 3")
    assert parse_callback_data("paper 2305.14858") == ("paper", "2305.14858")
    assert parse_callback_data("help") == ("help", "")
    assert parse_callback_data("") is None and parse_callback_data(None) is None
    assert parse_callback_data("Page 1") is None
    assert needs_admin("subscribe", "") and needs_admin("unsubscribe", "")
    assert needs_admin("settings", "top 3") and not needs_admin("settings", "")
    assert not needs_admin("search", "x")


def test_targets_keep_forum_topics_only() -> None:
    """A topic message posts back into its topic; a reply thread in a plain group does not."""
    topic = message(FORUM, message_thread_id=7, is_topic_message=True, **{"from": PERSON})
    assert target_of(topic) == Target(-1001, 7)
    plain_reply = message({**FORUM, "is_forum": False}, message_thread_id=7, **{"from": PERSON})
    assert target_of(plain_reply) == Target(-1001)


def test_who_is_admin_without_asking() -> None:
    """Private owner, channel post and anonymous admin are admins; members need a lookup."""
    assert admin_without_lookup(message(PRIVATE, **{"from": PERSON})) is True
    assert admin_without_lookup(message(CHANNEL, sender_chat=CHANNEL)) is True
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    assert admin_without_lookup(message(GROUP, sender_chat=GROUP, **{"from": anonymous})) is True
    linked = {"id": 136817688, "is_bot": True, "first_name": "Channel"}
    on_behalf = message(GROUP, sender_chat=CHANNEL, **{"from": linked})
    assert admin_without_lookup(on_behalf) is False
    assert admin_without_lookup(message(GROUP, **{"from": PERSON})) is None


def test_senders() -> None:
    """People are users; channel posts and anonymous admins are the chat they post as."""
    person = sender_of(message(GROUP, **{"from": PERSON}))
    assert person.user == "telegram:42"
    post = sender_of(message(CHANNEL, sender_chat=CHANNEL))
    assert post.user == "telegram:-1002"


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    "title", ["<script>alert(1)</script>", "R&D <b>unclosed", "@everyone", "a &amp; b", "</b>"]
)
def test_hostile_titles_render_as_their_literal_text(title: str) -> None:
    """Escaped everywhere: the visible text is exactly what the paper says."""
    markup = render_card(card(title=title, summary=f"{title} & more", authors=title))
    shown = visible(markup)
    assert shown.startswith(f"1. {title}\n{title} · 2026-03-09 · ▲ 3\n{title} & more")


def test_card_layout_and_links() -> None:
    """Rank and linked title; upvotes omitted at zero; odd URLs stay unlinked."""
    links = (
        Link("GitHub", "https://github.com/a/b?x=1&y=2"),
        Link("Project page", 'javascript:alert("x")'),
        Link("Quoted", 'https://x.org/"><b>'),
    )
    markup = render_card(card(upvotes=0, rank=None, links=links))
    assert markup.startswith('<b><a href="https://huggingface.co/papers/2401.00001">A paper</a>')
    assert '<a href="https://github.com/a/b?x=1&amp;y=2">GitHub</a>' in markup
    assert "javascript" not in markup and "x.org" not in markup
    assert visible(markup).split("\n")[1] == "Ada Lovelace · 2026-03-09"


def test_long_cards_are_trimmed_to_fit() -> None:
    """A 5,000-character abstract with a huge title and author list still fits one card."""
    huge = card(title="T" * 5000, authors="A " * 3000, summary="word " * 1000)
    shown = visible(render_card(huge))
    assert len(shown) <= MAX_CARD_CHARS
    assert shown.count("…") == 3
    reply = Reply(title="H" * 5000, text="x " * 5000, cards=(huge,), footer="F" * 5000)
    assert len(visible(render_text(reply))) == measure(reply) <= MAX_MESSAGE_CHARS


def test_errors_are_plain_one_liners() -> None:
    """Refusals carry no markup at all."""
    reply = Reply(text="Only admins of this chat can subscribe.", is_error=True, title="x")
    assert render_text(reply) == "Only admins of this chat can subscribe."
    assert render_text(Reply()) == "…"


def test_keyboard_rows_and_oversized_data(caplog: pytest.LogCaptureFixture) -> None:
    """Prev/Next share a row, details another; data over 64 bytes is dropped and logged."""
    keyboard = render_keyboard(
        [
            Button("◀ Prev", "page", "abcdefgh 1"),
            Button("Next ▶", "page", "abcdefgh 3"),
            Button("1", "paper", "2305.14858"),
            Button("2", "paper", "é" * 40),
            Button("3", "paper", "t:0123456789abcdef"),
        ]
    )
    assert keyboard is not None
    rows = [[(b.text, b.callback_data) for b in row] for row in keyboard.inline_keyboard]
    assert rows == [
        [("◀ Prev", "page abcdefgh 1"), ("Next ▶", "page abcdefgh 3")],
        [("1", "paper 2305.14858"), ("3", "paper t:0123456789abcdef")],
    ]
    assert "dropped button" in caplog.text
    assert render_keyboard([]) is None


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400)
_CARDS = st.builds(
    card,
    title=_TEXT,
    authors=_TEXT,
    summary=st.one_of(_TEXT, st.text(min_size=3000, max_size=6000)),
    url=st.one_of(st.none(), _TEXT, st.just("https://example.org/?a=<b>&c=d")),
    upvotes=st.integers(0, 10_000),
)


@settings(max_examples=150, deadline=None)
@given(
    title=st.one_of(st.none(), _TEXT),
    text=_TEXT,
    footer=st.one_of(st.none(), _TEXT),
    cards=st.lists(_CARDS, max_size=12),
)
def test_any_reply_splits_into_valid_messages(
    title: str | None, text: str, footer: str | None, cards: list[PaperCard]
) -> None:
    """Whatever the text, every part is valid HTML, 1–4,096 visible characters,
    and measure() agrees with what Telegram would count."""
    reply = Reply(title=title, text=text, footer=footer, cards=tuple(cards))
    for part in split_reply(reply, TelegramAdapter.limits, measure):
        shown = visible(render_text(part))
        assert shown.strip() and len(shown) <= MAX_MESSAGE_CHARS
        assert len(shown) == measure(part)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error", "expected", "reason"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), ChannelGone, "blocked"),
        (Forbidden("Forbidden: bot was kicked from the supergroup chat"), ChannelGone, "kicked"),
        (
            Forbidden("Forbidden: bot is not a member of the channel chat"),
            ChannelGone,
            "not_member",
        ),
        (Forbidden("Forbidden: user is deactivated"), ChannelGone, "deactivated"),
        (Forbidden("Forbidden: bot can't initiate conversation"), ChannelGone, "forbidden"),
        (BadRequest("Chat not found"), ChannelGone, "chat_not_found"),
        (BadRequest("Bad Request: message thread not found"), ChannelGone, "topic_deleted"),
        (BadRequest("Bad Request: TOPIC_CLOSED"), ChannelGone, "topic_closed"),
        (
            BadRequest("Bad Request: not enough rights to send text messages to the chat"),
            ChannelGone,
            "no_permission",
        ),
        (TimedOut(), TemporaryFailure, None),
        (NetworkError("Bad Gateway"), TemporaryFailure, None),
        (NetworkError("Internal Server Error"), TemporaryFailure, None),
    ],
)
def test_error_mapping(error: Exception, expected: type[Exception], reason: str | None) -> None:
    """Each Bot API failure becomes the port error the core acts on."""
    mapped = delivery_error(error)  # type: ignore[arg-type]
    assert type(mapped) is expected
    if reason is not None:
        assert isinstance(mapped, ChannelGone) and mapped.reason == reason


def test_rate_limits_moves_and_our_own_bad_requests(caplog: pytest.LogCaptureFixture) -> None:
    """429 keeps its wait, migration its new id; a rejected message of ours is logged loudly."""
    limited = delivery_error(RetryAfter(12))
    assert isinstance(limited, RateLimited) and limited.retry_after == 12.0
    moved = delivery_error(ChatMigrated(-1009))
    assert isinstance(moved, ChannelMoved) and moved.new_channel == "telegram:-1009"
    with caplog.at_level(logging.ERROR, logger="paperbot.telegram"):
        ours = delivery_error(BadRequest("Can't parse entities: unsupported start tag"))
    assert isinstance(ours, TemporaryFailure) and "parse entities" in str(ours)
    assert "rejected a message we built" in caplog.text
    token = delivery_error(InvalidToken("Unauthorized"))
    assert isinstance(token, TemporaryFailure) and "PAPERBOT_TELEGRAM_TOKEN" in str(token)
