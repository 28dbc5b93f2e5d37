"""The Discord adapter end to end: the real discord.py client against tests/fakes/discord.py.

Each test starts the adapter the way ``paperbot run`` does (a real SqliteStorage and
CommandRouter behind it) and talks to it only over the fake's REST API and gateway. The
fake validates every payload (embed limits, allowed_mentions, custom_id length) and the
three-second deadline; ``fake.violations`` must stay empty.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import discord
import pytest
from pydantic import SecretStr

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.render import CUSTOM_ID_MAX, ZWSP
from adapters.discord.settings import DiscordSettings
from bot.catalogue import CATALOGUE
from bot.commands import CommandRouter
from bot.delivery import DeliveryWorker
from bot.digest import digest_reply
from bot.models import Command, PaperCard, Post, Reply, Subscription
from bot.ports.chat import ChannelGone, CommandHandler, RateLimited, TemporaryFailure
from bot.ports.storage import Storage
from bot.sources.seeds import load_seed_papers
from bot.subscription_options import SETTING_KEYS
from storage.sqlite import SqliteStorage
from tests.fakes.discord import EPHEMERAL, LOADING, FakeDiscord, InteractionRecord
from tests.support import FakeClock, eventually, make_paper

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAx.fake.discord-token-for-tests"
GUILD = 900_000_000_000_000_001
TEXT = 900_000_000_000_000_101
NEWS = 900_000_000_000_000_102
THREAD = 900_000_000_000_000_103
ADMIN = 900_000_000_000_000_555
READER = 900_000_000_000_000_556
OWNER_OF_ALL = 900_000_000_000_000_557
MODS = 900_000_000_000_000_700
BOSSES = 900_000_000_000_000_701
MANAGE_CHANNELS = 1 << 4
ADMINISTRATOR = 1 << 3
DAY = date(2026, 3, 9)
HOSTILE_TITLE = "@everyone **Bold claim** <@&123> __under__ `code` # Heading"
HOSTILE_ABSTRACT = ("Ping @here, <@&123456789012345678>, **markdown** ~~gone~~. " * 90)[:5000]


def hostile_papers() -> list[Any]:
    """Papers whose text tries to ping, format and overflow."""
    return [
        make_paper(
            "2603.00001",
            HOSTILE_TITLE,
            day=DAY,
            upvotes=99,
            summary=HOSTILE_ABSTRACT,
            authors=("<@123456789012345678>", "Eve *Italic*", "@everyone"),
        ),
        *(
            make_paper(f"2603.{n:05d}", f"Ordinary paper {n}", day=DAY, upvotes=n)
            for n in range(2, 13)
        ),
    ]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """One guild: a text channel, an announcement channel and a thread; an admin with
    Manage Channels, a reader without, and a member whose role has Administrator."""
    async with FakeDiscord(token=TOKEN) as fake:
        fake.add_guild(
            GUILD,
            "papers",
            channels=[
                {"id": TEXT, "name": "general"},
                {"id": NEWS, "name": "news", "type": 5},
                {"id": THREAD, "name": "paper-thread", "type": 11, "parent_id": TEXT},
            ],
            roles=[
                {"id": MODS, "name": "mods", "permissions": MANAGE_CHANNELS},
                {"id": BOSSES, "name": "bosses", "permissions": ADMINISTRATOR},
            ],
            members=[
                {"id": ADMIN, "name": "admin", "roles": [MODS]},
                {"id": READER, "name": "reader"},
                {"id": OWNER_OF_ALL, "name": "boss", "roles": [BOSSES]},
            ],
        )
        with fake.patch_discord():
            yield fake
        fake.assert_no_violations()
        assert fake.unanswered_interactions() == []


@pytest.fixture
async def store(store: Storage) -> Storage:
    """The seeds plus papers written to break Discord's markdown."""
    await store.upsert_papers([*load_seed_papers(), *hostile_papers()])
    return store


