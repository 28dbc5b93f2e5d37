"""Self-test of tests/fakes/telegram.py against the real python-telegram-bot.

Everything goes over HTTP through ``telegram.Bot`` / ``Application``: if PTB
accepts what the fake answers here, it will accept it in the adapter tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot as PTBBot
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram import ANONYMOUS_ADMIN_ID, FakeTelegram, validate_html

# PTB 22 itself warns when it builds a RetryAfter; nothing this file can change.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

GROUP = -4012345678
SUPERGROUP = -1001234567890
USER = 5551234


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The pattern for every Telegram test: fail at teardown on any violation."""
    async with FakeTelegram() as fake:
        yield fake
        assert fake.violations == [], fake.violations


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[PTBBot]:
    """A real PTB Bot pointed at the fake."""
    async with PTBBot(fake.token, base_url=fake.base_url) as bot:
        yield bot


@contextlib.asynccontextmanager
async def running_app(
    fake: FakeTelegram, *handlers: BaseHandler[Any, Any, Any]
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run an Application with polling inside the test loop (never run_polling)."""
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after as seconds (PTB 22 warns about the int form)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


# --------------------------------------------------------------------------- basics


async def test_get_me(fake: FakeTelegram, bot: PTBBot) -> None:
    """Bot.initialize() already called getMe; the answer is a proper bot User."""
    me = await bot.get_me()
    assert me.id == fake.bot_id and me.is_bot
    assert bot.username == fake.bot_username
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/bot")


async def test_send_html_with_keyboard_is_recorded(fake: FakeTelegram, bot: PTBBot) -> None:
    """Parameters arrive decoded and the echoed Message de-jsons in PTB."""
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Next ▶", callback_data="p:2"),
                InlineKeyboardButton("arXiv", url="https://arxiv.org/abs/2401.00001"),
            ],
        ]
    )
    msg = await bot.send_message(
        SUPERGROUP,
        '<b>Daily</b> <a href="https://hf.co/papers?a=1&amp;b=2">papers</a> &lt;3 &#128512;',
        parse_mode="HTML",
        reply_markup=markup,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        message_thread_id=7,
    )
    assert msg.text == "Daily papers <3 😀"
    assert msg.chat.id == SUPERGROUP and msg.chat.type == "supergroup"
    assert msg.from_user is not None and msg.from_user.id == fake.bot_id
    assert msg.message_thread_id == 7
    assert msg.reply_markup == markup

    [call] = fake.calls_to("sendMessage")
    assert call.chat_id == SUPERGROUP and call.ok
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "p:2"
    [sent] = fake.sent(SUPERGROUP)
    assert sent["message_id"] == msg.message_id
    assert sent["parse_mode"] == "HTML" and sent["message_thread_id"] == 7
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert sent["plain_text"] == "Daily papers <3 😀"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<b>unclosed", 'end tag corresponding to start tag "b"'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script"'),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("R&D papers", "must be escaped"),
        ("1 < 2", 'Unsupported start tag ""'),
        ('<span class="x">s</span>', "tg-spoiler"),
    ],
)
async def test_invalid_html_is_rejected_and_recorded(
    fake: FakeTelegram, bot: PTBBot, text: str, fragment: str
) -> None:
    """Bad HTML gets Telegram's 400 and lands in violations."""
    with pytest.raises(BadRequest, match=r"(?i)parse entities") as info:
        await bot.send_message(USER, text, parse_mode="HTML")
    assert fragment.lower() in str(info.value).lower()
    [violation] = fake.take_violations()
    assert "can't parse entities" in violation and fragment in violation
    assert fake.sent(USER) == []


def test_html_validator_accepts_telegram_markup() -> None:
    """Every tag Telegram documents parses; entity text is measured decoded."""
    ok = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        "<strike>k</strike><del>d</del><tg-spoiler>t</tg-spoiler>"
        '<span class="tg-spoiler">p</span><a href="https://x.org/?q=1&amp;r=2">a</a>'
        '<code>c</code><pre><code class="language-python">x = 1</code></pre>'
        "<blockquote expandable>q</blockquote>"
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "&lt;&gt;&amp;&quot;&#65;&#x42; 2 > 1"
    )
    err, plain = validate_html(ok)
    assert err is None, err
    assert plain.endswith('<>&"AB 2 > 1')
    assert validate_html("<B>upper</B>")[0] is None
    assert validate_html("</b>")[0] is not None
    assert validate_html("&nbsp;")[0] is not None


