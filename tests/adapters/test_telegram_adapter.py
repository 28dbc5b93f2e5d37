"""The Telegram adapter end to end: real python-telegram-bot against FakeTelegram.

Every test drives the real PTB Application over HTTP, the real CommandRouter
and a real SQLite store; the fake validates what the bot sends (HTML, lengths,
callback data) and every test ends with ``fake.violations == []``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.telegram.adapter import TelegramAdapter, TelegramStartError
from adapters.telegram.settings import TelegramSettings
from bot.commands import CommandRouter
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.digest import digest_reply
from bot.jobs import Jobs
from bot.models import Paper, Post, Subscription
from bot.ports.chat import (
    ChannelGone,
    ChannelMoved,
    ChatAdapter,
    RateLimited,
    TemporaryFailure,
)
from bot.ports.storage import Storage
from bot.ratelimit import RateLimiter
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import FakeHuggingFace, make_item
from tests.fakes.telegram import FakeTelegram
from tests.support import TEST_LEASE, TEST_OWNER, FakeClock, make_paper

# PTB 22 itself warns when it builds a RetryAfter; nothing the adapter can change.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

USER = 5551234
OTHER_USER = 5559999
GROUP = -4012345678
SUPERGROUP = -1001234567890
CHANNEL = -1009876543210
MIGRATED_TO = -1004012345678
DAY = date(2026, 3, 9)
LONG_DAY = date(2026, 3, 2)
LONG_ABSTRACT = "word " * 1000  # 5,000 characters

HOSTILE = (
    make_paper(
        "2603.00001", "<script>alert(1)</script>", day=DAY, upvotes=50, summary=LONG_ABSTRACT
    ),
    make_paper("2603.00002", "R&D <b>unclosed", day=DAY, upvotes=40, summary="Tom & Jerry <i>"),
    replace(
        make_paper("2603.00003", "@everyone read this", day=DAY, upvotes=30),
        github_repo="https://github.com/x/y?a=1&b=2",
        project_page='javascript:alert("1")',
    ),
)
# Long titles and author lists: five of these do not fit one message.
LONG_PAPERS = tuple(
    make_paper(
        f"2603.1{n:04d}",
        f"Long paper {n} " + "about scaling laws " * 40,
        day=LONG_DAY,
        upvotes=100 - n,
        summary=LONG_ABSTRACT,
        authors=tuple(f"Author {n}-{k} " + "Longname" * 12 for k in range(6)),
    )
    for n in range(1, 8)
)


# --------------------------------------------------------------------------- harness


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API; anything the real server would reject fails the test."""
    async with FakeTelegram() as fake:
        yield fake
        assert fake.violations == [], fake.violations


@pytest.fixture
async def store(store: Storage) -> Storage:
    """The seeds plus hostile and long papers (the clock's noon: Monday's list has settled)."""
    await store.upsert_papers([*load_seed_papers(), *HOSTILE, *LONG_PAPERS])
    return store


def settings_for(fake: FakeTelegram, **overrides: Any) -> TelegramSettings:
    """Settings pointing at the fake, ignoring any .env file."""
    values: dict[str, Any] = {
        "token": SecretStr(fake.token),
        "api_url": fake.api_url,
        **overrides,
    }
    return TelegramSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def adapter(fake: FakeTelegram, router: CommandRouter) -> AsyncIterator[TelegramAdapter]:
    """A started adapter, polling the fake."""
    telegram = TelegramAdapter(settings_for(fake), router, timeout=3)
    await telegram.start()
    yield telegram
    await telegram.stop()


async def ask(
    fake: FakeTelegram, chat_id: int, text: str, *, replies: int = 1, **push: Any
) -> list[dict[str, Any]]:
    """Push a message and return the ``replies`` messages the bot sends back."""
    before = len(fake.sent(chat_id))
    fake.push_message(chat_id, text, **push)
    await fake.wait_until(lambda: len(fake.sent(chat_id)) >= before + replies)
    return fake.sent(chat_id)[before:]


async def press(fake: FakeTelegram, chat_id: int, data: str, user_id: int = USER) -> dict[str, Any]:
    """Press a button on the bot's last message; return the answerCallbackQuery params."""
    update = fake.push_callback(chat_id, user_id, data)
    query_id = update["callback_query"]["id"]
    await fake.wait_until(lambda: query_id in fake.callback_answers)
    return fake.callback_answers[query_id]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Label -> callback_data of a sent message's inline keyboard."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


def post_of(papers: tuple[Paper, ...], period: str = "2026-03-09") -> Post:
    """A digest post as the core builds it."""
    return Post(body=digest_reply(papers, period), key=f"digest-{period}")


# --------------------------------------------------------------------------- start-up