def settings_for(fake: FakeDiscord, **overrides: Any) -> DiscordSettings:
    """Settings as ``paperbot run`` would read them from the environment."""
    values: dict[str, Any] = {
        "token": SecretStr(TOKEN),
        "api_url": fake.api_url,
        "gateway_url": fake.gateway_url,
        **overrides,
    }
    return DiscordSettings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running(
    fake: FakeDiscord, handler: CommandHandler, settings: dict[str, Any] | None = None, **knobs: Any
) -> AsyncIterator[DiscordAdapter]:
    """A started adapter (short guild_ready_timeout), stopped afterwards."""
    adapter = DiscordAdapter(
        settings_for(fake, **(settings or {})), handler, guild_ready_timeout=0.2, **knobs
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


@pytest.fixture
async def bot(fake: FakeDiscord, router: CommandRouter) -> AsyncIterator[DiscordAdapter]:
    async with running(fake, router) as adapter:
        yield adapter


async def ask(
    fake: FakeDiscord,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    user: int = READER,
    channel: int = TEXT,
    guild: int = GUILD,
) -> InteractionRecord:
    """Run a slash command as ``user`` and return it once answered on time."""
    rec = await fake.push_interaction(guild, channel, user, name, options)
    await rec.wait_response(3)
    assert rec.response_delay is not None and rec.response_delay < 3.0 and not rec.late
    return rec


async def click(fake: FakeDiscord, message: dict[str, Any], custom_id: str) -> InteractionRecord:
    rec = await fake.push_component(GUILD, message["channel_id"], READER, message["id"], custom_id)
    await rec.wait_response(3)
    assert rec.response_delay is not None and rec.response_delay < 3.0
    return rec


def text_of(message: dict[str, Any]) -> str:
    """Everything a reader sees in a stored message: content and embed texts."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        footer = (embed.get("footer") or {}).get("text", "")
        parts += [embed.get("title", ""), embed.get("description", ""), footer]
    return "\n".join(parts)


def posts(fake: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    """Messages the adapter posted itself (digests), not interaction answers."""
    return [m for m in fake.messages(channel) if m["source"] == "channel"]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


def embed_chars(message: dict[str, Any]) -> int:
    total = 0
    for embed in message.get("embeds") or []:
        footer = (embed.get("footer") or {}).get("text", "")
        total += len(embed.get("title", "")) + len(embed.get("description", "")) + len(footer)
    return total


# --------------------------------------------------------------------------- commands


async def test_commands_sync_globally_with_permissions(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    commands = {c["name"]: c for c in fake.command_sets[None]}
    assert set(commands) == {
        "today",
        "search",
        "paper",
        "similar",
        "subscribe",
        "unsubscribe",
        "settings",
        "alert",
        "preview",
        "help",
    }
    admin_only = {n for n, c in commands.items() if c["default_member_permissions"]}
    assert admin_only == {"subscribe", "unsubscribe"}  # /settings: anyone views, admins change
    assert {int(commands[n]["default_member_permissions"]) for n in admin_only} == {MANAGE_CHANNELS}
    assert all(c["contexts"] == [0] for c in commands.values())  # guilds only
    options = {o["name"]: o for o in commands["subscribe"]["options"]}
    assert options["timezone"]["autocomplete"] is True
    assert options["source"]["autocomplete"] is True
    keys = [choice["value"] for choice in commands["settings"]["options"][0]["choices"]]
    assert keys == list(SETTING_KEYS)
    sorts = [choice["value"] for choice in commands["search"]["options"][1]["choices"]]
    assert sorts == ["relevance", "recent", "upvotes"]
    # Only the guilds intent: no message content, no members.
    assert fake.identifies[0]["intents"] == 1


async def test_guild_id_syncs_to_that_guild_only(fake: FakeDiscord, router: CommandRouter) -> None:
    async with running(fake, router, {"guild_id": GUILD}):
        assert None not in fake.command_sets
        assert len(fake.command_sets[GUILD]) == len(CATALOGUE)
        rec = await ask(fake, "help")
        assert "/search" in rec.response_data["content"]  # type: ignore[index]


async def test_start_fails_loudly_and_cleans_up(fake: FakeDiscord, router: CommandRouter) -> None:
    wrong = DiscordAdapter(
        settings_for(fake, token=SecretStr("not-the-token")),
        router,
        guild_ready_timeout=0.2,
    )
    with pytest.raises(discord.LoginFailure):
        await wrong.start()
    not_a_member = DiscordAdapter(
        settings_for(fake, guild_id=GUILD + 9), router, guild_ready_timeout=0.2
    )
    with pytest.raises(discord.Forbidden):
        await not_a_member.start()
    await not_a_member.stop()  # stopping again is harmless
    assert fake.identifies and fake.command_sets == {}


async def test_every_command_is_answered_on_time(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    helped = await ask(fake, "help")
    assert "/subscribe" in text_of(helped.original or {}) and not helped.ephemeral

    today = await ask(fake, "today")
    assert today.response_type == 4 and not today.ephemeral
    assert "Top papers of Mon 09 Mar 2026" in text_of(today.original or {})
    assert len((today.original or {})["embeds"]) == 5

    dated = await ask(fake, "today", {"date": "2026-03-09"})
    assert "Ordinary paper 12" in text_of(dated.original or {})
    bad_date = await ask(fake, "today", {"date": "yesterday"})
    assert bad_date.ephemeral and "not a date" in text_of(bad_date.original or {})

    found = await ask(fake, "search", {"query": "transformer", "sort": "upvotes"})
    assert "sorted by upvotes" in text_of(found.original or {})

    paper = await ask(fake, "paper", {"id": "https://arxiv.org/abs/2305.14858v2"})
    [embed] = (paper.original or {})["embeds"]
    assert embed["title"].startswith("Pre-RMSNorm") and embed["url"].endswith("2305.14858")

    subscribed = await ask(
        fake, "subscribe", {"time": "08:30", "timezone": "Europe/Berlin"}, user=ADMIN
    )
    assert "Subscribed: daily digest at 08:30 Europe/Berlin" in text_of(subscribed.original or {})
    sub = await store.get_subscription(f"discord:{TEXT}")
    assert (
        sub is not None and sub.timezone == "Europe/Berlin" and sub.created_by == f"discord:{ADMIN}"
    )

    # A time given as the timezone option is refused as a timezone.
    wrong = await ask(fake, "subscribe", {"time": "06:15", "timezone": "06:15"}, user=ADMIN)
    assert "Unknown timezone '06:15'" in text_of(wrong.original or {})
    kept = await store.get_subscription(f"discord:{TEXT}")
    assert kept is not None and kept.timezone == "Europe/Berlin"
    # Anyone may preview the channel's next digest.
    preview = await ask(fake, "preview")
    assert "Preview" in text_of(preview.original or {})

    shown = await ask(fake, "settings", user=ADMIN)
    assert "top: 5" in text_of(shown.original or {})
    changed = await ask(fake, "settings", {"key": "top", "value": "3"}, user=ADMIN)
    assert "top: 3" in text_of(changed.original or {})
    invalid = await ask(fake, "settings", {"key": "top", "value": "lots"}, user=ADMIN)
    assert invalid.ephemeral

    gone = await ask(fake, "unsubscribe", user=ADMIN)
    assert "Unsubscribed" in text_of(gone.original or {})
    assert await store.get_subscription(f"discord:{TEXT}") is None


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("subscribe", {"time": "07:00"}),
        ("unsubscribe", None),
        ("settings", {"key": "top", "value": "1"}),
    ],
)
async def test_members_without_manage_channels_are_refused(
    fake: FakeDiscord,
    bot: DiscordAdapter,
    store: SqliteStorage,
    command: str,
    options: dict[str, Any] | None,
) -> None:
    await store.save_subscription(Subscription(channel=f"discord:{NEWS}", top_n=4))
    rec = await ask(fake, command, options, user=READER, channel=NEWS)
    assert rec.ephemeral and "Manage Channels" in (rec.response_data or {})["content"]
    assert fake.messages(NEWS) == []  # nothing public
    sub = await store.get_subscription(f"discord:{NEWS}")
    assert sub is not None and sub.top_n == 4 and sub.post_time.hour == 9


async def test_members_may_view_the_settings(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    """As in the catalogue, /help and on Telegram: anyone views, Manage Channels changes."""
    await store.save_subscription(Subscription(channel=f"discord:{NEWS}", top_n=4))
    rec = await ask(fake, "settings", None, user=READER, channel=NEWS)
    assert "top: 4" in text_of(rec.original or {})
    assert "Manage Channels" not in text_of(rec.original or {})


async def test_refusal_stores_nothing_and_administrators_pass(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    await ask(fake, "subscribe", user=READER)
    assert await store.get_subscription(f"discord:{TEXT}") is None
    rec = await ask(fake, "subscribe", user=OWNER_OF_ALL)
    assert not rec.ephemeral
    assert await store.get_subscription(f"discord:{TEXT}") is not None


async def test_timezone_autocomplete(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    async def complete(text: str) -> list[str]:
        rec = await fake.push_autocomplete(
            GUILD, TEXT, ADMIN, "subscribe", {"timezone": text}, focused="timezone"
        )
        await rec.wait_response(3)
        assert rec.response_type == 8
        return [c["value"] for c in (rec.response_data or {})["choices"]]

    assert await complete("berl") == ["Europe/Berlin"]
    assert "America/New_York" in await complete("new_y")
    assert len(await complete("america")) == 25
    assert (await complete(""))[0] == "UTC"


async def test_source_autocomplete_offers_hf_and_arxiv_categories(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    async def complete(text: str) -> list[dict[str, str]]:
        rec = await fake.push_autocomplete(
            GUILD, TEXT, ADMIN, "subscribe", {"source": text}, focused="source"
        )
        await rec.wait_response(3)
        assert rec.response_type == 8
        return list((rec.response_data or {})["choices"])

    first = await complete("")
    assert first[0] == {"name": "hf — Hugging Face Daily Papers", "value": "hf"}
    assert len(first) == 25
    computation = await complete("cs.c")
    assert {"name": "arxiv:cs.CL — Computation and Language", "value": "arxiv:cs.CL"} in computation
    # The last code of a list is completed; the ones before it are kept.
    listed = await complete("cs.CL,machine learn")
    assert [c["value"] for c in listed] == ["arxiv:cs.CL,cs.LG", "arxiv:cs.CL,stat.ML"]
    assert await complete("zzzz") == []


async def test_subscribe_with_an_arxiv_source_and_the_refusal_of_an_unknown_one(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    rec = await ask(fake, "subscribe", {"time": "07:00", "source": "arxiv:cs.CL,cs.LG"}, user=ADMIN)
    assert not rec.ephemeral
    assert "from arxiv:cs.CL,cs.LG" in text_of(rec.original or {})
    sub = await store.get_subscription(f"discord:{TEXT}")
    assert sub is not None and sub.arxiv_categories == ("cs.CL", "cs.LG")

    refused = await ask(fake, "subscribe", {"source": "arxiv:cs.CL,cs.NOPE"}, user=ADMIN)
    assert refused.ephemeral
    assert "arXiv has no category cs.NOPE (did you mean" in text_of(refused.original or {})
    kept = await store.get_subscription(f"discord:{TEXT}")
    assert kept is not None and kept.arxiv_categories == ("cs.CL", "cs.LG")

    changed = await ask(fake, "settings", {"key": "source", "value": "arxiv:cs.CL"}, user=ADMIN)
    assert "source: arxiv:cs.CL" in text_of(changed.original or {})
    wrong = await ask(fake, "settings", {"key": "source", "value": "arxiv:cs.NOPE"}, user=ADMIN)
    assert wrong.ephemeral and "cs.NOPE" in text_of(wrong.original or {})
    crosslists = await ask(fake, "settings", {"key": "crosslists", "value": "no"}, user=ADMIN)
    assert "crosslists: no" in text_of(crosslists.original or {})
    stored = await store.get_subscription(f"discord:{TEXT}")
    assert stored is not None and stored.arxiv_categories == ("cs.CL",) and not stored.crosslists


async def test_subscriptions_in_thread_and_announcement_channel_post_there(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    for channel in (THREAD, NEWS):
        rec = await ask(fake, "subscribe", {"timezone": "Asia/Tokyo"}, user=ADMIN, channel=channel)
        assert not rec.ephemeral
        assert await store.get_subscription(f"discord:{channel}") is not None
    paper = await store.get_paper("2603.00002")
    assert paper is not None
    post = Post(digest_reply([paper], "2026-03-09"), key="paperbot-1-0")
    message_id = await bot.send(f"discord:{THREAD}", post)
    [stored] = posts(fake, THREAD)
    assert str(stored["id"]) == message_id
    assert "Trending papers — 2026-03-09" in stored["content"]
    assert posts(fake, TEXT) == []


# --------------------------------------------------------------------------- rendering


async def test_hostile_paper_text_pings_nobody_and_stays_in_limits(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    detail = await ask(fake, "paper", {"id": "2603.00001"})
    [embed] = (detail.original or {})["embeds"]
    seen = text_of(detail.original or {})
    for raw in ("@everyone", "@here", "<@&123>", "<@123456789012345678>", "**Bold claim**"):
        assert raw not in seen
    assert f"@{ZWSP}everyone" in embed["title"] and "\\*\\*Bold claim\\*\\*" in embed["title"]
    assert len(embed["description"]) <= 4096 and embed_chars(detail.original or {}) <= 6000
    assert detail.original is not None and detail.original["allowed_mentions"] == {"parse": []}

    query = await ask(fake, "search", {"query": "@everyone bold claim"})
    assert "@everyone" not in text_of(query.original or {})

    hostile = await store.get_paper("2603.00001")
    assert hostile is not None
    await bot.send(f"discord:{TEXT}", Post(digest_reply([hostile], "2026-03-09"), "k-1"))
    [digest] = posts(fake, TEXT)
    assert digest["allowed_mentions"] == {"parse": []} and "@everyone" not in text_of(digest)


async def test_long_reply_is_split_into_valid_messages(fake: FakeDiscord) -> None:
    cards = tuple(
        PaperCard(
            title=f"Paper {n}",
            url=f"https://huggingface.co/papers/2401.{n:05d}",
            authors="Ada Lovelace",
            date="2026-03-09",
            upvotes=n,
            # Twelve short cards, then long ones: both the 10-embed and 6,000-character
            # limits end a message.
            summary="A long abstract. " * (10 if n <= 12 else 90),
            rank=n,
        )
        for n in range(1, 26)
    )

    async def handler(command: Command) -> Reply:
        return Reply(title="Everything", cards=cards, footer="the end")

    async with running(fake, handler):
        rec = await ask(fake, "today")
        await eventually(lambda: sum(len(m["embeds"]) for m in fake.messages(TEXT)) == 25)
    messages = fake.messages(TEXT)
    assert messages[0]["source"] == "interaction"
    assert {m["source"] for m in messages[1:]} == {"followup"}
    for message in messages:
        assert len(message["embeds"]) <= 10 and embed_chars(message) <= 6000
    assert len(messages[0]["embeds"]) == 10
    assert max(embed_chars(m) for m in messages) > 5000
    titles = [e["title"] for m in messages for e in m["embeds"]]
    assert titles == [f"{n}. Paper {n}" for n in range(1, 26)]
    assert rec.original is not None and rec.original["content"] == "**Everything**"
    assert messages[-1]["embeds"][-1]["footer"]["text"] == "the end"


# --------------------------------------------------------------------------- buttons


async def test_search_paging_details_and_expiry(
    fake: FakeDiscord, bot: DiscordAdapter, clock: FakeClock
) -> None:
    rec = await ask(fake, "search", {"query": "model"})
    results = rec.original
    assert results is not None and "page 1" in text_of(results)
    ids = custom_ids(results)
    assert all(len(cid) <= CUSTOM_ID_MAX for cid in ids)
    [next_id] = [cid for cid in ids if cid.startswith("page ") and cid.endswith(" 2")]

    turned = await click(fake, results, next_id)
    assert turned.response_type == 7  # the result message is edited in place
    page2 = fake.message(results["id"])
    assert page2 is not None and "page 2" in text_of(page2)
    assert len(fake.messages(TEXT)) == 1
    [prev_id] = [cid for cid in custom_ids(page2) if cid.endswith(" 1")]
    await click(fake, page2, prev_id)
    assert "page 1" in text_of(fake.message(results["id"]) or {})

    details_id = next(cid for cid in custom_ids(page2) if cid.startswith("paper "))
    details = await click(fake, page2, details_id)
    assert details.response_type == 4 and details.ephemeral
    assert len((details.original or {})["embeds"]) == 1

    clock.advance(hours=25)
    expired = await click(fake, fake.message(results["id"]) or {}, next_id)
    assert expired.ephemeral and expired.response_type == 4
    assert "This search expired; run it again." in (expired.response_data or {})["content"]
    assert "page 1" in text_of(fake.message(results["id"]) or {})  # untouched


async def test_buttons_work_after_a_restart(fake: FakeDiscord, router: CommandRouter) -> None:
    async with running(fake, router):
        rec = await ask(fake, "search", {"query": "model"})
    results = rec.original or {}
    next_id = next(cid for cid in custom_ids(results) if cid.endswith(" 2"))
    async with running(fake, router):  # a new process: only the database remembers
        turned = await click(fake, results, next_id)
    assert turned.response_type == 7
    assert "page 2" in text_of(fake.message(results["id"]) or {})


# --------------------------------------------------------------------------- 3 seconds


def slow(handler: CommandHandler, seconds: float) -> CommandHandler:
    async def wrapped(command: Command) -> Reply:
        await asyncio.sleep(seconds)  # the slowness under test
        return await handler(command)

    return wrapped


async def test_slow_commands_are_deferred_then_completed(
    fake: FakeDiscord, router: CommandRouter
) -> None:
    async with running(fake, slow(router, 0.3), reply_budget=0.05):
        rec = await ask(fake, "search", {"query": "model"})
        assert rec.response_type == 5 and not rec.ephemeral
        await eventually(lambda: rec.edits)
        results = fake.message((rec.original or {})["id"]) or {}
        assert "page 1" in text_of(results) and not results["flags"] & LOADING

        # A private answer (an error) never lands in the public placeholder.
        refused = await ask(fake, "today", {"date": "someday"})
        await eventually(lambda: refused.followups)
        assert refused.response_type == 5
        assert refused.original is not None and fake.message(refused.original["id"]) is None
        assert refused.followups[0]["flags"] & EPHEMERAL
        assert "not a date" in refused.followups[0]["content"]

        next_id = next(cid for cid in custom_ids(results) if cid.endswith(" 2"))
        turned = await click(fake, results, next_id)
        assert turned.response_type == 6
        await eventually(lambda: turned.edits)
        assert "page 2" in text_of(fake.message(results["id"]) or {})

        details_id = next(cid for cid in custom_ids(results) if cid.startswith("paper "))
        details = await click(fake, results, details_id)
        assert details.response_type == 5 and details.ephemeral
        await eventually(lambda: details.edits)
        assert len((fake.message((details.original or {})["id"]) or {})["embeds"]) == 1


async def test_a_command_slower_than_three_seconds_still_meets_the_deadline(
    fake: FakeDiscord, router: CommandRouter
) -> None:
    async with running(fake, slow(router, 3.2)):  # the production budget
        rec = await ask(fake, "help")
        assert rec.response_type == 5 and rec.response_delay is not None
        assert rec.response_delay < 2.0
        await eventually(lambda: rec.edits, timeout=5)
    assert "/search" in text_of(fake.message((rec.original or {})["id"]) or {})


# --------------------------------------------------------------------------- send()


def a_post(key: str = "paperbot-7-0") -> Post:
    paper = make_paper("2603.00002", "Ordinary paper 2", day=DAY, upvotes=2)
    return Post(digest_reply([paper], "2026-03-09"), key=key)


@pytest.mark.parametrize(
    ("kind", "options", "expected", "reason"),
    [
        ("missing_access", {}, ChannelGone, "missing_access"),
        ("missing_permissions", {}, ChannelGone, "missing_permission"),
        ("unknown_channel", {}, ChannelGone, "unknown_channel"),
        (503, {}, TemporaryFailure, None),
        (500, {}, TemporaryFailure, None),  # discord.py retries, our send timeout ends it
        ("slow", {"delay": 1.0}, TemporaryFailure, None),
        (429, {"retry_after": 0.01}, RateLimited, None),  # discord.py retried 5 times
        (429, {"retry_after": 60.0}, RateLimited, None),  # too long for discord.py to wait
    ],
)
async def test_send_errors_become_delivery_errors(
    fake: FakeDiscord,
    router: CommandRouter,
    kind: str | int,
    options: dict[str, Any],
    expected: type[Exception],
    reason: str | None,
) -> None:
    async with running(fake, router, send_timeout=0.4) as adapter:
        fake.set_channel_error(TEXT, kind, **options)
        started = time.monotonic()
        with pytest.raises(expected) as raised:
            await adapter.send(f"discord:{TEXT}", a_post())
        assert time.monotonic() - started < 1.0
    if reason is not None:
        assert isinstance(raised.value, ChannelGone) and raised.value.reason == reason
    if kind == 429 and options["retry_after"] == 60.0:
        assert isinstance(raised.value, RateLimited) and raised.value.retry_after == 60.0
    if kind == "slow":  # the fake serves the abandoned request late: let it finish first
        await eventually(lambda: fake.messages(TEXT), message="the slow request served")


async def test_send_to_a_channel_the_bot_cannot_see_is_gone(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    with pytest.raises(ChannelGone) as raised:
        await bot.send("discord:123456789", a_post())
    assert raised.value.reason == "unknown_channel"
    with pytest.raises(ChannelGone):
        await bot.send("telegram:5", a_post())


async def test_the_same_post_twice_creates_one_message(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    first = await bot.send(f"discord:{TEXT}", a_post())
    again = await bot.send(f"discord:{TEXT}", a_post())
    assert first == again and len(fake.messages(TEXT)) == 1 and fake.nonce_dedupes == 1
    [stored] = fake.messages(TEXT)
    assert len(stored["nonce"]) <= 25 and stored["enforce_nonce"] is True
    await bot.send(f"discord:{TEXT}", a_post("paperbot-7-1"))
    assert len(fake.messages(TEXT)) == 2


async def test_a_timed_out_send_retried_does_not_double_post(
    fake: FakeDiscord, router: CommandRouter
) -> None:
    async with running(fake, router, send_timeout=0.2) as adapter:
        fake.set_channel_error(TEXT, "slow", times=1, delay=0.5)
        with pytest.raises(TemporaryFailure):
            await adapter.send(f"discord:{TEXT}", a_post())
        await eventually(lambda: fake.messages(TEXT))  # Discord got it after all
        message_id = await adapter.send(f"discord:{TEXT}", a_post())
    assert [str(m["id"]) for m in fake.messages(TEXT)] == [message_id]


async def test_send_before_start_is_temporary(fake: FakeDiscord, router: CommandRouter) -> None:
    adapter = DiscordAdapter(settings_for(fake), router)
    with pytest.raises(TemporaryFailure):
        await adapter.send(f"discord:{TEXT}", a_post())
    await adapter.stop()
    assert adapter.rate_windows(f"discord:{TEXT}")[1].key == f"channel:discord:{TEXT}"


# --------------------------------------------------------------------------- delivery


async def test_delivery_worker_delivers_once_and_pauses_gone_channels(
    fake: FakeDiscord, router: CommandRouter, store: SqliteStorage, clock: FakeClock
) -> None:
    extra = [GUILD + 200 + n for n in range(4)]  # RATE_LIMITED, FLAKY, NO_ACCESS, NO_PERMS
    for channel_id in extra:
        fake.add_channel(GUILD, channel_id, f"c{channel_id}")
    rate_limited, flaky, no_access, no_perms = extra
    deleted = GUILD + 299  # never existed: 404 Unknown Channel
    fake.set_channel_error(NEWS, 429, times=1, retry_after=0.05)  # discord.py waits it out
    fake.set_channel_error(rate_limited, 429, times=5, retry_after=0.01)  # -> RateLimited
    fake.set_channel_error(flaky, 503, times=2)
    fake.set_channel_error(no_access, "missing_access")
    fake.set_channel_error(no_perms, "missing_permissions")

    channels = [TEXT, NEWS, THREAD, rate_limited, flaky, no_access, no_perms, deleted]
    keys = [f"2603.{n:05d}" for n in range(1, 7)]
    delivery_ids = {}
    for channel_id in channels:
        channel = f"discord:{channel_id}"
        await store.save_subscription(Subscription(channel=channel))
        sub_id = await store.subscription_id(channel)
        assert sub_id is not None
        delivery_ids[channel_id] = await store.create_delivery(
            sub_id, channel, "2026-03-09", clock.now(), keys
        )

    async with running(fake, router, send_timeout=2.0) as adapter:
        worker = DeliveryWorker(adapter, store, clock, poll_seconds=0.02, rng=random.Random(3))
        runner = asyncio.create_task(worker.run())

        async def settled() -> bool:
            await worker.drain()
            rows = [await store.get_delivery(i) for i in delivery_ids.values() if i]
            if all(row is not None and row.state in ("sent", "failed") for row in rows):
                return True
            clock.advance(minutes=10)  # past any backoff or retry-after
            worker.wake()
            return False

        try:
            await eventually(settled, timeout=10, interval=0.05, message="every delivery settled")
        finally:
            await worker.stop()
            runner.cancel()

    # Attempts: discord.py waits out a short 429 within one send; a persistent one
    # comes back as RateLimited and a 5xx as TemporaryFailure, each retried later.
    expected_attempts = {TEXT: 1, NEWS: 1, THREAD: 1, rate_limited: 2, flaky: 3}
    for channel_id, attempts in expected_attempts.items():
        messages = posts(fake, channel_id)
        assert len(messages) == 1, channel_id
        assert "Trending papers — 2026-03-09" in messages[0]["content"]
        row = await store.get_delivery(delivery_ids[channel_id] or 0)
        assert row is not None and (row.state, row.attempts) == ("sent", attempts)
    gone = {no_access: "missing_access", no_perms: "missing_permission", deleted: "unknown_channel"}
    for channel_id, reason in gone.items():
        sub = await store.get_subscription(f"discord:{channel_id}")
        assert sub is not None and sub.paused and sub.paused_reason == reason
        row = await store.get_delivery(delivery_ids[channel_id] or 0)
        assert row is not None and (row.state, row.error) == ("failed", reason)


# --------------------------------------------------------------------------- sharding


async def test_two_shards_in_two_adapters_split_the_guilds(fake: FakeDiscord) -> None:
    g0 = FakeDiscord.snowflake_for_shard(0, 2)
    g1 = FakeDiscord.snowflake_for_shard(1, 2)
    for guild in (g0, g1):
        fake.add_guild(guild, f"guild-{guild}", channels=[guild + 10], members=[READER])
    seen: dict[int, list[Command]] = {0: [], 1: []}

    def recorder(shard: int) -> Callable[[Command], Awaitable[Reply]]:
        async def handler(command: Command) -> Reply:
            seen[shard].append(command)
            return Reply(text=f"shard {shard}")

        return handler

    def sharded(shard: int) -> dict[str, Any]:
        return {"shards": 2, "shard_ids": str(shard)}

    async with (
        running(fake, recorder(0), sharded(0)) as first,
        running(fake, recorder(1), sharded(1)) as second,
    ):
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        syncs = [r for r in fake.requests if r.method == "PUT" and "commands" in r.path]
        assert len(syncs) == 1  # only the process holding shard 0 syncs
        for guild, shard in ((g0, 0), (g1, 1)):
            rec = await ask(fake, "help", guild=guild, channel=guild + 10)
            assert (rec.response_data or {})["content"] == f"shard {shard}"
        assert first.platform == second.platform == "discord"
    assert [c.channel for c in seen[0]] == [f"discord:{g0 + 10}"]
    assert [c.channel for c in seen[1]] == [f"discord:{g1 + 10}"]


async def test_without_a_shard_count_the_recommended_one_is_used(
    fake: FakeDiscord, router: CommandRouter
) -> None:
    fake.recommended_shards = 2
    async with running(fake, router):
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        assert {i["path"] for i in fake.identifies} == {"/gateway"}  # the configured gateway
        rec = await ask(fake, "help")
        assert "/search" in (rec.response_data or {})["content"]


async def test_alert_changes_need_an_admin_and_anyone_lists(
    fake: FakeDiscord, bot: DiscordAdapter, store: SqliteStorage
) -> None:
    """/alert add and remove as a reader are refused and store nothing; /alert list is open."""
    channel = f"discord:{TEXT}"
    await store.save_subscription(Subscription(channel=channel))
    rec = await ask(fake, "alert", {"action": "add", "value": "diffusion"}, user=READER)
    refusal = "You need the Manage Channels permission to use /alert."
    assert rec.ephemeral and refusal in text_of(rec.original or {})
    assert await store.list_alerts(channel) == []
    rec = await ask(fake, "alert", {"action": "add", "value": "diffusion -video"}, user=ADMIN)
    assert "Alert 1 added" in text_of(rec.original or {})
    rec = await ask(fake, "alert", {"action": "remove", "value": "1"}, user=READER)
    assert refusal in text_of(rec.original or {})
    rec = await ask(fake, "alert", None, user=READER)
    assert "1. diffusion -video" in text_of(rec.original or {})
    rec = await ask(fake, "alert", {"action": "list"}, user=READER)
    assert "1. diffusion -video" in text_of(rec.original or {})
    rec = await ask(fake, "alert", {"action": "add"}, user=ADMIN)
    assert "Give the query to watch for" in text_of(rec.original or {})
    assert [a.query for a in await store.list_alerts(channel)] == ["diffusion -video"]
