"""Pure parts of the Discord adapter: rendering, limits, escaping, option parsing."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import discord
import pytest

from adapters.discord import parse, render
from adapters.discord.adapter import nonce_for
from adapters.discord.errors import delivery_error
from bot.catalogue import command_spec
from bot.models import Button, Link, PaperCard, Reply
from bot.ports.chat import ChannelGone, RateLimited, TemporaryFailure
from bot.splitting import split_reply

HOSTILE = "@everyone **bold** <@&123> __under__ `code` > quote @here <#42> <t:1:R>"


def card(summary: str = "An abstract.", title: str = "A paper", **extra: object) -> PaperCard:
    fields: dict[str, object] = {
        "title": title,
        "url": "https://huggingface.co/papers/2401.00001",
        "authors": "Ada Lovelace",
        "date": "2026-03-09",
        "upvotes": 42,
        "summary": summary,
        "links": (Link("arXiv", "https://arxiv.org/abs/2401.00001"),),
        "rank": 1,
    }
    fields.update(extra)
    return PaperCard(**fields)  # type: ignore[arg-type]


def embed_text(embed: discord.Embed) -> str:
    return f"{embed.title}\n{embed.description}\n{embed.footer.text or ''}"


def test_inert_text_neither_formats_nor_mentions() -> None:
    out = render.inert(HOSTILE)
    assert "@everyone" not in out and "@here" not in out
    assert "<@&123>" not in out and "<#42>" not in out and "<t:1:R>" not in out
    assert "**bold**" not in out and "\\*\\*bold\\*\\*" in out
    assert "`code`" not in out
    # What a reader sees once Discord drops the escapes and zero-width spaces.
    assert out.replace("\\", "").replace(render.ZWSP, "") == HOSTILE


def test_card_obeys_embed_limits_with_hostile_and_huge_text() -> None:
    huge = card(summary=HOSTILE * 200, title=HOSTILE * 10, authors="Mallory " * 400)
    embed = render.render_card(huge)
    assert len(embed.title or "") <= render.EMBED_TITLE_MAX
    assert len(embed.description or "") <= render.EMBED_DESCRIPTION_MAX
    assert len(embed) <= render.CARD_CHARS
    assert "@everyone" not in embed_text(embed)
    assert embed.url == "https://huggingface.co/papers/2401.00001"
    assert "[arXiv](https://arxiv.org/abs/2401.00001)" in (embed.description or "")


def test_unsafe_urls_are_not_linked() -> None:
    sneaky = "https://x.test/a) [click](https://evil.test"
    embed = render.render_card(card(url="javascript:alert(1)", links=(Link("GitHub", sneaky),)))
    assert embed.url is None
    assert "evil" not in (embed.description or "")


def test_reply_layout_content_embeds_footer() -> None:
    reply = Reply(title="Results for “@everyone”", text="line one\nline two", footer="page 1")
    text_only = render.render_reply(reply)
    assert text_only.embeds == ()
    assert text_only.content == "**Results for “@\u200beveryone”**\nline one\nline two\n-# page 1"

    with_cards = render.render_reply(Reply(title="Top", cards=(card(), card()), footer="ranked"))
    assert with_cards.content == "**Top**"
    assert [e.footer.text for e in with_cards.embeds] == [None, "ranked"]
    assert render.render_reply(Reply()).content == render.EMPTY_CONTENT


def test_content_is_trimmed_to_discord_limit() -> None:
    message = render.render_reply(Reply(title="T", text="word " * 1000, footer="f"))
    assert message.content is not None and len(message.content) <= render.CONTENT_MAX
    assert message.content.endswith("-# f")


def test_buttons_rows_and_custom_ids() -> None:
    buttons = (
        Button("◀ Prev", "page", "abcd1234 1"),
        Button("Next ▶", "page", "abcd1234 3"),
        *(Button(str(n), "paper", f"2401.{n:05d}") for n in range(1, 8)),
        Button("bad", "paper", "x" * 120),
        Button("dupe", "paper", "2401.00001"),
    )
    rendered = render.render_buttons(buttons)
    assert [(b.custom_id, b.row) for b in rendered[:3]] == [
        ("page abcd1234 1", 0),
        ("page abcd1234 3", 0),
        ("paper 2401.00001", 1),
    ]
    assert [b.row for b in rendered[2:]] == [1, 1, 1, 1, 1, 2, 2]
    assert all(len(b.custom_id) <= render.CUSTOM_ID_MAX for b in rendered)
    assert len({b.custom_id for b in rendered}) == len(rendered) == 9
    view = render.RenderedMessage("x", (), rendered).view()
    assert view is not None and not view.is_dispatchable()  # never held in discord.py's store
    assert len(view.to_components()) == 3


def test_split_keeps_every_message_within_limits() -> None:
    cards = tuple(card(summary="abstract " * 400, rank=n) for n in range(1, 24))
    reply = Reply(title="Digest", cards=cards, footer="ranked by upvotes")
    parts = split_reply(reply, render.LIMITS, render.measure)
    messages = [render.render_reply(part) for part in parts]
    assert len(messages) > 3
    for message in messages:
        assert len(message.embeds) <= render.MAX_EMBEDS
        assert message.embed_chars <= render.MESSAGE_EMBED_CHARS
    ranks = [e.title.split(".")[0] for m in messages for e in m.embeds if e.title]
    assert ranks == [str(n) for n in range(1, 24)]
    assert messages[-1].embeds[-1].footer.text == "ranked by upvotes"


def test_measure_counts_embed_characters() -> None:
    reply = Reply(title="not counted", cards=(card(),), footer="ranked")
    embed = render.render_reply(reply).embeds[0]
    expected = len(embed.title or "") + len(embed.description or "") + len("ranked")
    assert render.measure(reply) == expected


def args_of(name: str, **values: str | None) -> str:
    """The argument text the slash command ``name`` hands the router for ``values``."""
    spec = command_spec(name)
    assert spec is not None
    return spec.args_from(values)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (args_of("today", date=None), ""),
        (args_of("today", date=" 2026-03-09 "), "2026-03-09"),
        (args_of("search", query="diffusion -video", sort=None), "diffusion -video"),
        (args_of("search", query="diffusion", sort="upvotes"), "diffusion sort:upvotes"),
        (
            args_of("subscribe", time="08:30", timezone="Europe/Berlin"),
            "time:08:30 timezone:Europe/Berlin",
        ),
        (args_of("subscribe", time=None, timezone=" Asia/Tokyo "), "timezone:Asia/Tokyo"),
        (args_of("subscribe", time=" ", timezone=None), ""),
        (args_of("settings", key=None, value=None), ""),
        (args_of("settings", key="top", value="3"), "top 3"),
    ],
)
def test_option_text_for_the_router(built: str, expected: str) -> None:
    assert built == expected


def test_channels_and_buttons_parse() -> None:
    assert parse.channel_ref(123) == "discord:123"
    assert parse.channel_id_of("discord:123") == 123
    for bad in ("telegram:123", "discord:", "discord:12a"):
        with pytest.raises(ValueError):
            parse.channel_id_of(bad)
    assert parse.button_command("page abc123 2") == ("page", "abc123 2")
    assert parse.button_command("paper 2401.00001") == ("paper", "2401.00001")
    assert parse.button_command("subscribe 09:00") is None
    assert parse.is_admin(discord.Permissions(manage_channels=True))
    assert parse.is_admin(discord.Permissions(administrator=True))
    assert not parse.is_admin(discord.Permissions(send_messages=True))


def test_timezone_choices() -> None:
    assert parse.timezone_choices("berl") == ["Europe/Berlin"]
    assert parse.timezone_choices("new york") == ["America/New_York"]
    americas = parse.timezone_choices("america")
    assert len(americas) == parse.MAX_CHOICES
    assert parse.timezone_choices("")[0] == "UTC"
    for zone in americas + parse.timezone_choices(""):
        ZoneInfo(zone)
    assert parse.timezone_choices("zzzz-nowhere") == []


def test_nonce_is_stable_short_and_distinct() -> None:
    assert nonce_for("paperbot-1-0") == nonce_for("paperbot-1-0")
    assert nonce_for("paperbot-1-0") != nonce_for("paperbot-1-1")
    assert len(nonce_for("x" * 500)) == 25


def test_client_side_errors_map_to_delivery_errors() -> None:
    limited = delivery_error(discord.RateLimited(42.0))
    assert isinstance(limited, RateLimited) and limited.retry_after == 42.0
    assert isinstance(delivery_error(TimeoutError()), TemporaryFailure)
    assert isinstance(delivery_error(ConnectionResetError()), TemporaryFailure)
    assert not isinstance(delivery_error(TimeoutError()), ChannelGone)