async def test_adapter_satisfies_the_port(adapter: TelegramAdapter) -> None:
    """The protocol check the core relies on, and the documented rate windows."""
    assert isinstance(adapter, ChatAdapter)
    assert adapter.limits.max_chars == 4096
    assert [w.key for w in adapter.rate_windows(f"telegram:{USER}")] == ["global", f"chat:{USER}"]
    group = adapter.rate_windows(f"telegram:{SUPERGROUP}/7")
    assert [(w.key, w.count, w.seconds) for w in group] == [
        ("global", 30, 1.0),
        (f"chat:{SUPERGROUP}", 1, 1.0),
        (f"group:{SUPERGROUP}", 20, 60.0),
    ]


async def test_start_registers_every_command_and_polls(
    fake: FakeTelegram, adapter: TelegramAdapter, router: CommandRouter
) -> None:
    """setMyCommands carries every command users can type; polling follows deleteWebhook."""
    names = [c["command"] for c in fake.commands()]
    assert names == [
        "start", "help", "today", "search", "paper", "similar", "subscribe", "unsubscribe",
        "settings", "alert", "preview",
    ]  # fmt: skip
    assert set(names) == set(router.command_names)
    assert fake.calls_to("deleteWebhook")
    await fake.wait_until(lambda: fake.polls_waiting == 1)


async def test_stop_is_idempotent(fake: FakeTelegram, router: CommandRouter) -> None:
    """Stopping twice, or a never-started adapter, is harmless."""
    telegram = TelegramAdapter(settings_for(fake), router)
    await telegram.stop()
    await telegram.start()
    await telegram.stop()
    await telegram.stop()


async def test_wrong_token_fails_start_without_revealing_it(
    fake: FakeTelegram, router: CommandRouter
) -> None:
    """PTB quotes a rejected token in its error; what start() raises must not."""
    wrong = "123456789:AAWrongTokenWrongTokenWrongToken00"
    settings = settings_for(fake, token=SecretStr(wrong))
    with pytest.raises(TelegramStartError, match="rejected PAPERBOT_TELEGRAM_TOKEN") as info:
        await TelegramAdapter(settings, router, timeout=3).start()
    assert wrong not in str(info.value) and info.value.__suppress_context__
    assert fake.calls_to("getMe")[0].status == 401


async def test_unreachable_bot_api_fails_start_clearly(router: CommandRouter) -> None:
    """No server at the configured URL: a readable error naming the URL."""
    settings = TelegramSettings(
        _env_file=None,  # type: ignore[call-arg]
        token=SecretStr("123:abc"),
        api_url="http://127.0.0.1:9",
    )
    with pytest.raises(TelegramStartError, match=r"against http://127\.0\.0\.1:9 failed"):
        await TelegramAdapter(settings, router, timeout=1).start()


async def test_stop_intake_keeps_sending(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    """During shutdown the core stops intake first; digests in flight still go out."""
    assert adapter.is_connected()
    await adapter.stop_intake()
    assert not adapter.is_connected()
    assert await adapter.send(f"telegram:{USER}", post_of(HOSTILE))
    fake.push_message(USER, "/help")
    await adapter.stop()
    assert len(fake.sent(USER)) == 1  # the digest, not a reply to /help


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", "/search <query> — find papers"),
        ("/help", "/subscribe [HH:MM] [Area/City]"),
        ("/today", "Top papers of Mon 09 Mar 2026"),
        ("/search transformers", "Results for “transformers”"),
        ("/paper 2305.14858", "Pre-RMSNorm and Pre-CRMSNorm Transformers"),
        ("/subscribe 07:30 Europe/Berlin", "Subscribed: daily digest at 07:30 Europe/Berlin"),
        ("/unsubscribe", "This channel is not subscribed."),
        ("/settings", "This channel is not subscribed. An admin can run /subscribe."),
        ("/frobnicate now", "Unknown command /frobnicate. Type /help."),
    ],
)
async def test_every_command_in_a_private_chat(
    fake: FakeTelegram, adapter: TelegramAdapter, text: str, expected: str
) -> None:
    """Each command answers in HTML with link previews off."""
    [reply] = await ask(fake, USER, text)
    assert expected in reply["plain_text"]
    assert reply["parse_mode"] == "HTML"
    assert reply["link_preview_options"] == {"is_disabled": True}