async def test_text_length_is_checked_after_entity_parsing(fake: FakeTelegram, bot: PTBBot) -> None:
    """4096 visible characters pass even with tags around them; 4097 do not."""
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(USER, "&amp;" * 4096, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    assert fake.take_violations() == [
        "sendMessage(chat_id=5551234): Bad Request: message is too long"
    ]
    assert len(fake.sent(USER)) == 2


@pytest.mark.parametrize("data", ["x" * 65, "é" * 33])
async def test_callback_data_over_64_bytes_rejected(
    fake: FakeTelegram, bot: PTBBot, data: str
) -> None:
    """The limit is in UTF-8 bytes, so 33 accented letters are already too many."""
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("ok", callback_data="y" * 64)],
            [InlineKeyboardButton("bad", callback_data=data)],
        ]
    )
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "pick", reply_markup=markup)
    assert fake.take_violations() == [
        "sendMessage(chat_id=5551234): Bad Request: BUTTON_DATA_INVALID"
    ]


async def test_set_my_commands_validated(fake: FakeTelegram, bot: PTBBot) -> None:
    """Valid commands round-trip; bad names and >100 commands are violations."""
    cmds = [BotCommand("start", "Start"), BotCommand("top_papers", "Top papers today")]
    assert await bot.set_my_commands(cmds)
    assert await bot.get_my_commands() == tuple(cmds)
    assert fake.commands() == [
        {"command": "start", "description": "Start"},
        {"command": "top_papers", "description": "Top papers today"},
    ]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start-Now", "x")])
    with pytest.raises(BadRequest, match=r"(?i)TOO_MUCH"):
        await bot.set_my_commands([BotCommand(f"c{i}", "x") for i in range(101)])
    with pytest.raises(BadRequest, match=r"(?i)DESCRIPTION_INVALID"):
        await bot.set_my_commands([BotCommand("ok", "d" * 257)])
    assert len(fake.take_violations()) == 3
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_edit_delete_and_not_modified(fake: FakeTelegram, bot: PTBBot) -> None:
    """Edits update the record in place; 'not modified' is an error, not a violation."""
    msg = await bot.send_message(USER, "v1")
    edited = await bot.edit_message_text("v2", chat_id=USER, message_id=msg.message_id)
    assert isinstance(edited, type(msg)) and edited.text == "v2"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("v2", chat_id=USER, message_id=msg.message_id)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]])
    await bot.edit_message_reply_markup(
        chat_id=USER, message_id=msg.message_id, reply_markup=markup
    )
    [rec] = fake.sent(USER)
    assert rec["text"] == "v2" and rec["edits"] == 2 and rec["reply_markup"] is not None
    assert await bot.delete_message(USER, msg.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.delete_message(USER, msg.message_id)
    assert fake.sent(USER)[0]["deleted"] is True
    assert await bot.send_chat_action(USER, "typing")


async def test_members_and_admins(fake: FakeTelegram, bot: PTBBot) -> None:
    """getChatMember answers every status PTB knows; admins list creator + admins."""
    for uid, status in [
        (1, "creator"),
        (2, "administrator"),
        (3, "restricted"),
        (4, "left"),
        (5, "kicked"),
    ]:
        fake.set_member(GROUP, uid, status)
    for uid, status in [
        (1, "creator"),
        (2, "administrator"),
        (3, "restricted"),
        (4, "left"),
        (5, "kicked"),
        (6, "member"),
    ]:
        assert (await bot.get_chat_member(GROUP, uid)).status == status
    assert (await bot.get_chat_member(USER, USER)).status == "member"
    admins = await bot.get_chat_administrators(GROUP)
    assert sorted(a.user.id for a in admins) == [1, 2]
    chat = await bot.get_chat(GROUP)
    assert chat.type == "group" and chat.id == GROUP


async def test_unknown_method_is_400_and_raw_bodies_are_decoded(fake: FakeTelegram) -> None:
    """Unknown methods must not be 404 (PTB would say InvalidToken); JSON/GET work too."""
    async with PTBBot(fake.token, base_url=fake.base_url) as bot:
        with pytest.raises(BadRequest, match=r"(?i)not implemented"):
            await bot.do_api_request("sendPigeon", api_kwargs={"chat_id": 1})
    url = f"{fake.base_url}{fake.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/sendMessage",
            json={
                "chat_id": USER,
                "text": "json body",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]},
            },
        ) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["result"]["text"] == "json body"
        async with http.get(f"{url}/getMe") as resp:
            assert (await resp.json())["result"]["username"] == fake.bot_username
        form = aiohttp.FormData({"chat_id": str(USER), "text": "multipart"})
        form.add_field("document", b"data", filename="a.txt")
        async with http.post(f"{url}/sendMessage", data=form) as resp:
            assert resp.status == 200
    assert fake.calls_to("sendMessage")[-1].params["document"] == {"file": "a.txt"}
    assert [m["text"] for m in fake.sent(USER)] == ["json body", "multipart"]


