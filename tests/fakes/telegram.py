"""Over-the-wire fake of the Telegram Bot API for tests and benchmarks.

``FakeTelegram`` is a small aiohttp server on 127.0.0.1 that speaks the Bot API
the way python-telegram-bot (PTB) expects: ``POST /bot{token}/{method}`` with
form-encoded (or multipart, or JSON) parameters, nested values as JSON strings,
answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
"description": ..., "parameters": {...}}``. A token other than ``fake.token``
gets 401 Unauthorized, like the real server.

It runs inside the test's event loop, so a bot under test (in-process or a
subprocess pointed at ``fake.base_url``) talks to it over real HTTP.

Typical test::

    @pytest.fixture
    async def fake():
        async with FakeTelegram() as fake:
            yield fake
            # Anything the real server would reject (bad HTML, >4096 chars,
            # 65-byte callback_data...) lands here: keep it empty.
            assert fake.violations == []

    async def test_hello(fake):
        app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
        ...
        fake.push_message(42, "/start")
        [call] = await fake.wait_for("sendMessage")
        assert fake.sent(42)[-1]["text"] == "hi"

Tests that provoke a violation on purpose call ``fake.take_violations()``.

Run standalone (prints the base URL, serves until Ctrl-C)::

    python -m tests.fakes.telegram --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import re
import signal
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from aiohttp import web

# Telegram's exact answer to an edit that changes nothing.
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)

__all__ = ["ANONYMOUS_ADMIN_ID", "Call", "FakeTelegram", "TelegramApiError", "validate_html"]

#: User id Telegram puts in ``from`` for messages of anonymous group admins.
ANONYMOUS_ADMIN_ID = 1087968824
#: User id Telegram puts in ``from`` for messages sent on behalf of a channel.
CHANNEL_BOT_ID = 136817688

MAX_TEXT = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200

_METHODS = (
    "getMe",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "getChatMember",
    "getChat",
    "getChatAdministrators",
    "sendChatAction",
    "close",
    "logOut",
    # Harmless setters a bot may call at startup; answering True beats a 400 in the logs.
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setChatMenuButton",
    "leaveChat",
    "pinChatMessage",
    "unpinChatMessage",
)
# Telegram method names are case-insensitive.
_CANON = {m.lower(): m for m in _METHODS}

_NESTED_KEYS = frozenset(
    {
        "reply_markup",
        "link_preview_options",
        "commands",
        "allowed_updates",
        "entities",
        "scope",
        "reply_parameters",
        "menu_button",
    }
)
_INT_KEYS = frozenset(
    {
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "message_thread_id",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
    }
)
# Never coerce these even if they look like "true" or a number.
_TEXT_KEYS = frozenset(
    {
        "text",
        "data",
        "callback_query_id",
        "url",
        "description",
        "short_description",
        "name",
        "secret_token",
        "language_code",
        "inline_message_id",
        "parse_mode",
        "action",
    }
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_CHAT_ERROR_KINDS = frozenset(
    {
        "blocked",
        "kicked",
        "not_member",
        "not_found",
        "migrated",
        "server_error",
        "retry_after",
        "slow",
    }
)


# --------------------------------------------------------------------------- HTML validation

_ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
        "span",
        "tg-emoji",
    }
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile(r"[<&]")
_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]*));")
# Mirrors TDLib: the tag name runs until whitespace or '>'.
_TAG_NAME = re.compile(r"<(/?)([^\s>]*)")
_ATTR = re.compile(r"""\s*([A-Za-z_][\w-]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_attrs(attrs: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    pos, end = 0, len(attrs.rstrip())
    while pos < end:
        m = _ATTR.match(attrs, pos)
        if m is None or m.end() == pos:
            return None
        value = m.group(2) or ""
        if value[:1] in "\"'":
            value = value[1:-1]
        out[m.group(1).lower()] = value
        pos = m.end()
    return out


def validate_html(text: str) -> tuple[str | None, str]:
    """Check ``text`` the way Telegram parses ``parse_mode=HTML``.

    Returns ``(error, plain_text)``: ``error`` is None when the text parses, else
    the part after "Bad Request: can't parse entities: ".  Stricter than Telegram
    on one point on purpose: a bare ``&`` that does not start a valid entity is an
    error (Telegram silently keeps it, which hides missing escaping).
    """
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _SPECIAL.search(text, pos)
        if m is None:
            out.append(text[pos:])
            break
        i = m.start()
        if i > pos:
            out.append(text[pos:i])
        if text[i] == "&":
            em = _ENTITY.match(text, i)
            if em is None:
                return (
                    f"Character '&' at byte offset {_byte_offset(text, i)} must be escaped "
                    "as &amp;",
                    "",
                )
            dec, hexa, name = em.groups()
            if name is not None:
                ch = _NAMED_ENTITIES.get(name)
                if ch is None:
                    return (
                        f'Unsupported HTML entity "&{name};" at byte offset '
                        f"{_byte_offset(text, i)}",
                        "",
                    )
            else:
                cp = int(dec) if dec is not None else int(hexa, 16)
                if not 0 < cp <= 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                    at = _byte_offset(text, i)
                    return (f"Invalid character reference at byte offset {at}", "")
                ch = chr(cp)
            out.append(ch)
            pos = em.end()
            continue
        tm = _TAG_NAME.match(text, i)
        assert tm is not None  # the pattern matches any '<'
        closing, raw_name = tm.groups()
        name = raw_name.lower()
        gt = text.find(">", tm.end())
        if closing:
            if gt < 0:
                return (f"Unclosed end tag at byte offset {_byte_offset(text, i)}", "")
            if not stack:
                return (f"Unexpected end tag at byte offset {_byte_offset(text, i)}", "")
            if name != stack[-1]:
                return (
                    f"Unmatched end tag at byte offset {_byte_offset(text, i)}, expected "
                    f'"</{stack[-1]}>", found "</{name}>"',
                    "",
                )
            stack.pop()
        else:
            if tm.end() == n:
                return (f"Unclosed start tag at byte offset {_byte_offset(text, i)}", "")
            if name not in _ALLOWED_TAGS:
                return (
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}',
                    "",
                )
            if gt < 0:
                return (f"Unclosed start tag at byte offset {_byte_offset(text, i)}", "")
            attrs = text[tm.end() : gt]
            if attrs.strip() or name in ("span", "tg-emoji"):
                parsed = _parse_attrs(attrs)
                if parsed is None:
                    return (
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{name}" at byte offset {_byte_offset(text, i)}',
                        "",
                    )
                if name == "span" and parsed.get("class") != "tg-spoiler":
                    return ('Tag "span" must have class "tg-spoiler"', "")
                if name == "tg-emoji" and not parsed.get("emoji-id"):
                    return ('Tag "tg-emoji" must have attribute "emoji-id"', "")
            stack.append(name)
        pos = gt + 1
    if stack:
        return (f'Can\'t find end tag corresponding to start tag "{stack[-1]}"', "")
    return None, "".join(out)


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class Call:
    """One request the fake received (kept compact: the benchmark makes thousands)."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    ts: float
    status: int = 200
    description: str | None = None
    #: False while the fake is still working on it (long polls, "slow" chats).
    done: bool = False

    @property
    def ok(self) -> bool:
        """True when the fake answered 2xx."""
        return self.status < 300


class TelegramApiError(Exception):
    """Raised inside the fake to produce an ``ok: false`` answer."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass(slots=True)
class _ChatError:
    kind: str
    times: int | None
    retry_after: int
    new_chat_id: int | None
    delay: float
    status: int


class _Bucket:
    """Token bucket: O(1) per check, no per-call allocation."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, capacity: float, rate: float, now: float):
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.last = now

    def wait(self, now: float, slack: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0 - slack:
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _RateState:
    global_bucket: _Bucket | None = None
    chats: dict[int | str, _Bucket] = field(default_factory=dict)
    groups: dict[int | str, _Bucket] = field(default_factory=dict)


# --------------------------------------------------------------------------- the fake


class FakeTelegram:
    """In-process fake Telegram Bot API server (see the module docstring)."""

    def __init__(
        self,
        *,
        bot_username: str = "paperbot_test_bot",
        bot_id: int = 7000000001,
        bot_name: str = "PaperBot",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: bool = False,
        per_second_global: float | None = 30,
        per_chat_per_second: float | None = 1,
        per_chat_burst: int = 1,
        per_group_per_minute: float | None = 20,
        time_scale: float = 1.0,
        rate_slack: float = 0.05,
        strict_chats: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Configure the fake; nothing listens until ``start()``.

        Rate limits only apply when ``rate_limit`` is true; a limit set to None is
        off.  ``time_scale`` shrinks every window (0.1: a second lasts 0.1 s, a
        minute 6 s).  ``rate_slack`` is the fraction of a token forgiven, so that
        a client pacing itself exactly at the limit is not punished for network
        jitter.  ``strict_chats`` makes unknown chat ids fail with "chat not found"
        instead of being created on first use.  ``clock`` drives timestamps and
        rate windows (inject one to test rate limits without sleeping).
        """
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.token = f"{bot_id}:AAFakeTelegramTokenForTests0000000"
        self.host = host
        self.port = port
        self.rate_limit = rate_limit
        self.per_second_global = per_second_global
        self.per_chat_per_second = per_chat_per_second
        self.per_chat_burst = per_chat_burst
        self.per_group_per_minute = per_group_per_minute
        self.time_scale = time_scale
        self.rate_slack = rate_slack
        self.strict_chats = strict_chats
        self.clock = clock

        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.count_429 = 0
        # Which limit each rate 429 broke ("global", "chat", "group"), for failure messages.
        self.limits_hit: Counter[str] = Counter()
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.webhook_url = ""
        self.webhook_params: dict[str, Any] = {}

        self._by_method: dict[str, list[Call]] = {}
        # Answered calls in completion order: wait_for scans it incrementally.
        self._finished: list[Call] = []
        #: getUpdates requests currently parked in a long poll.
        self.polls_waiting = 0
        self._sent: dict[int | str, list[dict[str, Any]]] = {}
        self._sent_all: list[dict[str, Any]] = []
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._next_message_id: dict[int | str, int] = {}
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._members: dict[int | str, dict[int, dict[str, Any]]] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._chat_errors: dict[int | str, _ChatError] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._pending: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._fail_get_updates = 0
        self._fail_get_updates_status = 502
        self._rate = _RateState()

        self._update_event = asyncio.Event()
        self._changed = asyncio.Event()
        self._waiters = 0
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        """Server root, e.g. for a setting like ``telegram_api_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_url`` / ``Bot(base_url=...)``."""
        return f"{self.api_url}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_file_url`` (files are not served)."""
        return f"{self.api_url}/file/bot"

    async def start(self) -> Self:
        """Bind a free port (unless one was given) and start serving."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # The default shutdown timeout is 60 s; long polls are woken on stop anyway.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Wake long polls and slow answers, then close the server."""
        self._closing.set()
        self._wake_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        """All calls of ``method`` (case-insensitive), failed ones included."""
        return list(self._by_method.get(_CANON.get(method.lower(), method), ()))

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent to ``chat_id`` (all chats if None), oldest first.

        Each dict has message_id, chat_id, text (as sent), plain_text (after
        entity parsing), parse_mode, reply_markup, message_thread_id,
        link_preview_options, disable_web_page_preview, date; edits update it in
        place (``edits`` counts them) and deleteMessage sets ``deleted``.
        """
        if chat_id is None:
            return list(self._sent_all)
        return list(self._sent.get(chat_id, ()))

    @property
    def errors(self) -> list[Call]:
        """Calls answered with an error (violations, injected errors, 429s...)."""
        return [c for c in self.calls if c.status >= 300]

    def take_violations(self) -> list[str]:
        """Return and clear ``violations`` (for tests that provoke them on purpose)."""
        out = list(self.violations)
        self.violations.clear()
        return out

    def unanswered_callbacks(self) -> list[str]:
        """Ids of pushed callback queries the bot has not answered yet."""
        return [cid for cid in self._callbacks if cid not in self.callback_answers]

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The command list set for ``scope`` (default scope) and language."""
        return list(self._commands.get((_scope_key(scope), language_code), ()))

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._pending)

    async def wait_for(
        self,
        what: str | Callable[[Call], bool],
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Call]:
        """Wait until ``count`` answered calls match; return them, oldest first.

        ``what`` is a method name (every attempt counts, failed ones too: check
        ``Call.ok``) or a predicate on ``Call``.  Only calls the fake has finished
        answering count, so ``sent()`` and ``Call.status`` are final when this
        returns.  Raises AssertionError on timeout.
        """
        if isinstance(what, str):
            key = _CANON.get(what.lower(), what)

            def by_name(c: Call) -> bool:
                return c.method == key

            match: Callable[[Call], bool] = by_name
            label = f"{count} x {key}"
        else:
            match = what
            label = f"{count} calls matching {getattr(what, '__name__', what)!r}"
        matched: list[Call] = []
        scanned = 0

        def check() -> list[Call] | None:
            nonlocal scanned
            finished = self._finished
            while scanned < len(finished) and len(matched) < count:
                if match(finished[scanned]):
                    matched.append(finished[scanned])
                scanned += 1
            return list(matched) if len(matched) >= count else None

        found: list[Call] = await self._wait(check, timeout, label)
        return found

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 5.0,
    ) -> None:
        """Wait until ``condition()`` is true; re-checked after every call and push."""
        await self._wait(lambda: True if condition() else None, timeout, repr(condition))

    async def _wait(
        self,
        check: Callable[[], Any],
        timeout: float,
        label: str,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}:{c.status}" for c in self.calls[-10:])
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {label}; last calls: [{recent}]"
                )
            event = self._changed
            self._waiters += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._waiters -= 1

    def _notify(self) -> None:
        if self._waiters:
            self._changed.set()
            self._changed = asyncio.Event()

    # ------------------------------------------------------------------ configuration

    def add_chat(
        self,
        chat_id: int | str,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        is_forum: bool | None = None,
    ) -> dict[str, Any]:
        """Create or update a chat; returns its Telegram ``Chat`` dict."""
        chat = self._chats.get(chat_id)
        if chat is None:
            ctype = chat_type or _infer_chat_type(chat_id)
            chat = {"id": chat_id, "type": ctype}
            if ctype == "private":
                user = self._user(chat_id) if isinstance(chat_id, int) else {}
                chat["first_name"] = first_name or user.get("first_name", f"User{chat_id}")
                if user.get("username"):
                    chat["username"] = user["username"]
            else:
                chat["title"] = title or f"Chat {chat_id}"
            self._chats[chat_id] = chat
        elif chat_type is not None and chat["type"] != chat_type:
            chat["type"] = chat_type
            if chat_type != "private":
                chat.setdefault("title", title or f"Chat {chat_id}")
        if title is not None and chat["type"] != "private":
            chat["title"] = title
        if first_name is not None and chat["type"] == "private":
            chat["first_name"] = first_name
        if username is not None:
            chat["username"] = username
        if is_forum is not None:
            if is_forum:
                chat["is_forum"] = True
            else:
                chat.pop("is_forum", None)
        return chat

    def add_user(
        self,
        user_id: int,
        *,
        username: str | None = None,
        first_name: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Create or update a user; returns its Telegram ``User`` dict."""
        user = self._users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": is_bot, "first_name": first_name or f"User{user_id}"}
            if username is None and not is_bot:
                username = f"user{user_id}"
            self._users[user_id] = user
        if first_name is not None:
            user["first_name"] = first_name
        if username is not None:
            user["username"] = username
        if language_code is not None and not user["is_bot"]:
            user["language_code"] = language_code
        return user

    def set_member(
        self,
        chat_id: int | str,
        user_id: int,
        status: str,
        *,
        is_anonymous: bool = False,
        custom_title: str | None = None,
    ) -> None:
        """Set ``user_id``'s status in ``chat_id`` (creator, administrator, member, ...)."""
        if status not in _MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        self._members.setdefault(chat_id, {})[user_id] = {
            "status": status,
            "is_anonymous": is_anonymous,
            "custom_title": custom_title,
        }

    def set_chat_error(
        self,
        chat_id: int | str,
        kind: str,
        *,
        times: int | None = None,
        retry_after: int = 1,
        new_chat_id: int | None = None,
        delay: float = 1.0,
        status: int = 500,
    ) -> None:
        """Make calls that target ``chat_id`` fail ``times`` times (None: until cleared).

        Kinds: blocked, kicked, not_member, not_found (403/400 with Telegram's
        strings), migrated (400 + migrate_to_chat_id=new_chat_id, default
        -100<id>; the new id then works), server_error (``status``, 500 or 502),
        retry_after (429 + retry_after), slow (answer normally after ``delay`` s).
        """
        if kind not in _CHAT_ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        if kind == "migrated":
            if new_chat_id is None:
                new_chat_id = int(f"-100{abs(int(chat_id))}")
            old = self._chats.get(chat_id, {})
            self.add_chat(new_chat_id, "supergroup", title=old.get("title"))
        self._chat_errors[chat_id] = _ChatError(
            kind, times, retry_after, new_chat_id, delay, status
        )

    def clear_chat_error(self, chat_id: int | str) -> None:
        """Remove an injected error for ``chat_id``."""
        self._chat_errors.pop(chat_id, None)

    def fail_get_updates(self, times: int = 1, status: int = 502) -> None:
        """Answer the next ``times`` getUpdates calls with ``status`` (default 502)."""
        self._fail_get_updates = times
        self._fail_get_updates_status = status

    # ------------------------------------------------------------------ injecting updates

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is assigned); returns it."""
        update = {"update_id": next(self._update_ids), **update}
        self._pending.append(update)
        self._wake_pollers()
        self._notify()
        return update

    def push_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        chat_type: str | None = None,
        user_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
        title: str | None = None,
        thread_id: int | None = None,
        sender_chat: bool | int | None = None,
        reply_to_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        edited: bool = False,
    ) -> dict[str, Any]:
        """Queue a user's text message (or a channel post) and return the update.

        ``thread_id`` makes it a forum-topic message (the chat becomes a forum
        supergroup).  ``sender_chat=True`` (or the group's own id) is an anonymous
        admin; another id is a message sent on behalf of that channel.  In a
        channel (``chat_type="channel"``) the update is a ``channel_post`` with no
        ``from``.  A leading ``/cmd`` or ``/cmd@bot`` gets a ``bot_command`` entity.
        """
        if thread_id is not None and chat_type is None:
            chat_type = "supergroup"
        known = self._chats.get(chat_id)
        guess = chat_type or (known["type"] if known else _infer_chat_type(chat_id))
        chat = self.add_chat(
            chat_id,
            chat_type,
            title=title,
            first_name=first_name if guess == "private" else None,
            is_forum=True if thread_id is not None else None,
        )
        ctype = chat["type"]
        msg: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
        }
        if ctype == "channel":
            msg["sender_chat"] = chat
        elif sender_chat is True or sender_chat == chat_id:
            msg["from"] = self.add_user(
                ANONYMOUS_ADMIN_ID, username="GroupAnonymousBot", first_name="Group", is_bot=True
            )
            msg["sender_chat"] = chat
        elif sender_chat is not None:
            msg["from"] = self.add_user(
                CHANNEL_BOT_ID, username="Channel_Bot", first_name="Channel", is_bot=True
            )
            msg["sender_chat"] = self.add_chat(sender_chat, "channel")
        else:
            uid = user_id if user_id is not None else (chat_id if ctype == "private" else 424242)
            if not isinstance(uid, int):
                raise ValueError("user_id must be an int")
            msg["from"] = self.add_user(uid, username=username, first_name=first_name)
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        if reply_to_message_id is not None:
            replied = self._messages.get((chat_id, reply_to_message_id))
            if replied is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            msg["reply_to_message"] = replied.get("json") or self._bot_message_json(replied)
        msg["text"] = text
        if entities is None:
            entities = _command_entities(text)
        if entities:
            msg["entities"] = entities
        if edited:
            msg["edit_date"] = msg["date"]
        self._messages[(chat_id, msg["message_id"])] = {"json": msg}
        if ctype == "channel":
            key = "edited_channel_post" if edited else "channel_post"
        else:
            key = "edited_message" if edited else "message"
        return self.push_update({key: msg})

    def push_callback(
        self,
        chat_id: int | str,
        user_id: int,
        data: str,
        message_id: int | None = None,
        *,
        username: str | None = None,
        require_button: bool = True,
    ) -> dict[str, Any]:
        """Queue a button press on a message the bot sent (default: its last one).

        With ``require_button`` the data must be one of that message's
        ``callback_data`` values, as a real client can only send those.
        """
        records = self._sent.get(chat_id, ())
        if message_id is None:
            if not records:
                raise ValueError(f"the bot sent nothing to chat {chat_id}")
            rec = records[-1]
        else:
            found = self._messages.get((chat_id, message_id))
            if found is None or "json" in found:
                raise ValueError(f"no bot message {message_id} in chat {chat_id}")
            rec = found
        if require_button:
            datas = [
                b.get("callback_data")
                for row in (rec.get("reply_markup") or {}).get("inline_keyboard", ())
                for b in row
            ]
            if data not in datas:
                raise ValueError(
                    f"message {rec['message_id']} has no button with data "
                    f"{data!r} (buttons: {datas})"
                )
        cid = f"{self.bot_id}{next(self._callback_ids):08d}"
        query = {
            "id": cid,
            "from": self.add_user(user_id, username=username),
            "chat_instance": str(abs(hash((chat_id, self.bot_id)))),
            "message": self._bot_message_json(rec),
            "data": data,
        }
        self._callbacks[cid] = query
        return self.push_update({"callback_query": query})

    def push_my_chat_member(
        self, chat_id: int | str, old_status: str, new_status: str, *, user_id: int = 424242
    ) -> dict[str, Any]:
        """Queue a ``my_chat_member`` update (bot added to / removed from a chat)."""
        chat = self.add_chat(chat_id)
        bot = self._bot_user()
        return self.push_update(
            {
                "my_chat_member": {
                    "chat": chat,
                    "from": self.add_user(user_id),
                    "date": int(time.time()),
                    "old_chat_member": _member_json(bot, {"status": old_status}),
                    "new_chat_member": _member_json(bot, {"status": new_status}),
                }
            }
        )

    def _wake_pollers(self) -> None:
        self._update_event.set()
        self._update_event = asyncio.Event()

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        method = _CANON.get(raw_method.lower(), raw_method)
        try:
            params = await _read_params(request)
        except ValueError as exc:
            return _error_response(400, f"Bad Request: {exc}", None)
        chat_id = _norm_chat_id(params.get("chat_id"))
        if chat_id is not None:
            params["chat_id"] = chat_id
        call = Call(method, params, chat_id, self.clock())
        self.calls.append(call)
        self._by_method.setdefault(method, []).append(call)
        self._notify()
        response: web.Response | None = None
        try:
            if request.match_info["token"] != self.token:
                # What the real server answers for a well-formed but wrong token.
                raise TelegramApiError(401, "Unauthorized")
            handler = self._handlers.get(method)
            if handler is None:
                raise TelegramApiError(
                    400, f"Bad Request: method {raw_method!r} is not implemented by FakeTelegram"
                )
            if chat_id is not None and self._chat_errors:
                await self._apply_chat_error(method, chat_id)
            result = handler(self, params, call)
            if asyncio.iscoroutine(result):
                result = await result
            response = web.Response(
                body=json.dumps({"ok": True, "result": result}, separators=(",", ":")),
                content_type="application/json",
            )
        except (ValueError, TypeError) as exc:
            # Malformed parameters (e.g. offset="abc"): Telegram answers 400, so do we.
            call.status, call.description = 400, f"Bad Request: {exc}"
            response = _error_response(400, call.description, None)
        except TelegramApiError as exc:
            call.status = exc.code
            call.description = exc.description
            if exc.code == 429:
                self.count_429 += 1
            response = _error_response(exc.code, exc.description, exc.parameters)
        finally:
            call.done = True
            self._finished.append(call)
            self._notify()
        return response

    async def _apply_chat_error(self, method: str, chat_id: int | str) -> None:
        err = self._chat_errors.get(chat_id)
        if err is None:
            return
        if err.times is not None:
            err.times -= 1
            if err.times <= 0:
                del self._chat_errors[chat_id]
        kind = err.kind
        if kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), err.delay)
            return
        if kind == "blocked":
            raise TelegramApiError(403, "Forbidden: bot was blocked by the user")
        if kind == "kicked":
            ctype = self._chats.get(chat_id, {}).get("type") or _infer_chat_type(chat_id)
            where = "group" if ctype in ("group", "private") else ctype
            raise TelegramApiError(403, f"Forbidden: bot was kicked from the {where} chat")
        if kind == "not_member":
            raise TelegramApiError(403, "Forbidden: bot is not a member of the channel chat")
        if kind == "not_found":
            raise TelegramApiError(400, "Bad Request: chat not found")
        if kind == "migrated":
            raise TelegramApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": err.new_chat_id},
            )
        if kind == "server_error":
            text = "Bad Gateway" if err.status == 502 else "Internal Server Error"
            raise TelegramApiError(err.status, text)
        if kind == "retry_after":
            raise TelegramApiError(
                429,
                f"Too Many Requests: retry after {err.retry_after}",
                {"retry_after": err.retry_after},
            )

    def _violation(self, call: Call, description: str, code: int = 400) -> TelegramApiError:
        self.violations.append(f"{call.method}(chat_id={call.chat_id}): {description}")
        return TelegramApiError(code, description)

    # ------------------------------------------------------------------ helpers

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return self._bot_user()
        return self._users.get(user_id) or self.add_user(user_id)

    def _chat(self, chat_id: int | str | None) -> dict[str, Any]:
        if chat_id is None:
            raise TelegramApiError(400, "Bad Request: chat_id is empty")
        chat = self._chats.get(chat_id)
        if chat is not None:
            return chat
        if isinstance(chat_id, str):
            for c in self._chats.values():
                if "@" + c.get("username", "") == chat_id:
                    return c
            raise TelegramApiError(400, "Bad Request: chat not found")
        if self.strict_chats:
            raise TelegramApiError(400, "Bad Request: chat not found")
        return self.add_chat(chat_id)

    def _new_message_id(self, chat_id: int | str) -> int:
        mid = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = mid
        return mid

    def _bot_message_json(self, rec: dict[str, Any]) -> dict[str, Any]:
        chat = self._chats[rec["chat_id"]]
        msg: dict[str, Any] = {"message_id": rec["message_id"], "date": rec["date"], "chat": chat}
        if chat["type"] == "channel":
            msg["sender_chat"] = chat
        else:
            msg["from"] = self._bot_user()
        if rec.get("message_thread_id") is not None:
            msg["message_thread_id"] = rec["message_thread_id"]
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        msg["text"] = rec["plain_text"]
        if rec.get("reply_markup") and "inline_keyboard" in rec["reply_markup"]:
            msg["reply_markup"] = rec["reply_markup"]
        if rec.get("edits"):
            msg["edit_date"] = rec["edit_date"]
        return msg

    def _check_text(self, call: Call, text: Any, parse_mode: Any) -> str:
        if not isinstance(text, str) or text == "":
            raise self._violation(call, "Bad Request: message text is empty")
        plain = text
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            err, plain = validate_html(text)
            if err is not None:
                raise self._violation(call, f"Bad Request: can't parse entities: {err}")
        if len(plain) > MAX_TEXT:
            raise self._violation(call, "Bad Request: message is too long")
        if not plain.strip():
            raise self._violation(call, "Bad Request: message text is empty")
        return plain

    def _check_markup(self, call: Call, markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise self._violation(
                call, "Bad Request: can't parse reply keyboard markup JSON object"
            )
        rows = markup.get("inline_keyboard")
        if rows is None:
            return
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise self._violation(
                call,
                "Bad Request: can't parse inline keyboard button: "
                "InlineKeyboardButton must be an Object",
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise self._violation(
                        call,
                        "Bad Request: can't parse inline keyboard button: "
                        'Field "text" must be of type String',
                    )
                actions = [k for k in _BUTTON_ACTIONS if k in button]
                if not actions:
                    raise self._violation(
                        call,
                        "Bad Request: can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard",
                    )
                if len(actions) > 1:
                    raise self._violation(
                        call,
                        "Bad Request: can't parse inline keyboard button: "
                        f"exactly one of {actions} must be set",
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    size = len(data.encode("utf-8")) if isinstance(data, str) else 0
                    if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                        raise self._violation(call, "Bad Request: BUTTON_DATA_INVALID")
                elif "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not url.startswith(
                        ("http://", "https://", "tg://")
                    ):
                        raise self._violation(call, "Bad Request: BUTTON_URL_INVALID")

    def _check_rate(self, chat_id: int | str) -> None:
        now = self.clock()
        scale = self.time_scale
        slack = self.rate_slack
        state = self._rate
        buckets: dict[str, _Bucket] = {}
        if self.per_second_global:
            if state.global_bucket is None:
                state.global_bucket = _Bucket(
                    self.per_second_global, self.per_second_global / scale, now
                )
            buckets["global"] = state.global_bucket
        if self.per_chat_per_second:
            b = state.chats.get(chat_id)
            if b is None:
                b = state.chats[chat_id] = _Bucket(
                    self.per_chat_burst, self.per_chat_per_second / scale, now
                )
            buckets["chat"] = b
        if self.per_group_per_minute and isinstance(chat_id, int) and chat_id < 0:
            b = state.groups.get(chat_id)
            if b is None:
                b = state.groups[chat_id] = _Bucket(
                    self.per_group_per_minute, self.per_group_per_minute / (60 * scale), now
                )
            buckets["group"] = b
        waits = {name: b.wait(now, slack) for name, b in buckets.items()}
        wait = max(waits.values(), default=0.0)
        if wait > 0:
            self.limits_hit.update(name for name, each in waits.items() if each > 0)
            retry = max(1, math.ceil(wait))
            raise TelegramApiError(
                429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
            )
        for b in buckets.values():
            b.tokens -= 1.0

    # ------------------------------------------------------------------ API methods

    def _get_me(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _set_my_commands(self, p: dict[str, Any], call: Call) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise self._violation(call, "Bad Request: commands must be an Array")
        if len(commands) > 100:
            raise self._violation(call, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        clean = []
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_RE.fullmatch(str(c.get("command", ""))):
                raise self._violation(call, "Bad Request: BOT_COMMAND_INVALID")
            desc = c.get("description")
            if not isinstance(desc, str) or not 1 <= len(desc) <= 256:
                raise self._violation(call, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": c["command"], "description": desc})
        key = (_scope_key(p.get("scope")), str(p.get("language_code") or ""))
        self._commands[key] = clean
        return True

    def _get_my_commands(self, p: dict[str, Any], call: Call) -> list[dict[str, str]]:
        key = (_scope_key(p.get("scope")), str(p.get("language_code") or ""))
        return list(self._commands.get(key, ()))

    def _delete_my_commands(self, p: dict[str, Any], call: Call) -> bool:
        key = (_scope_key(p.get("scope")), str(p.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    def _delete_webhook(self, p: dict[str, Any], call: Call) -> bool:
        self.webhook_url = ""
        self.webhook_params = {}
        if p.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _set_webhook(self, p: dict[str, Any], call: Call) -> bool:
        url = p.get("url") or ""
        if url and not url.startswith("https://"):
            # Real Telegram only accepts HTTPS; tests of webhook setup get the same answer.
            raise TelegramApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self.webhook_url = url
        self.webhook_params = dict(p)
        if p.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    async def _get_updates(self, p: dict[str, Any], call: Call) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise TelegramApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        if self._fail_get_updates > 0:
            self._fail_get_updates -= 1
            status = self._fail_get_updates_status
            raise TelegramApiError(status, "Bad Gateway" if status == 502 else "Server Error")
        offset = int(p.get("offset") or 0)
        limit = min(100, max(1, int(p.get("limit") or 100)))
        timeout = max(0.0, float(p.get("timeout") or 0))
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        self._poll_generation += 1
        generation = self._poll_generation
        # A newer poll terminates the older one, like the real server (409 below).
        self._wake_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._confirm(offset)
            batch = self._take(limit)
            if batch or self._closing.is_set():
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._update_event
            self.polls_waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self.polls_waiting -= 1
            if generation != self._poll_generation:
                raise TelegramApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    def _confirm(self, offset: int) -> None:
        pending = self._pending
        if offset < 0:
            while len(pending) > -offset:
                pending.popleft()
        elif offset:
            while pending and pending[0]["update_id"] < offset:
                pending.popleft()

    def _deliverable(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        allowed = self._allowed_updates
        if allowed is not None:
            return kind in allowed
        return kind not in _DEFAULT_EXCLUDED_UPDATES

    def _take(self, limit: int) -> list[dict[str, Any]]:
        pending = self._pending
        if not all(map(self._deliverable, pending)):
            # The real server never delivers filtered-out updates; forget them.
            self._pending = pending = deque(filter(self._deliverable, pending))
        return list(itertools.islice(pending, limit))

    def _send_message(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        chat_id = call.chat_id
        plain = self._check_text(call, p.get("text"), p.get("parse_mode"))
        markup = p.get("reply_markup")
        self._check_markup(call, markup)
        chat = self._chat(chat_id)
        chat_id = chat["id"]
        reply_to = p.get("reply_to_message_id")
        rp = p.get("reply_parameters")
        if isinstance(rp, dict):
            reply_to = rp.get("message_id")
        if reply_to is not None and (chat_id, reply_to) not in self._messages:
            allow = p.get("allow_sending_without_reply") or (
                isinstance(rp, dict) and rp.get("allow_sending_without_reply")
            )
            if not allow:
                raise TelegramApiError(400, "Bad Request: message to be replied not found")
        if self.rate_limit:
            self._check_rate(chat_id)
        rec: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "chat_id": chat_id,
            "date": int(time.time()),
            "text": p["text"],
            "plain_text": plain,
            "parse_mode": p.get("parse_mode"),
            "reply_markup": markup,
            "message_thread_id": p.get("message_thread_id"),
            "link_preview_options": p.get("link_preview_options"),
            "disable_web_page_preview": p.get("disable_web_page_preview"),
        }
        self._sent.setdefault(chat_id, []).append(rec)
        self._sent_all.append(rec)
        self._messages[(chat_id, rec["message_id"])] = rec
        return self._bot_message_json(rec)

    def _find_bot_message(self, p: dict[str, Any], call: Call, what: str) -> dict[str, Any]:
        if p.get("inline_message_id"):
            raise TelegramApiError(
                400, "Bad Request: inline messages are not supported by the fake"
            )
        chat = self._chat(call.chat_id)
        rec = self._messages.get((chat["id"], p.get("message_id")))  # type: ignore[arg-type]
        if rec is None or rec.get("deleted"):
            raise TelegramApiError(400, f"Bad Request: message to {what} not found")
        if "json" in rec:
            if what == "delete":
                return rec
            raise TelegramApiError(400, "Bad Request: message can't be edited")
        return rec

    def _edit_message_text(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        plain = self._check_text(call, p.get("text"), p.get("parse_mode"))
        markup = p.get("reply_markup")
        self._check_markup(call, markup)
        rec = self._find_bot_message(p, call, "edit")
        if (
            rec["text"] == p["text"]
            and rec["parse_mode"] == p.get("parse_mode")
            and rec["reply_markup"] == markup
        ):
            raise TelegramApiError(400, NOT_MODIFIED)
        if self.rate_limit:
            self._check_rate(rec["chat_id"])
        rec.update(
            text=p["text"],
            plain_text=plain,
            parse_mode=p.get("parse_mode"),
            reply_markup=markup,
            edits=rec.get("edits", 0) + 1,
            edit_date=int(time.time()),
        )
        if "link_preview_options" in p:
            rec["link_preview_options"] = p["link_preview_options"]
        return self._bot_message_json(rec)

    def _edit_message_reply_markup(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        markup = p.get("reply_markup")
        self._check_markup(call, markup)
        rec = self._find_bot_message(p, call, "edit")
        if rec["reply_markup"] == markup:
            raise TelegramApiError(400, NOT_MODIFIED)
        if self.rate_limit:
            self._check_rate(rec["chat_id"])
        rec.update(reply_markup=markup, edits=rec.get("edits", 0) + 1, edit_date=int(time.time()))
        return self._bot_message_json(rec)

    def _delete_message(self, p: dict[str, Any], call: Call) -> bool:
        rec = self._find_bot_message(p, call, "delete")
        rec["deleted"] = True
        return True

    def _answer_callback_query(self, p: dict[str, Any], call: Call) -> bool:
        cid = p.get("callback_query_id")
        if cid not in self._callbacks:
            raise TelegramApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if cid in self.callback_answers:
            raise self._violation(
                call,
                "Bad Request: query is too old and response timeout "
                "expired or query ID is invalid (answered twice)",
            )
        text = p.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER:
            raise self._violation(call, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[cid] = p
        return True

    def _get_chat_member(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        chat = self._chat(call.chat_id)
        user_id = p.get("user_id")
        if not isinstance(user_id, int):
            raise TelegramApiError(400, "Bad Request: invalid user_id specified")
        info = self._members.get(chat["id"], {}).get(user_id) or {"status": "member"}
        return _member_json(self._user(user_id), info)

    def _get_chat_administrators(self, p: dict[str, Any], call: Call) -> list[dict[str, Any]]:
        chat = self._chat(call.chat_id)
        return [
            _member_json(self._user(uid), info)
            for uid, info in self._members.get(chat["id"], {}).items()
            if info["status"] in ("creator", "administrator")
        ]

    def _get_chat(self, p: dict[str, Any], call: Call) -> dict[str, Any]:
        chat = self._chat(call.chat_id)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _send_chat_action(self, p: dict[str, Any], call: Call) -> bool:
        self._chat(call.chat_id)
        if p.get("action") not in _CHAT_ACTIONS:
            raise self._violation(call, "Bad Request: wrong parameter action in request")
        return True

    def _true(self, p: dict[str, Any], call: Call) -> bool:
        return True

    _handlers: ClassVar[dict[str, Callable[..., Any]]] = {
        "getMe": _get_me,
        "setMyCommands": _set_my_commands,
        "getMyCommands": _get_my_commands,
        "deleteMyCommands": _delete_my_commands,
        "deleteWebhook": _delete_webhook,
        "setWebhook": _set_webhook,
        "getWebhookInfo": _get_webhook_info,
        "getUpdates": _get_updates,
        "sendMessage": _send_message,
        "editMessageText": _edit_message_text,
        "editMessageReplyMarkup": _edit_message_reply_markup,
        "deleteMessage": _delete_message,
        "answerCallbackQuery": _answer_callback_query,
        "getChatMember": _get_chat_member,
        "getChat": _get_chat,
        "getChatAdministrators": _get_chat_administrators,
        "sendChatAction": _send_chat_action,
        "close": _true,
        "logOut": _true,
        "setMyDescription": _true,
        "setMyShortDescription": _true,
        "setMyName": _true,
        "setChatMenuButton": _true,
        "leaveChat": _true,
        "pinChatMessage": _true,
        "unpinChatMessage": _true,
    }


# --------------------------------------------------------------------------- module helpers


def _error_response(code: int, description: str, parameters: dict[str, Any] | None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.Response(status=code, body=json.dumps(body), content_type="application/json")


async def _read_params(request: web.Request) -> dict[str, Any]:
    raw: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("request body must be a JSON object")
            raw.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                name = getattr(value, "filename", None)
                raw[key] = value if isinstance(value, str) else {"file": name}
    return {k: _decode_value(k, v) for k, v in raw.items()}


def _decode_value(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _TEXT_KEYS:
        return value
    if key in _NESTED_KEYS:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"can't parse {key} JSON object") from exc
    if key in _INT_KEYS:
        try:
            return int(value)
        except ValueError:
            return value
    if value == "true":
        return True
    if value == "false":
        return False
    return value


def _norm_chat_id(value: Any) -> int | str | None:
    if value is None or isinstance(value, int):
        return value
    s = str(value)
    try:
        return int(s)
    except ValueError:
        return s


def _infer_chat_type(chat_id: int | str) -> str:
    if isinstance(chat_id, str):
        return "channel"
    if chat_id > 0:
        return "private"
    # Supergroup and channel ids are -100xxxxxxxxxx; basic groups are small negatives.
    return "supergroup" if chat_id <= -1000000000000 else "group"


def _scope_key(scope: Any) -> str:
    if not scope:
        return '{"type":"default"}'
    return json.dumps(scope, sort_keys=True, separators=(",", ":"))


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    end = len(text)
    for i, ch in enumerate(text):
        if ch.isspace():
            end = i
            break
    if end <= 1:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(text[:end])}]


def _member_json(user: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    status = info["status"]
    out: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        out["is_anonymous"] = bool(info.get("is_anonymous"))
    elif status == "administrator":
        out.update(
            can_be_edited=False,
            is_anonymous=bool(info.get("is_anonymous")),
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_pin_messages=True,
        )
    elif status == "restricted":
        out.update(
            is_member=True,
            can_change_info=False,
            can_invite_users=False,
            can_pin_messages=False,
            can_send_messages=False,
            can_send_polls=False,
            can_send_other_messages=False,
            can_add_web_page_previews=False,
            can_manage_topics=False,
            until_date=0,
            can_send_audios=False,
            can_send_documents=False,
            can_send_photos=False,
            can_send_videos=False,
            can_send_video_notes=False,
            can_send_voice_notes=False,
            can_edit_tag=False,
            can_react_to_messages=False,
        )
    elif status == "kicked":
        out["until_date"] = 0
    if info.get("custom_title") and status in ("creator", "administrator"):
        out["custom_title"] = info["custom_title"]
    return out


class TokenCheckingTelegram(FakeTelegram):
    """FakeTelegram answering 401 for any token but its own, as the real Bot API does."""

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        return await super()._handle(request)


def main(argv: list[str] | None = None) -> None:
    """Serve a FakeTelegram in its own process (benchmarks, manual experiments).

    Prints one line with the base URL and token once listening; on SIGTERM or
    SIGINT prints one JSON line of counters (messages sent, 429s answered, seconds
    from the first message to the last).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", action="store_true")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        fake = FakeTelegram(port=args.port, rate_limit=args.rate_limit, time_scale=args.time_scale)
        async with fake:
            print(f"base_url={fake.base_url} token={fake.token}", flush=True)
            await stop.wait()
            accepted = [call.ts for call in fake.calls_to("sendMessage") if call.ok]
            counters = {
                "sent": len(accepted),
                "count_429": fake.count_429,
                # Seconds from the first accepted message to the last (rates of
                # several bot processes that start at different moments).
                "sending_seconds": max(accepted) - min(accepted) if accepted else 0.0,
            }
            print(json.dumps(counters), flush=True)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