async def test_arxiv_source_setting_and_the_refusal_of_an_unknown_category(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """/settings source arxiv:cs.CL is stored; arxiv:cs.NOPE is refused by name, nothing lost."""
    channel = f"telegram:{USER}"
    await ask(fake, USER, "/subscribe 08:15 Asia/Tokyo arxiv:cs.LG")
    sub = await store.get_subscription(channel)
    assert sub is not None and sub.arxiv_categories == ("cs.LG",)
    [changed] = await ask(fake, USER, "/settings source arxiv:cs.CL")
    assert changed["plain_text"].startswith("Updated source.")
    assert "source: arxiv:cs.CL" in changed["plain_text"]
    [refused] = await ask(fake, USER, "/settings source arxiv:cs.NOPE")
    assert "arXiv has no category cs.NOPE (did you mean cs.NE" in refused["plain_text"]
    [back] = await ask(fake, USER, "/settings source hf")
    assert "source: hf (Hugging Face Daily Papers)" in back["plain_text"]
    [off] = await ask(fake, USER, "/settings crosslists off")
    assert "crosslists: no" in off["plain_text"]
    sub = await store.get_subscription(channel)
    assert sub is not None and sub.arxiv_categories == () and not sub.crosslists
    [helped] = await ask(fake, USER, "/help")
    assert "• source — hf (Hugging Face Daily Papers) or arXiv categories" in helped["plain_text"]
    assert "• crosslists — yes or no" in helped["plain_text"]


async def test_subscription_flow_in_a_private_chat(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """subscribe -> settings -> change a setting -> unsubscribe, stored under the chat."""
    channel = f"telegram:{USER}"
    await ask(fake, USER, "/subscribe 08:15 Asia/Tokyo")
    sub = await store.get_subscription(channel)
    assert sub is not None and sub.timezone == "Asia/Tokyo" and sub.created_by == channel
    [shown] = await ask(fake, USER, "/settings")
    assert "Digest settings for this channel" in shown["plain_text"]
    [changed] = await ask(fake, USER, "/settings top 3")
    assert changed["plain_text"].startswith("Updated top.")
    assert (await store.get_subscription(channel)).top_n == 3  # type: ignore[union-attr]
    [gone] = await ask(fake, USER, "/unsubscribe")
    assert gone["plain_text"] == "Unsubscribed. This channel gets no more digests."
    assert await store.get_subscription(channel) is None


async def test_group_commands_addressed_to_this_or_another_bot(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """/help@thisbot answers; /help@otherbot and a bare unknown /cmd are left alone."""
    fake.push_message(GROUP, "/help@other_bot", chat_type="group", user_id=OTHER_USER)
    fake.push_message(GROUP, "/weather", chat_type="group", user_id=OTHER_USER)
    fake.push_message(GROUP, "/frob@PaperBot_Test_Bot", chat_type="group", user_id=OTHER_USER)
    await ask(fake, GROUP, f"/help@{fake.bot_username}", replies=2, user_id=OTHER_USER)
    await adapter.stop()  # finishes every update already fetched
    unknown, helped = sorted(m["plain_text"] for m in fake.sent(GROUP))
    assert unknown == "Unknown command /frob. Type /help."
    assert "/today" in helped


async def test_anyone_may_search_in_a_group_without_an_admin_lookup(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """Read-only commands (and showing settings) never call getChatMember."""
    [found] = await ask(fake, GROUP, "/search transformers", chat_type="group", user_id=OTHER_USER)
    assert "Results for" in found["plain_text"]
    await ask(fake, GROUP, "/settings", user_id=OTHER_USER)
    assert fake.calls_to("getChatMember") == []


@pytest.mark.parametrize(
    ("status", "accepted"),
    [("member", False), ("restricted", False), ("administrator", True), ("creator", True)],
)
async def test_only_admins_subscribe_in_groups(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    store: SqliteStorage,
    status: str,
    accepted: bool,
) -> None:
    """getChatMember decides; others get the router's polite refusal."""
    fake.add_chat(SUPERGROUP, "supergroup")
    fake.set_member(SUPERGROUP, OTHER_USER, status)
    [reply] = await ask(fake, SUPERGROUP, "/subscribe", user_id=OTHER_USER)
    subscribed = await store.get_subscription(f"telegram:{SUPERGROUP}")
    assert (subscribed is not None) is accepted
    if not accepted:
        assert reply["plain_text"] == "Only admins of this chat can subscribe."
    [lookup] = fake.calls_to("getChatMember")
    assert lookup.params["user_id"] == OTHER_USER


async def test_members_cannot_change_settings_or_unsubscribe(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """The admin rule covers unsubscribe and changing a setting too."""
    await store.save_subscription(Subscription(channel=f"telegram:{GROUP}"))
    fake.add_chat(GROUP, "group")
    [changed] = await ask(fake, GROUP, "/settings top 2", user_id=OTHER_USER)
    [stopped] = await ask(fake, GROUP, "/unsubscribe", user_id=OTHER_USER)
    assert changed["plain_text"] == "Only admins of this chat can change settings."
    assert stopped["plain_text"] == "Only admins of this chat can unsubscribe."
    assert await store.get_subscription(f"telegram:{GROUP}") is not None


async def test_anonymous_admin_counts_as_admin(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """A message posted as the group itself comes from an admin; no lookup needed."""
    [reply] = await ask(fake, GROUP, "/subscribe", chat_type="group", sender_chat=True)
    assert reply["plain_text"].startswith("Subscribed")
    sub = await store.get_subscription(f"telegram:{GROUP}")
    assert sub is not None and sub.created_by == f"telegram:{GROUP}"
    assert fake.calls_to("getChatMember") == []


async def test_admin_lookup_failure_is_explained(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """If getChatMember fails the user hears why, and nothing changes."""
    fake.add_chat(GROUP, "group")
    fake.set_chat_error(GROUP, "server_error", times=1)
    [reply] = await ask(fake, GROUP, "/subscribe", user_id=OTHER_USER)
    assert "could not check whether you are an admin" in reply["plain_text"]
    assert await store.get_subscription(f"telegram:{GROUP}") is None


async def test_subscription_in_a_forum_topic_posts_into_that_topic(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """The topic is part of the channel; replies and digests carry message_thread_id."""
    fake.set_member(SUPERGROUP, OTHER_USER, "administrator")
    [reply] = await ask(fake, SUPERGROUP, "/subscribe 09:00", thread_id=99, user_id=OTHER_USER)
    assert reply["message_thread_id"] == 99
    channel = f"telegram:{SUPERGROUP}/99"
    assert await store.get_subscription(channel) is not None
    assert await store.get_subscription(f"telegram:{SUPERGROUP}") is None

    message_id = await adapter.send(channel, post_of(HOSTILE))
    digest = fake.sent(SUPERGROUP)[-1]
    assert str(digest["message_id"]) == message_id
    assert digest["message_thread_id"] == 99
    assert digest["link_preview_options"] == {"is_disabled": True}
    assert digest["parse_mode"] == "HTML"


async def test_channel_posts_are_commands_from_an_admin(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """In a channel the bot administers, posts without ``from`` run as admin commands."""
    [reply] = await ask(fake, CHANNEL, "/subscribe 06:00 UTC", chat_type="channel")
    assert reply["plain_text"].startswith("Subscribed: daily digest at 06:00 UTC")
    assert await store.get_subscription(f"telegram:{CHANNEL}") is not None
    [helped] = await ask(fake, CHANNEL, f"/help@{fake.bot_username}")
    assert "/paper" in helped["plain_text"]
    assert fake.calls_to("getChatMember") == []


# --------------------------------------------------------------------------- rendering


async def test_hostile_paper_text_renders_literally(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """Titles with <script>, & and an unclosed <b> arrive as valid HTML showing the literals."""
    [today] = await ask(fake, USER, "/today")
    shown = today["plain_text"]
    for paper in HOSTILE:
        assert paper.title in shown
    assert "Tom & Jerry <i>" in shown
    assert "&lt;script&gt;" in today["text"] and "R&amp;D &lt;b&gt;unclosed" in today["text"]
    assert len(shown) <= 4096
    # A non-web project URL stays unlinked; an & inside an href is escaped.
    assert "javascript:" not in today["text"]
    assert '<a href="https://github.com/x/y?a=1&amp;b=2">GitHub</a>' in today["text"]


async def test_hostile_search_text_and_full_abstract(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """User text echoed back is escaped; a 5,000-character abstract is trimmed to fit."""
    [nothing] = await ask(fake, USER, '/search <i>zzqx & "unclosed')
    assert "<i>zzqx & " in nothing["plain_text"]
    [detail] = await ask(fake, USER, "/paper 2603.00001")
    assert detail["plain_text"].startswith("<script>alert(1)</script>")
    assert 2500 < len(detail["plain_text"]) <= 4096


async def test_long_today_splits_on_paper_boundaries(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """Seven long cards: several messages, each within 4,096, no card cut in two."""
    await store.save_subscription(Subscription(channel=f"telegram:{USER}", top_n=7))
    await ask(fake, USER, "/today 2026-03-02", replies=2)
    await adapter.stop()  # lets the reply finish sending all its parts
    messages = fake.sent(USER)
    assert len(messages) >= 2
    assert all(len(m["plain_text"]) <= 4096 for m in messages)
    for n in range(1, 8):
        holding = [m for m in messages if f"{n}. Long paper {n} " in m["plain_text"]]
        assert len(holding) == 1, f"paper {n} appears in {len(holding)} messages"
        # The whole card is in that one message: title, authors and links.
        assert f"Author {n}-0" in holding[0]["plain_text"]
    assert "Ranked by Hugging Face upvotes" in messages[-1]["plain_text"]


async def test_long_digest_through_the_worker_splits_and_disables_previews(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    store: SqliteStorage,
    clock: FakeClock,
) -> None:
    """The core splits with the adapter's measure; every part is one valid message."""
    channel = f"telegram:{USER}"
    sub = await store.save_subscription(Subscription(channel=channel, top_n=10))
    sub_id = await store.subscription_id(sub.channel)
    assert sub_id is not None
    keys = [p.key for p in (*LONG_PAPERS, *HOSTILE)]
    await store.create_delivery(sub_id, channel, "2026-03-10", clock.now(), keys)
    [delivery] = await store.claim_deliveries("telegram", clock.now(), 10, TEST_LEASE)
    await DeliveryWorker(adapter, store, clock, owner=TEST_OWNER).deliver(delivery)
    parts = fake.sent(USER)
    done = await store.get_delivery(delivery.id)
    assert done is not None and done.state == "sent" and done.parts_sent == len(parts) > 1
    assert all(len(p["plain_text"]) <= 4096 for p in parts)
    assert all(p["link_preview_options"] == {"is_disabled": True} for p in parts)
    assert all(p["parse_mode"] == "HTML" for p in parts)
    assert "<script>alert(1)</script>" in "".join(p["plain_text"] for p in parts)


# --------------------------------------------------------------------------- buttons


async def test_search_paging_edits_the_results_message(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """Next and Prev edit in place; the keyboard follows; every press is answered."""
    [results] = await ask(fake, USER, "/search transformers")
    first = buttons(results)
    assert "Next ▶" in first and "◀ Prev" not in first
    assert all(len(data.encode()) <= 64 for data in first.values())
    # Seeds holding "transformer(s)" (not "transform"/"transformation": no stemming).
    assert "Results 1–5 of 23, page 1" in results["plain_text"]

    answer = await press(fake, USER, first["Next ▶"])
    assert answer.get("text") is None
    [edited] = fake.sent(USER)
    assert edited["edits"] == 1 and "Results 6–10 of 23, page 2" in edited["plain_text"]
    second = buttons(edited)
    assert {"◀ Prev", "Next ▶", "6", "10"} <= set(second)

    await press(fake, USER, second["◀ Prev"])
    [back] = fake.sent(USER)
    assert back["edits"] == 2 and "page 1" in back["plain_text"]
    assert fake.calls_to("editMessageText")[-1].params["link_preview_options"] == {
        "is_disabled": True
    }
    assert fake.unanswered_callbacks() == []


async def test_details_button_sends_the_paper(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    """A result's number button answers with a new message holding the full paper."""
    [results] = await ask(fake, USER, "/search Pre-RMSNorm")
    data = buttons(results)["1"]
    assert data == "paper 2305.14858"
    await press(fake, USER, data)
    results_again, detail = fake.sent(USER)
    assert results_again.get("edits") is None
    assert detail["plain_text"].startswith("Pre-RMSNorm and Pre-CRMSNorm Transformers")
    assert "Zixuan Jiang" in detail["plain_text"]
    assert fake.unanswered_callbacks() == []


async def test_expired_search_answers_the_press(
    fake: FakeTelegram, adapter: TelegramAdapter, clock: FakeClock
) -> None:
    """After the session's lifetime the press gets an alert and the message stays."""
    [results] = await ask(fake, USER, "/search transformers")
    clock.advance(hours=25)
    answer = await press(fake, USER, buttons(results)["Next ▶"])
    assert answer["text"] == "This search expired; run it again."
    assert answer["show_alert"] is True
    assert fake.sent(USER)[0].get("edits") is None
    assert fake.unanswered_callbacks() == []


async def test_double_press_and_buttons_in_topics_and_groups(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """A second press on a stale page is still answered; topic buttons stay in the topic."""
    [results] = await ask(fake, SUPERGROUP, "/search transformers", thread_id=5, user_id=OTHER_USER)
    next_data = buttons(results)["Next ▶"]
    await press(fake, SUPERGROUP, next_data, OTHER_USER)
    # A client that still shows the old keyboard sends the same data again.
    fake.push_callback(SUPERGROUP, OTHER_USER, next_data, require_button=False)
    await fake.wait_until(lambda: fake.unanswered_callbacks() == [])
    await press(fake, SUPERGROUP, buttons(fake.sent(SUPERGROUP)[0])["7"], OTHER_USER)
    assert fake.sent(SUPERGROUP)[-1]["message_thread_id"] == 5
    assert fake.unanswered_callbacks() == []


# --------------------------------------------------------------------------- send() errors


@pytest.mark.parametrize(
    ("chat_id", "kind", "options", "expected", "attribute", "value"),
    [
        (USER, "retry_after", {"retry_after": 7}, RateLimited, "retry_after", 7.0),
        (USER, "blocked", {}, ChannelGone, "reason", "blocked"),
        (GROUP, "kicked", {}, ChannelGone, "reason", "kicked"),
        (SUPERGROUP, "kicked", {}, ChannelGone, "reason", "kicked"),
        (CHANNEL, "not_member", {}, ChannelGone, "reason", "not_member"),
        (USER, "not_found", {}, ChannelGone, "reason", "chat_not_found"),
        (GROUP, "migrated", {}, ChannelMoved, "new_channel", f"telegram:{MIGRATED_TO}"),
        (USER, "server_error", {"status": 500}, TemporaryFailure, None, None),
        (USER, "server_error", {"status": 502}, TemporaryFailure, None, None),
    ],
)
async def test_send_maps_bot_api_errors_to_delivery_errors(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    chat_id: int,
    kind: str,
    options: dict[str, Any],
    expected: type[Exception],
    attribute: str | None,
    value: object,
) -> None:
    """Each failure surfaces only as the port's error, never a PTB exception."""
    fake.set_chat_error(chat_id, kind, **options)
    with pytest.raises(expected) as info:
        await adapter.send(f"telegram:{chat_id}", post_of(HOSTILE))
    if attribute is not None:
        assert getattr(info.value, attribute) == value
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_slow_answer_beyond_the_timeout_is_temporary(
    fake: FakeTelegram, router: CommandRouter
) -> None:
    """A response slower than the configured timeout becomes TemporaryFailure."""
    telegram = TelegramAdapter(settings_for(fake), router, timeout=0.3)
    await telegram.start()
    try:
        fake.set_chat_error(USER, "slow", delay=5, times=1)
        with pytest.raises(TemporaryFailure, match=r"(?i)timed out"):
            await telegram.send(f"telegram:{USER}", post_of(HOSTILE))
        assert await telegram.send(f"telegram:{USER}", post_of(HOSTILE))
    finally:
        await telegram.stop()


async def test_send_to_a_malformed_channel_is_gone(adapter: TelegramAdapter) -> None:
    """A channel string that is not ours cannot be delivered to, ever."""
    with pytest.raises(ChannelGone) as info:
        await adapter.send("telegram:not-a-chat", post_of(HOSTILE))
    assert info.value.reason == "bad_channel"


async def test_polling_survives_get_updates_failures(
    fake: FakeTelegram, router: CommandRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """Two 502s from getUpdates: PTB backs off, keeps polling, the command is answered."""
    fake.fail_get_updates(2)
    telegram = TelegramAdapter(settings_for(fake), router, timeout=3)
    await telegram.start()
    try:
        fake.push_message(USER, "/help")
        await fake.wait_until(lambda: len(fake.sent(USER)) == 1, timeout=10)
    finally:
        await telegram.stop()
    statuses = [c.status for c in fake.calls_to("getUpdates")]
    assert statuses[:2] == [502, 502] and 200 in statuses
    assert "polling failed, retrying" in caplog.text


# --------------------------------------------------------------------------- webhook


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_webhook_mode_checks_the_secret(fake: FakeTelegram, router: CommandRouter) -> None:
    """setWebhook gets URL and secret; updates with the right header are served, others 403."""
    port = free_port()
    settings = settings_for(
        fake,
        webhook_url="https://bot.example.org/telegram/hook",
        webhook_secret=SecretStr("s3cret-Token_1"),
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    telegram = TelegramAdapter(settings, router, timeout=3)
    await telegram.start()
    try:
        assert fake.webhook_url == "https://bot.example.org/telegram/hook"
        assert fake.webhook_params["secret_token"] == "s3cret-Token_1"
        update = fake.push_message(USER, "/help")
        hook = f"http://127.0.0.1:{port}/telegram/hook"
        async with aiohttp.ClientSession() as http:
            header = "X-Telegram-Bot-Api-Secret-Token"
            async with http.post(hook, json=update, headers={header: "wrong"}) as resp:
                assert resp.status == 403
            async with http.post(hook, json=update) as resp:
                assert resp.status == 403
            async with http.post(hook, json=update, headers={header: "s3cret-Token_1"}) as resp:
                assert resp.status == 200
        await fake.wait_until(lambda: len(fake.sent(USER)) == 1)
    finally:
        await telegram.stop()
    assert "/today" in fake.sent(USER)[0]["plain_text"]
    assert fake.calls_to("getUpdates") == []


# --------------------------------------------------------------------------- delivery path


async def _deliver_until_settled(
    worker: DeliveryWorker, store: SqliteStorage, clock: FakeClock, rounds: int = 6
) -> None:
    """Claim and deliver due rows, jumping the clock past every backoff, until none is left."""
    for _ in range(rounds):
        claimed = await store.claim_deliveries("telegram", clock.now(), 100, TEST_LEASE)
        if not claimed and await store.outbox_depth() == 0:
            return
        await asyncio.gather(*(worker.deliver(d) for d in claimed))
        clock.advance(minutes=30)
    raise AssertionError("outbox did not settle")


async def test_delivery_worker_with_faults(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    store: SqliteStorage,
    clock: FakeClock,
) -> None:
    """429s, a 5xx, blocked and kicked chats and one migration across a fan-out.

    Every deliverable chat gets its digest exactly once (the migrated group
    under its new id, its subscription re-keyed); gone chats are paused with
    the reason.
    """
    healthy = [USER + n for n in range(6)]
    limited = [USER + 10, USER + 11]
    flaky = USER + 20
    blocked = [USER + 30, USER + 31]
    kicked = -1005550000001
    for chat in limited:
        fake.set_chat_error(chat, "retry_after", retry_after=1, times=1)
    fake.set_chat_error(flaky, "server_error", status=502, times=1)
    for chat in blocked:
        fake.set_chat_error(chat, "blocked")
    fake.set_chat_error(kicked, "kicked")
    fake.set_chat_error(GROUP, "migrated", new_chat_id=MIGRATED_TO)
    everyone = [*healthy, *limited, flaky, *blocked, kicked, GROUP]
    keys = [p.key for p in HOSTILE]
    for chat in everyone:
        sub = await store.save_subscription(Subscription(channel=f"telegram:{chat}"))
        sub_id = await store.subscription_id(sub.channel)
        assert sub_id is not None
        await store.create_delivery(sub_id, sub.channel, "2026-03-10", clock.now(), keys)

    worker = DeliveryWorker(adapter, store, clock, rng=random.Random(3), owner=TEST_OWNER)
    await _deliver_until_settled(worker, store, clock)

    for chat in [*healthy, *limited, flaky, MIGRATED_TO]:
        [digest] = fake.sent(chat)
        assert "<script>alert(1)</script>" in digest["plain_text"]
    assert fake.sent(GROUP) == []
    moved = await store.get_subscription(f"telegram:{MIGRATED_TO}")
    assert moved is not None and not moved.paused
    assert await store.get_subscription(f"telegram:{GROUP}") is None
    last = await store.last_delivery(f"telegram:{MIGRATED_TO}")
    assert last is not None and last.state == "sent"
    for chat, reason in [(blocked[0], "blocked"), (blocked[1], "blocked"), (kicked, "kicked")]:
        paused = await store.get_subscription(f"telegram:{chat}")
        assert paused is not None and paused.paused and paused.paused_reason == reason
        failed = await store.last_delivery(f"telegram:{chat}")
        assert failed is not None and failed.state == "failed"
    assert fake.count_429 == 2


# --------------------------------------------------------------------------- retry accounting

FAULT_KEYS = [HOSTILE[0].key, HOSTILE[1].key]


@pytest.fixture
def worker(adapter: TelegramAdapter, store: SqliteStorage, clock: FakeClock) -> DeliveryWorker:
    """A worker with the grace window as deadline and no pacing of its own: the 429 waits
    are the fake's, and the injected clock jumps past them."""
    return DeliveryWorker(
        adapter,
        store,
        clock,
        rng=random.Random(5),
        owner=TEST_OWNER,
        limiter=RateLimiter(lambda channel: []),
        deadline=timedelta(hours=6),
    )


async def _queue(store: SqliteStorage, chat: int, period: str, clock: FakeClock) -> int:
    channel = f"telegram:{chat}"
    sub_id = await store.subscription_id(channel)
    if sub_id is None:
        await store.save_subscription(Subscription(channel=channel))
        sub_id = await store.subscription_id(channel)
    assert sub_id is not None
    row = await store.create_delivery(sub_id, channel, period, clock.now(), FAULT_KEYS)
    assert row is not None
    return row


async def _round(worker: DeliveryWorker, store: SqliteStorage, clock: FakeClock) -> int:
    """Deliver every ready row once, then move the clock past any wait; how many were ready."""
    claimed = await store.claim_deliveries("telegram", clock.now(), 100, TEST_LEASE)
    for delivery in claimed:
        await worker.deliver(delivery)
    clock.advance(minutes=10)
    return len(claimed)


async def test_rate_limits_do_not_use_up_the_retries(
    fake: FakeTelegram, worker: DeliveryWorker, store: SqliteStorage, clock: FakeClock
) -> None:
    row = await _queue(store, USER, "2026-03-10", clock)
    fake.set_chat_error(USER, "retry_after", retry_after=1, times=7)
    for _ in range(7):
        assert await _round(worker, store, clock) == 1
    fake.set_chat_error(USER, "server_error", status=500, times=1)
    assert await _round(worker, store, clock) == 1
    limited = await store.get_delivery(row)
    assert limited is not None and limited.state == "pending" and limited.failures == 1
    assert await _round(worker, store, clock) == 1

    done = await store.get_delivery(row)
    assert done is not None and done.state == "sent"
    assert (done.attempts, done.failures) == (9, 1)
    assert fake.count_429 == 7
    assert len(fake.sent(USER)) == 1


async def test_a_digest_failing_past_the_grace_window_is_failed_with_its_reason(
    fake: FakeTelegram, worker: DeliveryWorker, store: SqliteStorage, clock: FakeClock
) -> None:
    row = await _queue(store, USER, "2026-03-10", clock)
    fake.set_chat_error(USER, "retry_after", retry_after=1)
    while await _round(worker, store, clock):
        pass  # rate limited every ten minutes, until the six hours are up
    failed = await store.get_delivery(row)
    assert failed is not None and failed.state == "failed" and failed.failures == 0
    assert failed.error is not None
    assert failed.error.startswith("gave up: not delivered within 6 h of its time; last error:")
    assert "RetryAfter: Flood control exceeded" in failed.error
    # Given up at the first attempt past the window (then one empty round went by).
    assert clock.now() - failed.due_at <= timedelta(hours=6, minutes=20)


async def test_migration_onto_a_chat_with_its_own_subscription(
    fake: FakeTelegram,
    worker: DeliveryWorker,
    store: SqliteStorage,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.set_chat_error(GROUP, "migrated", new_chat_id=MIGRATED_TO)
    both = await _queue(store, GROUP, "2026-03-10", clock)  # the supergroup has this one too
    only_old = await _queue(store, GROUP, "2026-03-09", clock)
    own = await _queue(store, MIGRATED_TO, "2026-03-10", clock)

    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            await _round(worker, store, clock)

    assert await store.outbox_depth() == 0
    assert len(fake.sent(MIGRATED_TO)) == 2  # its own digest, and the old chat's other period
    assert fake.sent(GROUP) == []
    merged = f"merged into telegram:{MIGRATED_TO}"
    old = await store.get_subscription(f"telegram:{GROUP}")
    assert old is not None and old.paused and old.paused_reason == merged
    kept = await store.get_subscription(f"telegram:{MIGRATED_TO}")
    assert kept is not None and not kept.paused
    skipped = await store.get_delivery(both)
    assert skipped is not None and skipped.state == "skipped"
    assert skipped.error == f"{merged}, which has its own digest for this period"
    for row in (only_old, own):
        sent = await store.get_delivery(row)
        assert sent is not None and sent.state == "sent"
        assert sent.channel == f"telegram:{MIGRATED_TO}"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(fake.calls_to("sendMessage")) == 2 + 2  # two migrated answers, two digests


# --------------------------------------------------------------------------- alerts


async def test_only_admins_add_or_remove_alerts_and_anyone_lists_them(
    fake: FakeTelegram, adapter: TelegramAdapter, store: SqliteStorage
) -> None:
    """getChatMember decides /alert add and remove; /alert list needs no lookup."""
    channel = f"telegram:{SUPERGROUP}"
    await store.save_subscription(Subscription(channel=channel))
    fake.add_chat(SUPERGROUP, "supergroup")
    fake.set_member(SUPERGROUP, OTHER_USER, "member")
    fake.set_member(SUPERGROUP, USER, "administrator")
    [refused] = await ask(fake, SUPERGROUP, "/alert add diffusion", user_id=OTHER_USER)
    assert refused["plain_text"] == "Only admins of this chat can add or remove alerts."
    assert await store.list_alerts(channel) == []
    [added] = await ask(fake, SUPERGROUP, '/alert add "diffusion model" -video', user_id=USER)
    assert "Alert 1 added" in added["plain_text"]
    lookups = len(fake.calls_to("getChatMember"))
    [listed] = await ask(fake, SUPERGROUP, "/alert list", user_id=OTHER_USER)
    assert '1. "diffusion model" -video' in listed["plain_text"]
    assert len(fake.calls_to("getChatMember")) == lookups  # viewing asks nobody
    [refused] = await ask(fake, SUPERGROUP, "/alert remove 1", user_id=OTHER_USER)
    assert refused["plain_text"] == "Only admins of this chat can add or remove alerts."
    [bad] = await ask(fake, SUPERGROUP, "/alert remove 9", user_id=USER)
    assert "Give the number of the alert to remove, 1 to 1 (not 9)" in bad["plain_text"]
    assert [a.query for a in await store.list_alerts(channel)] == ['"diffusion model" -video']


async def test_alert_reaches_the_chat_soon_after_the_ingest(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    router: CommandRouter,
    store: SqliteStorage,
    clock: FakeClock,
    hf: FakeHuggingFace,
) -> None:
    """Ingest (Hugging Face fake) to alert message in the chat, through the outbox worker.

    The time from the start of the ingest to the message reaching the fake Bot
    API is printed (the report's figure) and must be well under a second.
    """
    fake.add_chat(SUPERGROUP, "supergroup")
    fake.set_member(SUPERGROUP, USER, "administrator")
    await ask(fake, SUPERGROUP, "/subscribe", user_id=USER)
    await ask(fake, SUPERGROUP, "/alert add quantum robots", user_id=USER)
    before = len(fake.sent(SUPERGROUP))
    hf.add_papers(
        clock.now().date(),
        [
            make_item("2603.77001", "Quantum robots that sort socks", day=clock.now().date()),
            make_item("2603.77002", "Classical chairs", day=clock.now().date()),
        ],
    )
    async with HuggingFaceSource(hf.endpoint) as source:
        jobs = Jobs(Settings(ingest_days=1), store, [adapter], source=source, clock=clock)
        await jobs.roles.renew()  # the sender role, as a started process holds it
        worker = asyncio.create_task(jobs.workers["telegram"].run())
        try:
            started = time.perf_counter()
            await jobs.ingest()
            ingested = time.perf_counter()
            await fake.wait_until(lambda: len(fake.sent(SUPERGROUP)) > before, timeout=5)
            arrived = time.perf_counter()
        finally:
            await jobs.workers["telegram"].stop()
            await worker
    print(
        f"ingest to alert message: {arrived - started:.3f} s"
        f" (ingest itself {ingested - started:.3f} s, alert after it {arrived - ingested:.3f} s)"
    )
    [message] = fake.sent(SUPERGROUP)[before:]
    assert "Alert: a new paper matching this channel's alerts" in message["plain_text"]
    assert "Quantum robots that sort socks" in message["plain_text"]
    assert "Classical chairs" not in message["plain_text"]
    assert arrived - started < 2.0