# --------------------------------------------------------------------------- updates


async def test_get_updates_offset_limit_and_long_poll(fake: FakeTelegram, bot: PTBBot) -> None:
    """Offsets confirm updates, limit caps a batch, a push wakes a waiting poll."""
    ids = [fake.push_message(USER, f"m{i}")["update_id"] for i in range(3)]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == [ids[1]]
    assert [u.update_id for u in await bot.get_updates(offset=ids[2] + 1, timeout=0)] == []
    assert fake.pending_updates() == []

    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(offset=ids[2] + 1, timeout=10))
    await fake.wait_until(lambda: fake.polls_waiting == 1)
    fake.push_message(USER, "wake up")
    [update] = await poll
    assert update.message is not None and update.message.text == "wake up"
    assert loop.time() - started < 5

    fake.push_message(USER, "dropped by the filter")
    only = await bot.get_updates(
        offset=update.update_id + 1, timeout=0, allowed_updates=["callback_query"]
    )
    assert only == () and fake.pending_updates() == []
    kept = fake.push_message(USER, "delivered")
    [again] = await bot.get_updates(timeout=0, allowed_updates=[])
    assert again.update_id == kept["update_id"]


async def test_commands_delivered_through_application(fake: FakeTelegram) -> None:
    """/start in private and /help@bot in a group reach CommandHandlers; other bots' don't."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("welcome")

    async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        await update.effective_message.reply_text(f"help for {update.effective_chat.type}")

    async with running_app(fake, CommandHandler("start", start), CommandHandler("help", help_)):
        fake.push_message(USER, "/start")
        fake.push_message(GROUP, "/help@someone_else_bot", chat_type="group", user_id=42)
        fake.push_message(GROUP, f"/help@{fake.bot_username} now", chat_type="group", user_id=42)
        await fake.wait_for("sendMessage", count=2)
        await fake.wait_until(lambda: fake.pending_updates() == [])
    assert [m["text"] for m in fake.sent(USER)] == ["welcome"]
    assert [m["text"] for m in fake.sent(GROUP)] == ["help for group"]
    assert fake.calls_to("deleteWebhook")


async def test_forum_anonymous_admin_and_channel_post(fake: FakeTelegram) -> None:
    """PTB sees topic ids, anonymous admins and channel posts as Telegram sends them."""
    seen: list[Update] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        assert update.effective_message is not None
        await update.effective_message.reply_text("ack")

    async with running_app(fake, MessageHandler(filters.ALL, record)):
        fake.push_message(SUPERGROUP, "in a topic", thread_id=99, user_id=7)
        fake.push_message(GROUP, "/start", chat_type="group", sender_chat=True)
        fake.push_message(-1009999, "channel news", chat_type="channel")
        await fake.wait_for("sendMessage", count=3)

    topic, anon, post = seen
    assert topic.message is not None and topic.message.message_thread_id == 99
    assert topic.message.is_topic_message and topic.message.chat.is_forum
    assert fake.sent(SUPERGROUP)[0]["message_thread_id"] == 99  # reply_text kept the topic
    assert anon.message is not None and anon.message.sender_chat is not None
    assert anon.message.sender_chat.id == GROUP
    assert anon.message.from_user is not None and anon.message.from_user.id == ANONYMOUS_ADMIN_ID
    assert anon.message.entities[0].type == "bot_command"
    assert post.channel_post is not None and post.channel_post.from_user is None
    assert post.channel_post.sender_chat is not None
    assert post.channel_post.sender_chat.id == -1009999


async def test_callback_query_answered_is_tracked(fake: FakeTelegram) -> None:
    """A button press carries the bot's message; answering it clears unanswered_callbacks."""

    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            "page 1",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("next", callback_data="page:2")]]
            ),
        )

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer("loading")
        await query.edit_message_text(f"page {query.data.split(':')[1]}")  # type: ignore[union-attr]

    async with running_app(fake, CommandHandler("menu", menu), CallbackQueryHandler(on_button)):
        fake.push_message(USER, "/menu")
        [sent_call] = await fake.wait_for("sendMessage")
        assert sent_call.ok
        with pytest.raises(ValueError, match="no button"):
            fake.push_callback(USER, USER, "page:9")
        update = fake.push_callback(USER, USER, "page:2")
        assert update["callback_query"]["message"]["message_id"] == fake.sent(USER)[0]["message_id"]
        assert fake.unanswered_callbacks() == [update["callback_query"]["id"]]
        await fake.wait_for("editMessageText")
    assert fake.unanswered_callbacks() == []
    assert fake.callback_answers[update["callback_query"]["id"]]["text"] == "loading"
    assert fake.sent(USER)[0]["text"] == "page 2"


async def test_get_updates_502_then_polling_recovers(fake: FakeTelegram) -> None:
    """PTB's updater retries after a 502 and still delivers the update."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("still here")

    fake.fail_get_updates(1)
    async with running_app(fake, CommandHandler("start", start)):
        fake.push_message(USER, "/start")
        await fake.wait_for("sendMessage", timeout=8)
    [failed] = await fake.wait_for(lambda c: c.method == "getUpdates" and not c.ok)
    assert failed.status == 502
    statuses = [c.status for c in fake.calls_to("getUpdates")]
    assert statuses[0] == 502 and 200 in statuses
    assert fake.sent(USER)[0]["text"] == "still here"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("chat_id", "kind", "kwargs", "exc_type", "fragment"),
    [
        (USER, "blocked", {}, Forbidden, "blocked by the user"),
        (GROUP, "kicked", {}, Forbidden, "kicked from the group chat"),
        (SUPERGROUP, "kicked", {}, Forbidden, "kicked from the supergroup chat"),
        (-1001111, "not_member", {}, Forbidden, "not a member of the channel chat"),
        (USER, "not_found", {}, BadRequest, "chat not found"),
        (USER, "server_error", {"status": 500}, NetworkError, "internal server error"),
        (USER, "server_error", {"status": 502}, NetworkError, "bad gateway"),
    ],
)
async def test_injected_errors_map_to_ptb_exceptions(
    fake: FakeTelegram,
    bot: PTBBot,
    chat_id: int,
    kind: str,
    kwargs: dict[str, Any],
    exc_type: type[Exception],
    fragment: str,
) -> None:
    """Each injected error surfaces as the PTB exception an adapter must handle."""
    fake.set_chat_error(chat_id, kind, times=1, **kwargs)
    with pytest.raises(exc_type) as info:
        await bot.send_message(chat_id, "hello")
    assert not isinstance(info.value, BadRequest) or exc_type is BadRequest
    assert fragment in str(info.value).lower()
    await bot.send_message(chat_id, "hello again")  # times=1: next call goes through
    assert [m["text"] for m in fake.sent(chat_id)] == ["hello again"]
    assert fake.violations == []


async def test_migrated_group_raises_chat_migrated(fake: FakeTelegram, bot: PTBBot) -> None:
    """ChatMigrated carries the new id, which then works; the old id keeps failing."""
    new_id = -1004012345678
    fake.set_chat_error(GROUP, "migrated", new_chat_id=new_id)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(GROUP, "hi")
    assert info.value.new_chat_id == new_id
    msg = await bot.send_message(new_id, "hi")
    assert msg.chat.type == "supergroup"
    with pytest.raises(ChatMigrated):
        await bot.send_message(GROUP, "hi")


async def test_retry_after_and_slow_chat(fake: FakeTelegram, bot: PTBBot) -> None:
    """Injected 429 → RetryAfter; a slow answer → TimedOut on the client side."""
    fake.set_chat_error(USER, "retry_after", retry_after=7, times=1)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "x")
    assert retry_seconds(info.value) == 7
    assert fake.count_429 == 1

    fake.set_chat_error(USER, "slow", delay=3, times=1)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow", read_timeout=0.2)


# --------------------------------------------------------------------------- rate limits


async def test_rate_limit_per_chat_over_the_wire() -> None:
    """Two messages to one chat within a second: the second gets 429 → RetryAfter."""
    async with (
        FakeTelegram(rate_limit=True) as fake,
        PTBBot(fake.token, base_url=fake.base_url) as bot,
    ):
        await bot.send_message(USER, "one")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "two")
        assert retry_seconds(info.value) == 1
        await bot.send_message(USER + 1, "other chat is fine")
        assert fake.count_429 == 1
        assert [m["text"] for m in fake.sent(USER)] == ["one"]


async def test_rate_limit_windows_scale_and_refill() -> None:
    """With a fake clock: per-chat, per-group and global limits, scaled by time_scale."""
    now = [1000.0]
    async with (
        FakeTelegram(rate_limit=True, time_scale=0.1, clock=lambda: now[0]) as fake,
        PTBBot(fake.token, base_url=fake.base_url) as bot,
    ):
        await bot.send_message(USER, "a")
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "b")
        now[0] += 0.1  # one scaled second
        await bot.send_message(USER, "b")

        # 20 per scaled minute (6 s) per group; the per-chat limit is off for this part.
        fake.per_chat_per_second = None
        for i in range(20):
            await bot.send_message(GROUP, f"g{i}")  # the global bucket holds 30
        with pytest.raises(RetryAfter):
            await bot.send_message(GROUP, "g20")
        now[0] += 0.3  # refill rate is 20 / 6 s → one message per 0.3 s
        await bot.send_message(GROUP, "g20")

        # Global: 30 per scaled second across chats.
        now[0] += 1
        for i in range(30):
            await bot.send_message(10_000 + i, "spread")
        with pytest.raises(RetryAfter):
            await bot.send_message(20_000, "one too many")
        assert fake.count_429 == 3
        assert fake.limits_hit == {"chat": 1, "group": 1, "global": 1}
        assert fake.violations == []


async def test_many_messages_are_cheap(fake: FakeTelegram) -> None:
    """Sanity check for the benchmark: 1,000 concurrent sends are all recorded."""
    url = f"{fake.base_url}{fake.token}/sendMessage"
    async with aiohttp.ClientSession() as http:

        async def send(i: int) -> int:
            async with http.post(
                url, data={"chat_id": str(i % 50 + 1), "text": f"<b>{i}</b>", "parse_mode": "HTML"}
            ) as resp:
                return resp.status

        statuses = await asyncio.gather(*(send(i) for i in range(1000)))
    assert set(statuses) == {200}
    assert len(fake.sent()) == 1000 and len(fake.sent(1)) == 20
