"""Over-the-wire fake of Discord's REST API v10 and websocket gateway for tests.

One aiohttp server on 127.0.0.1 serves both ``/api/v10/...`` and ``/gateway``. The real
discord.py client talks to it once two class attributes are patched (see
:meth:`FakeDiscord.patch_discord`). The fake keeps a small world (guilds, channels, roles,
members), records everything the bot sends and enforces Discord's documented limits, so a
test fails the same way production would:

* message payloads are validated (content, embeds, components, ``allowed_mentions``);
  a bad one gets ``400 {"code": 50035, ...}`` and lands in :attr:`FakeDiscord.violations`;
* interactions must be answered within :attr:`FakeDiscord.interaction_deadline` (3 s) and only
  once (a second callback answers ``400`` code ``40060``);
* optional rate limiting sends real ``X-RateLimit-*`` headers and 429s;
* errors can be injected per channel (403/404/5xx/429/slow).

Usage::

    async with FakeDiscord() as fake:
        fake.add_guild(GUILD, "papers", channels=[{"id": CHANNEL, "name": "general"}])
        with fake.patch_discord():
            client = discord.Client(intents=..., allowed_mentions=discord.AllowedMentions.none(),
                                    guild_ready_timeout=0.2)
            ...

The whole fake is single-threaded asyncio; it must run on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from aiohttp import BodyPartReader, WSMsgType, web

__all__ = [
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DiscordPatch",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "InteractionRecord",
    "RateLimitConfig",
    "RecordedRequest",
    "Violation",
]

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS

TEXT, ANNOUNCEMENT, CATEGORY, PUBLIC_THREAD, PRIVATE_THREAD, ANNOUNCEMENT_THREAD = (
    0,
    5,
    4,
    11,
    12,
    10,
)
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})

EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# Discord names: lowercase letters/digits of any script plus - and _. Python's \w is the
# closest stdlib approximation of the documented ``^[-_\p{L}\p{N}...]{1,32}$``.
_NAME_RE = re.compile(r"^[-\w]{1,32}$")
_SELECT_TYPES = frozenset({3, 5, 6, 7, 8})

# Option types whose value must be converted (others are passed through as given).
_OPTION_CONVERTERS: dict[int, Callable[[Any], Any]] = {
    3: str,
    4: int,
    5: bool,
    6: str,
    7: str,
    8: str,
    9: str,
    10: float,
    11: str,
}

_ERROR_KINDS: dict[str, tuple[int, int, str]] = {
    "missing_access": (403, 50001, "Missing Access"),
    "missing_permissions": (403, 50013, "Missing Permissions"),
    "unknown_channel": (404, 10003, "Unknown Channel"),
    "500": (500, 0, "500: Internal Server Error"),
    "502": (502, 0, "502: Bad Gateway"),
    "503": (503, 0, "503: Service Unavailable"),
}


def _now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _bucket_hash(name: str) -> str:
    return hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:16]


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class RecordedRequest:
    """One REST request as the fake saw it (path is relative to ``/api/v10``)."""

    method: str
    path: str
    json: Any
    timestamp: float
    query: dict[str, str]
    status: int = 0


@dataclass(slots=True)
class Violation:
    """A rule the bot broke. ``fields`` are dotted payload paths such as ``embeds.0.title``."""

    kind: str
    detail: str
    method: str = ""
    path: str = ""
    fields: list[str] = field(default_factory=list)
    payload: Any = None

    def __str__(self) -> str:
        where = f" {self.method} {self.path}" if self.method else ""
        return f"[{self.kind}]{where}: {self.detail}"


@dataclass(slots=True)
class RateLimitConfig:
    """Rate-limit settings. Windows are multiplied by ``time_scale`` (0.1 = ten times faster)."""

    enabled: bool = False
    global_limit: int = 50
    global_window: float = 1.0
    channel_limit: int = 5
    channel_window: float = 5.0
    route_limit: int = 50
    route_window: float = 1.0
    time_scale: float = 1.0


@dataclass
class FakeChannel:
    """A guild channel: text (0), announcement (5), category (4) or thread (10/11/12)."""

    id: int
    guild_id: int
    name: str
    type: int = TEXT
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False

    @property
    def is_thread(self) -> bool:
        """True for thread channel types."""
        return self.type in THREAD_TYPES


@dataclass
class FakeMember:
    """A guild member; ``roles`` are role ids (``@everyone`` is implicit)."""

    id: int
    name: str
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    bot: bool = False


@dataclass
class FakeGuild:
    """A guild with its roles (id -> role payload), channels and members."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    joined_at: str = field(default_factory=_now_iso)


@dataclass
class InteractionRecord:
    """What happened to one pushed interaction; returned by the ``push_*`` methods."""

    id: int
    token: str
    type: int
    guild_id: int
    channel_id: int
    user_id: int
    name: str | None
    payload: dict[str, Any]
    pushed_at: float
    custom_id: str | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    response_type: int | None = None
    response_data: dict[str, Any] | None = None
    response_delay: float | None = None
    original: dict[str, Any] | None = None
    followups: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    late: bool = False
    _event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def acknowledged(self) -> bool:
        """True once a callback was accepted."""
        return self.response_type is not None

    @property
    def ephemeral(self) -> bool:
        """True if the initial response carried the EPHEMERAL flag."""
        return bool((self.response_data or {}).get("flags", 0) & EPHEMERAL)

    async def wait_response(self, timeout: float = 5.0) -> InteractionRecord:
        """Wait for the first accepted callback; raises ``TimeoutError``."""
        await asyncio.wait_for(self._event.wait(), timeout)
        return self


@dataclass(slots=True)
class _Injected:
    kind: str
    times: int | None
    retry_after: float
    delay: float


class _ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            out["errors"] = self.errors
        return out


@dataclass(slots=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Callable[..., Any]
    name: str
    bucket: str
    auth: bool = True
    global_exempt: bool = False


class _Conn:
    """One websocket connection; a lock keeps frames from interleaving."""

    def __init__(self, ws: web.WebSocketResponse, path: str, query: dict[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query = query
        self.lock = asyncio.Lock()
        self.session: _Session | None = None

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send_text(self, text: str) -> None:
        async with self.lock:
            if not self.ws.closed:
                await self.ws.send_str(text)

    async def send(self, payload: dict[str, Any]) -> None:
        await self.send_text(json.dumps(payload, separators=(",", ":")))


class _Session:
    """A gateway session; outlives its connection so RESUME can replay missed events."""

    def __init__(self, session_id: str, shard: tuple[int, int], intents: int) -> None:
        self.session_id = session_id
        self.shard = shard
        self.intents = intents
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=10_000)
        self.conn: _Conn | None = None

    def owns(self, guild_id: int) -> bool:
        shard_id, count = self.shard
        return (guild_id >> 22) % count == shard_id

    async def dispatch(self, event: str, data: Any) -> None:
        self.seq += 1
        text = json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}, separators=(",", ":"))
        self.buffer.append((self.seq, text))
        # A dropped connection keeps the event buffered for RESUME, like Discord.
        if self.conn is not None and self.conn.open:
            await self.conn.send_text(text)


class DiscordPatch:
    """Points discord.py at the fake until :meth:`restore` (also a context manager)."""

    def __init__(self, api_url: str, gateway_url: str) -> None:
        import discord.gateway
        import discord.http
        import yarl

        self._route = discord.http.Route
        self._ws = discord.gateway.DiscordWebSocket
        self._saved = (self._route.BASE, self._ws.DEFAULT_GATEWAY)
        self._route.BASE = api_url
        # discord.py calls .with_query() on it, so it must be a yarl.URL, not a str.
        self._ws.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        self._active = True

    def restore(self) -> None:
        """Put the original URLs back (idempotent)."""
        if self._active:
            self._route.BASE, self._ws.DEFAULT_GATEWAY = self._saved
            self._active = False

    __call__ = restore

    def __enter__(self) -> DiscordPatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


# --------------------------------------------------------------------------- validation


class _Errors:
    """Collects form errors as Discord nests them: ``{"embeds": {"0": {"title": ...}}}``."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[tuple[Any, ...], str, str]] = []

    def add(self, path: tuple[Any, ...], code: str, message: str) -> None:
        self.items.append((path, code, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def nested(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path, code, message in self.items:
            node = out
            for key in path:
                node = node.setdefault(str(key), {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        return out

    def fields(self) -> list[str]:
        return [".".join(map(str, path)) for path, _, _ in self.items]


def _max_len(errs: _Errors, path: tuple[Any, ...], value: Any, limit: int) -> int:
    """Check a string length and return it (0 for None) for embed totals."""
    if value is None:
        return 0
    if not isinstance(value, str):
        errs.add(path, "BASE_TYPE_STRING", "Must be a string.")
        return 0
    n = len(value)
    if n > limit:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return n


def _validate_embeds(errs: _Errors, embeds: Any) -> None:
    if not isinstance(embeds, list):
        errs.add(("embeds",), "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if len(embeds) > 10:
        errs.add(("embeds",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errs.add(("embeds", i), "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
            continue
        p = ("embeds", i)
        total += _max_len(errs, (*p, "title"), embed.get("title"), 256)
        total += _max_len(errs, (*p, "description"), embed.get("description"), 4096)
        footer = embed.get("footer") or {}
        total += _max_len(errs, (*p, "footer", "text"), footer.get("text"), 2048)
        author = embed.get("author") or {}
        total += _max_len(errs, (*p, "author", "name"), author.get("name"), 256)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errs.add((*p, "fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            fp = (*p, "fields", j)
            for key, limit in (("name", 256), ("value", 1024)):
                val = fld.get(key)
                if val is None or val == "":
                    errs.add((*fp, key), "BASE_TYPE_REQUIRED", "This field is required")
                else:
                    total += _max_len(errs, (*fp, key), val, limit)
        color = embed.get("color")
        if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
            errs.add((*p, "color"), "NUMBER_TYPE_MAX", "int value should be <= 16777215.")
    if total > 6000:
        errs.add(("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _check_custom_id(errs: _Errors, path: tuple[Any, ...], cid: Any, seen: set[str]) -> None:
    if not isinstance(cid, str) or not 1 <= len(cid) <= 100:
        errs.add(
            (*path, "custom_id"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
        return
    if cid in seen:
        errs.add(
            (*path, "custom_id"),
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            "Component custom id cannot be duplicated",
        )
    seen.add(cid)


def _validate_button(
    errs: _Errors, path: tuple[Any, ...], comp: dict[str, Any], seen: set[str]
) -> None:
    style = comp.get("style")
    if style == 5:
        if not comp.get("url"):
            errs.add((*path, "url"), "BASE_TYPE_REQUIRED", "This field is required")
        if "custom_id" in comp:
            errs.add(
                (*path, "custom_id"),
                "BUTTON_COMPONENT_CUSTOM_ID_FORBIDDEN",
                "A custom id cannot be specified for link buttons",
            )
    elif style == 6:
        if not comp.get("sku_id"):
            errs.add((*path, "sku_id"), "BASE_TYPE_REQUIRED", "This field is required")
    elif style in (1, 2, 3, 4):
        if comp.get("url"):
            errs.add(
                (*path, "url"),
                "BUTTON_COMPONENT_URL_FORBIDDEN",
                "A url can only be set on link buttons",
            )
        _check_custom_id(errs, path, comp.get("custom_id"), seen)
    else:
        errs.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")
    label = comp.get("label")
    if label is not None and len(label) > 80:
        errs.add((*path, "label"), "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")


def _validate_components(errs: _Errors, comps: Any, flags: int) -> None:
    if not isinstance(comps, list):
        errs.add(("components",), "BASE_TYPE_ARRAY", "Must be an array.")
        return
    seen: set[str] = set()
    if flags & IS_COMPONENTS_V2:
        # Components v2 layouts are free-form; only the id rules are shared with v1.
        stack: list[tuple[tuple[Any, ...], Any]] = [
            (("components", i), c) for i, c in enumerate(comps)
        ]
        count = 0
        while stack:
            path, comp = stack.pop()
            count += 1
            if "custom_id" in comp:
                _check_custom_id(errs, path, comp["custom_id"], seen)
            for key in ("components", "items"):
                for k, child in enumerate(comp.get(key) or []):
                    stack.append(((*path, key, k), child))
        if count > 40:
            errs.add(("components",), "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
        return
    if len(comps) > 5:
        errs.add(("components",), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    for r, row in enumerate(comps):
        rp = ("components", r)
        if not isinstance(row, dict) or row.get("type") != 1:
            errs.add(
                (*rp, "type"),
                "COMPONENT_LAYOUT_INVALID",
                "Top-level components must be action rows",
            )
            continue
        children = row.get("components") or []
        if not children:
            errs.add((*rp, "components"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
        if len(children) > 5:
            errs.add((*rp, "components"), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        has_select = any(c.get("type") in _SELECT_TYPES for c in children)
        if has_select and len(children) > 1:
            errs.add(
                (*rp, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for c, comp in enumerate(children):
            cp = (*rp, "components", c)
            ctype = comp.get("type")
            if ctype == 2:
                _validate_button(errs, cp, comp, seen)
            elif ctype in _SELECT_TYPES:
                _check_custom_id(errs, cp, comp.get("custom_id"), seen)
                if ctype == 3 and not 1 <= len(comp.get("options") or []) <= 25:
                    errs.add(
                        (*cp, "options"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 25 in length.",
                    )
            else:
                errs.add((*cp, "type"), "COMPONENT_TYPE_INVALID", f"Invalid component type {ctype}")


def _validate_allowed_mentions(errs: _Errors, am: Any) -> None:
    # Project policy, stricter than Discord: a paper title must never ping anybody.
    if not isinstance(am, dict):
        errs.add(
            ("allowed_mentions",),
            "BASE_TYPE_REQUIRED",
            "allowed_mentions must be sent and allow nothing",
        )
        return
    if am.get("parse"):
        errs.add(
            ("allowed_mentions", "parse"),
            "MENTIONS_NOT_ALLOWED",
            f"parse must be empty, got {am['parse']}",
        )
    for key in ("users", "roles"):
        if am.get(key):
            errs.add(("allowed_mentions", key), "MENTIONS_NOT_ALLOWED", f"{key} must be empty")
    if am.get("replied_user"):
        errs.add(
            ("allowed_mentions", "replied_user"),
            "MENTIONS_NOT_ALLOWED",
            "replied_user must be false",
        )


def validate_message_payload(payload: Any, *, create: bool) -> tuple[_Errors, bool]:
    """Validate a message body. Returns (form errors, is_empty) — empty only matters on create."""
    errs = _Errors()
    if not isinstance(payload, dict):
        errs.add((), "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        return errs, False
    content = payload.get("content")
    if content is not None:
        _max_len(errs, ("content",), content, 2000)
    embeds = payload.get("embeds")
    if embeds is not None:
        _validate_embeds(errs, embeds)
    flags = payload.get("flags") or 0
    comps = payload.get("components")
    if comps is not None:
        _validate_components(errs, comps, flags)
    if any(k in payload for k in ("content", "embeds", "components", "poll")):
        _validate_allowed_mentions(errs, payload.get("allowed_mentions"))
    nonce = payload.get("nonce")
    if isinstance(nonce, str) and len(nonce) > 25:
        errs.add(("nonce",), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    empty = False
    if create:
        empty = not (
            content
            or embeds
            or comps
            or payload.get("sticker_ids")
            or payload.get("attachments")
            or payload.get("poll")
        )
    return errs, empty


def _validate_commands(payload: Any) -> _Errors:
    errs = _Errors()
    if not isinstance(payload, list):
        errs.add((), "BASE_TYPE_ARRAY", "Must be an array.")
        return errs
    if len(payload) > 100:
        errs.add((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(payload):
        ctype = cmd.get("type", 1)
        name = cmd.get("name")
        if (ctype, name) in seen:
            errs.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Command name {name} is already used",
            )
        seen.add((ctype, name))
        if ctype == 1:
            _validate_command_node(errs, (i,), cmd, depth=0)
        else:
            # User/message context menus allow spaces and capitals but no description.
            if not isinstance(name, str) or not 1 <= len(name) <= 32:
                errs.add((i, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
            if cmd.get("description"):
                errs.add(
                    (i, "description"), "BASE_TYPE_MAX_LENGTH", "Must be 0 or fewer in length."
                )
    return errs


def _validate_command_node(
    errs: _Errors, path: tuple[Any, ...], node: dict[str, Any], depth: int
) -> None:
    name = node.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name) or name != name.lower():
        errs.add(
            (*path, "name"),
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name is invalid: {name!r}",
        )
    desc = node.get("description")
    if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
        errs.add(
            (*path, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    options = node.get("options") or []
    if len(options) > 25:
        errs.add((*path, "options"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for j, opt in enumerate(options):
        op = (*path, "options", j)
        otype = opt.get("type")
        if opt.get("name") in names:
            errs.add(
                (*op, "name"),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Duplicate option name",
            )
        names.add(opt.get("name"))
        if otype in (1, 2):
            if depth >= 2 or (otype == 2 and depth >= 1):
                errs.add(
                    (*op, "type"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Subcommands nested too deep",
                )
            _validate_command_node(errs, op, opt, depth + 1)
            continue
        _validate_command_node(errs, op, {**opt, "options": []}, depth + 1)
        if opt.get("required"):
            if seen_optional:
                errs.add(
                    (*op, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errs.add((*op, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and opt.get("autocomplete"):
            errs.add(
                (*op, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES",
                "Autocomplete with choices",
            )


# --------------------------------------------------------------------------- the fake


class FakeDiscord:
    """Fake Discord (REST v10 + gateway) on ``127.0.0.1`` with a random port.

    Public state for assertions: :attr:`violations`, :attr:`requests`, :attr:`command_sets`
    (``None`` key = global set, guild id = guild set), :attr:`identifies`, :attr:`resumes`,
    :attr:`count_429`, :attr:`invalid_requests`, :attr:`nonce_dedupes`, :attr:`interactions`.
    """

    def __init__(
        self,
        *,
        application_id: int = 1_100_000_000_000_000_001,
        bot_user_id: int | None = None,
        bot_name: str = "paperbot",
        token: str | None = None,
        rate_limits: RateLimitConfig | None = None,
        interaction_deadline: float = 3.0,
        heartbeat_interval_ms: int = 41_250,
        nonce_window: float = 300.0,
        followup_window: float = 900.0,
    ) -> None:
        self.application_id = application_id
        self.bot_user_id = bot_user_id if bot_user_id is not None else application_id
        self.bot_name = bot_name
        self.token = token
        self.rate_limit = rate_limits or RateLimitConfig()
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.nonce_window = nonce_window
        self.followup_window = followup_window
        self.recommended_shards: int | None = None

        self.guilds: dict[int, FakeGuild] = {}
        self.violations: list[Violation] = []
        self.requests: list[RecordedRequest] = []
        self.command_sets: dict[int | None, list[dict[str, Any]]] = {}
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.interactions: dict[int, InteractionRecord] = {}
        self.count_429 = 0
        self.invalid_requests = 0
        self.nonce_dedupes = 0

        self.api_url = ""
        self.gateway_url = ""
        self.resume_gateway_url = ""
        self.port = 0

        self._channels: dict[int, FakeChannel] = {}
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._msg_index: dict[int, dict[str, Any]] = {}
        self._nonces: dict[int, dict[str, tuple[float, dict[str, Any]]]] = {}
        self._tokens: dict[str, InteractionRecord] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._channel_errors: dict[int, _Injected] = {}
        self._buckets: dict[tuple[Any, ...], list[float]] = {}
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Conn] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._last_snowflake = 0
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and start serving."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/resume", self._handle_gateway)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        base = f"127.0.0.1:{self.port}"
        self.api_url = f"http://{base}{API_PREFIX}"
        self.gateway_url = f"ws://{base}/gateway"
        self.resume_gateway_url = f"ws://{base}/resume"

    async def stop(self) -> None:
        """Close gateway connections and the server."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def patch_discord(self) -> DiscordPatch:
        """Point discord.py's REST base and default gateway at this fake.

        Returns a :class:`DiscordPatch`; call it, call ``.restore()`` or use it as a context
        manager to put the originals back.
        """
        if not self.api_url:
            raise RuntimeError("start the fake before patching discord.py")
        return DiscordPatch(self.api_url, self.gateway_url)

    # ------------------------------------------------------------------ world model

    def snowflake(self) -> int:
        """A fresh, strictly increasing snowflake based on the current time."""
        sf = max((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22, self._last_snowflake + 1)
        self._last_snowflake = sf
        return sf

    @staticmethod
    def snowflake_for_shard(shard_id: int, shard_count: int, n: int = 0) -> int:
        """A guild id that lands on ``shard_id`` of ``shard_count`` (``n`` picks another one)."""
        return ((1000 + n * shard_count) * shard_count + shard_id) << 22

    @staticmethod
    def shard_of(guild_id: int, shard_count: int) -> int:
        """Discord's shard formula: ``(guild_id >> 22) % shard_count``."""
        return (guild_id >> 22) % shard_count

    def add_guild(
        self,
        guild_id: int,
        name: str = "guild",
        *,
        channels: Iterable[dict[str, Any] | int] = (),
        roles: Iterable[dict[str, Any]] = (),
        owner_id: int | None = None,
        members: Iterable[dict[str, Any] | int] = (),
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> FakeGuild:
        """Add a guild the bot is in.

        ``channels``: ids or dicts ``{"id", "name", "type" (0/5/4/11), "parent_id",
        "permission_overwrites", "topic"}``. ``roles``: dicts ``{"id", "name", "permissions"}``.
        ``members``: ids or dicts ``{"id", "name", "roles", "nick"}``. The bot gets a managed role
        (id = guild id + 2) with ``bot_permissions``; ``@everyone`` (id = guild id) gets
        ``everyone_permissions``; the owner defaults to guild id + 1 (and has every permission).
        """
        owner = owner_id if owner_id is not None else guild_id + 1
        guild = FakeGuild(id=guild_id, name=name, owner_id=owner)
        guild.roles[guild_id] = self._role_payload(guild_id, "@everyone", everyone_permissions, 0)
        bot_role_id = guild_id + 2
        guild.roles[bot_role_id] = {
            **self._role_payload(bot_role_id, self.bot_name, bot_permissions, 1),
            "managed": True,
            "tags": {"bot_id": str(self.bot_user_id)},
        }
        for pos, role in enumerate(roles, start=2):
            rid = int(role["id"])
            guild.roles[rid] = self._role_payload(
                rid, role.get("name", f"role-{rid}"), int(role.get("permissions", 0)), pos
            )
        guild.members[self.bot_user_id] = FakeMember(
            self.bot_user_id, self.bot_name, [bot_role_id], bot=True
        )
        for m in members:
            spec: dict[str, Any] = {"id": m} if isinstance(m, int) else m
            mid = int(spec["id"])
            guild.members[mid] = FakeMember(
                mid, spec.get("name", f"user{mid}"), list(spec.get("roles", [])), spec.get("nick")
            )
        if owner not in guild.members:
            guild.members[owner] = FakeMember(owner, f"owner{owner}")
        self.guilds[guild_id] = guild
        for pos, ch in enumerate(channels):
            spec = {"position": pos, **({"id": ch} if isinstance(ch, int) else ch)}
            self.add_channel(guild_id, int(spec.pop("id")), **spec)
        return guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str | None = None,
        *,
        type: int = TEXT,
        parent_id: int | None = None,
        position: int = 0,
        topic: str | None = None,
        permission_overwrites: list[dict[str, Any]] | None = None,
    ) -> FakeChannel:
        """Add a channel (or thread with ``type=11`` and ``parent_id``) to a guild."""
        guild = self.guilds[guild_id]
        if type in THREAD_TYPES and parent_id not in guild.channels:
            raise ValueError(f"thread {channel_id} needs an existing parent_id in guild {guild_id}")
        ch = FakeChannel(
            id=channel_id,
            guild_id=guild_id,
            name=name or f"channel-{channel_id}",
            type=type,
            position=position,
            parent_id=parent_id,
            topic=topic,
            permission_overwrites=list(permission_overwrites or []),
            owner_id=self.bot_user_id if type in THREAD_TYPES else None,
        )
        guild.channels[channel_id] = ch
        self._channels[channel_id] = ch
        return ch

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str | None = None,
        *,
        roles: Iterable[int] = (),
        nick: str | None = None,
    ) -> FakeMember:
        """Add (or replace) a guild member."""
        member = FakeMember(user_id, name or f"user{user_id}", list(roles), nick)
        self.guilds[guild_id].members[user_id] = member
        return member

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        """Change the bot's role permissions in a guild (no gateway event is sent)."""
        guild = self.guilds[guild_id]
        guild.roles[guild_id + 2]["permissions"] = str(permissions)

    def channel(self, channel_id: int) -> FakeChannel | None:
        """The channel with this id, if it exists."""
        return self._channels.get(channel_id)

    @staticmethod
    def _role_payload(rid: int, name: str, permissions: int, position: int) -> dict[str, Any]:
        return {
            "id": str(rid),
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def permissions_for(self, guild_id: int, user_id: int, channel_id: int | None = None) -> int:
        """Effective permissions, resolved the way Discord documents (roles then overwrites)."""
        guild = self.guilds[guild_id]
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        role_ids = member.roles if member else []
        base = int(guild.roles[guild_id]["permissions"])
        for rid in role_ids:
            role = guild.roles.get(rid)
            if role:
                base |= int(role["permissions"])
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        ch = self._channels.get(channel_id) if channel_id is not None else None
        if ch is None:
            return base
        target = self._channels.get(ch.parent_id) if ch.is_thread and ch.parent_id else ch
        overwrites = target.permission_overwrites if target else []
        perms = base
        allow = deny = 0
        for ow in overwrites:
            oid, otype = int(ow["id"]), int(ow.get("type", 0))
            if otype == 0 and oid == guild_id:
                perms = (perms & ~int(ow.get("deny", 0))) | int(ow.get("allow", 0))
            elif otype == 0 and oid in role_ids:
                allow |= int(ow.get("allow", 0))
                deny |= int(ow.get("deny", 0))
        perms = (perms & ~deny) | allow
        for ow in overwrites:
            if int(ow.get("type", 0)) == 1 and int(ow["id"]) == user_id:
                perms = (perms & ~int(ow.get("deny", 0))) | int(ow.get("allow", 0))
        return perms

    # ------------------------------------------------------------------ payload builders

    def bot_user(self) -> dict[str, Any]:
        """The bot's user object (as in ``GET /users/@me``)."""
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "public_flags": 0,
            "locale": "en-US",
        }

    @staticmethod
    def _user_obj(member: FakeMember) -> dict[str, Any]:
        return {
            "id": str(member.id),
            "username": member.name,
            "discriminator": "0",
            "global_name": member.name,
            "avatar": None,
            "bot": member.bot,
            "public_flags": 0,
        }

    def _member_obj(
        self, guild: FakeGuild, member: FakeMember, *, with_user: bool = True
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": guild.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            out["user"] = self._user_obj(member)
        return out

    def _channel_obj(self, ch: FakeChannel) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(ch.id),
            "type": ch.type,
            "guild_id": str(ch.guild_id),
            "name": ch.name,
            "position": ch.position,
            "parent_id": str(ch.parent_id) if ch.parent_id else None,
            "flags": 0,
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }
        if ch.is_thread:
            out.update(
                owner_id=str(ch.owner_id or self.bot_user_id),
                message_count=len(self._messages.get(ch.id, ())),
                member_count=1,
                total_message_sent=len(self._messages.get(ch.id, ())),
                thread_metadata={
                    "archived": ch.archived,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _now_iso(),
                    "locked": ch.locked,
                    "create_timestamp": _now_iso(),
                },
            )
        else:
            out.update(
                topic=ch.topic,
                nsfw=False,
                permission_overwrites=ch.permission_overwrites,
                default_auto_archive_duration=1440,
            )
        return out

    def _guild_create(self, guild: FakeGuild, intents: int) -> dict[str, Any]:
        channels = [c for c in guild.channels.values() if not c.is_thread]
        threads = [c for c in guild.channels.values() if c.is_thread]
        # Without GUILD_MEMBERS (1 << 1) Discord only sends the bot's own member.
        members = (
            list(guild.members.values())
            if intents & (1 << 1)
            else [guild.members[self.bot_user_id]]
        )
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "application_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "features": [],
            "roles": list(guild.roles.values()),
            "emojis": [],
            "stickers": [],
            "joined_at": guild.joined_at,
            "large": len(guild.members) >= 250,
            "unavailable": False,
            "lazy": True,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [self._member_obj(guild, m) for m in members],
            "channels": [self._channel_obj(c) for c in channels],
            "threads": [self._channel_obj(c) for c in threads],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "incidents_data": None,
        }

    def _message_obj(self, stored: dict[str, Any]) -> dict[str, Any]:
        embeds = stored.get("embeds") or []
        out: dict[str, Any] = {
            "id": str(stored["id"]),
            "channel_id": str(stored["channel_id"]),
            "author": self.bot_user(),
            "content": stored.get("content") or "",
            "timestamp": _now_iso(stored["timestamp"]),
            "edited_timestamp": _now_iso(stored["edited"]) if stored.get("edited") else None,
            "tts": bool(stored.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": stored.get("attachments") or [],
            "embeds": [e if "type" in e else {**e, "type": "rich"} for e in embeds],
            "components": stored.get("components") or [],
            "pinned": False,
            "type": stored.get("type", 0),
            "flags": stored.get("flags") or 0,
        }
        if stored.get("nonce") is not None:
            out["nonce"] = stored["nonce"]
        if stored.get("interaction_id") is not None:
            out["webhook_id"] = str(self.application_id)
            out["application_id"] = str(self.application_id)
        if stored.get("message_reference"):
            out["message_reference"] = stored["message_reference"]
        return out

    # ------------------------------------------------------------------ message store

    def messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first: the bot's payload plus ``id`` (int),
        ``channel_id``, ``source`` (channel/interaction/followup), ``ephemeral``, ``timestamp``
        and ``edited``. Ephemeral interaction replies are left out unless asked for."""
        msgs = self._messages.get(channel_id, {}).values()
        if include_ephemeral:
            return list(msgs)
        return [m for m in msgs if not m["ephemeral"]]

    def message(self, message_id: int) -> dict[str, Any] | None:
        """A stored message by id (any channel), or None."""
        return self._msg_index.get(message_id)

    def all_messages(self) -> list[dict[str, Any]]:
        """Every stored message in creation order."""
        return list(self._msg_index.values())

    def _store_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        *,
        source: str,
        interaction_id: int | None = None,
        mtype: int = 0,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        ch = self._channels.get(channel_id)
        stored = dict(payload)
        flags = stored.get("flags") or 0
        stored.update(
            id=self.snowflake(),
            channel_id=channel_id,
            guild_id=ch.guild_id if ch else None,
            source=source,
            interaction_id=interaction_id,
            ephemeral=bool(flags & EPHEMERAL),
            timestamp=time.time(),
            edited=None,
            type=mtype,
        )
        if attachments is not None:
            stored["attachments"] = attachments
        self._messages.setdefault(channel_id, {})[stored["id"]] = stored
        self._msg_index[stored["id"]] = stored
        return stored

    def _edit_message(self, stored: dict[str, Any], payload: dict[str, Any]) -> None:
        for key, value in payload.items():
            if key in ("id", "channel_id"):
                continue
            stored[key] = value
        # The first edit of a deferred reply replaces the "thinking" placeholder.
        stored["flags"] = (stored.get("flags") or 0) & ~LOADING | (
            EPHEMERAL if stored.get("ephemeral") else 0
        )
        stored["edited"] = time.time()

    def _delete_message(self, stored: dict[str, Any]) -> None:
        self._messages.get(stored["channel_id"], {}).pop(stored["id"], None)
        self._msg_index.pop(stored["id"], None)

    # ------------------------------------------------------------------ error injection

    def set_channel_error(
        self,
        channel_id: int,
        kind: str | int,
        *,
        times: int | None = None,
        retry_after: float = 1.0,
        delay: float = 1.0,
    ) -> None:
        """Make requests touching ``/channels/{channel_id}/...`` fail.

        ``kind``: ``"missing_access"`` (403/50001), ``"missing_permissions"`` (403/50013),
        ``"unknown_channel"`` (404/10003), ``500``/``502``/``503``, ``429`` or
        ``"rate_limited"`` (429 with ``retry_after``), ``"slow"`` (sleep ``delay`` then serve).
        ``times``: how many requests to affect (None = until cleared).
        """
        key = str(kind)
        if key == "rate_limited":
            key = "429"
        if key not in _ERROR_KINDS and key not in ("429", "slow"):
            raise ValueError(f"unknown error kind {kind!r}")
        self._channel_errors[channel_id] = _Injected(key, times, retry_after, delay)

    def clear_channel_error(self, channel_id: int) -> None:
        """Stop injecting errors for a channel."""
        self._channel_errors.pop(channel_id, None)

    # ------------------------------------------------------------------ rate limiting

    def configure_rate_limits(self, **changes: Any) -> RateLimitConfig:
        """Update :class:`RateLimitConfig` fields (e.g. ``enabled=True, channel_limit=2``) and
        reset all buckets."""
        for key, value in changes.items():
            if not hasattr(self.rate_limit, key):
                raise AttributeError(key)
            setattr(self.rate_limit, key, value)
        self._buckets.clear()
        return self.rate_limit

    def _take(
        self, key: tuple[Any, ...], limit: int, window: float, now: float
    ) -> tuple[bool, int, float]:
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket[1]:
            bucket = self._buckets[key] = [0, now + window]
        reset_after = bucket[1] - now
        if bucket[0] >= limit:
            return False, 0, reset_after
        bucket[0] += 1
        return True, limit - int(bucket[0]), reset_after

    @staticmethod
    def _rl_headers(limit: int, remaining: int, reset_after: float, bucket: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def _rate_limit(
        self, route: _Route, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        """Fill bucket headers; return a 429 response when a bucket is exhausted."""
        cfg = self.rate_limit
        if route.name == "create_message":
            limit, window = cfg.channel_limit, cfg.channel_window * cfg.time_scale
            key: tuple[Any, ...] = (route.name, params.get("channel_id"))
        else:
            limit, window = cfg.route_limit, cfg.route_window * cfg.time_scale
            major = params.get("channel_id") or params.get("guild_id") or params.get("token")
            key = (route.name, major)
        if not cfg.enabled:
            # Headers stay present but never make a client wait.
            headers.update(self._rl_headers(limit, limit, window, route.bucket))
            return None
        now = time.monotonic()
        if not route.global_exempt:
            ok, _, g_reset = self._take(
                ("global",), cfg.global_limit, cfg.global_window * cfg.time_scale, now
            )
            if not ok:
                headers.update(self._rl_headers(limit, 0, g_reset, route.bucket))
                headers["X-RateLimit-Global"] = "true"
                return self._too_many(headers, g_reset, "global", is_global=True)
        ok, remaining, reset_after = self._take(key, limit, window, now)
        headers.update(self._rl_headers(limit, remaining, reset_after, route.bucket))
        if not ok:
            return self._too_many(headers, reset_after, "user", is_global=False)
        return None

    def _too_many(
        self, headers: dict[str, str], retry_after: float, scope: str, *, is_global: bool
    ) -> tuple[int, dict[str, Any]]:
        retry_after = max(retry_after, 0.001)
        self.count_429 += 1
        if scope != "shared":
            # Discord counts 429s (except shared-scope ones) towards the invalid-request ban.
            self.invalid_requests += 1
        headers["X-RateLimit-Scope"] = scope
        headers["Retry-After"] = str(math.ceil(retry_after))
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": is_global,
        }
        return 429, body

    # ------------------------------------------------------------------ violations

    def _violate(
        self,
        kind: str,
        detail: str,
        *,
        method: str = "",
        path: str = "",
        fields: list[str] | None = None,
        payload: Any = None,
    ) -> None:
        self.violations.append(Violation(kind, detail, method, path, fields or [], payload))

    def assert_no_violations(self) -> None:
        """Raise AssertionError listing every violation, if any."""
        if self.violations:
            raise AssertionError(
                "Discord rule violations:\n" + "\n".join(map(str, self.violations))
            )

    def _form_error(
        self, errs: _Errors, ctx: _Ctx, payload: Any, kind: str = "invalid_form_body"
    ) -> _ApiError:
        fields = errs.fields()
        self._violate(
            kind,
            ", ".join(fields),
            method=ctx.method,
            path=ctx.path,
            fields=fields,
            payload=payload,
        )
        return _ApiError(400, 50035, "Invalid Form Body", errs.nested())

    def _check_message(self, ctx: _Ctx, payload: Any, *, create: bool) -> None:
        errs, empty = validate_message_payload(payload, create=create)
        if errs:
            raise self._form_error(errs, ctx, payload)
        if empty:
            self._violate(
                "empty_message",
                "Cannot send an empty message",
                method=ctx.method,
                path=ctx.path,
                payload=payload,
            )
            raise _ApiError(400, 50006, "Cannot send an empty message")

    # ------------------------------------------------------------------ HTTP plumbing

    def _build_routes(self) -> list[_Route]:
        snow = r"(?P<{}>\d+)"
        table: list[tuple[str, str, Callable[..., Any], str, bool, bool]] = [
            ("GET", "/users/@me", self._r_me, "me", True, False),
            ("GET", "/oauth2/applications/@me", self._r_app, "app", True, False),
            ("GET", "/gateway", self._r_gateway, "gateway", False, False),
            ("GET", "/gateway/bot", self._r_gateway_bot, "gateway_bot", True, False),
            (
                "PUT",
                "/applications/{app}/commands",
                self._r_put_commands,
                "put_commands",
                True,
                False,
            ),
            (
                "GET",
                "/applications/{app}/commands",
                self._r_get_commands,
                "get_commands",
                True,
                False,
            ),
            (
                "PUT",
                "/applications/{app}/guilds/{guild_id}/commands",
                self._r_put_commands,
                "put_guild_commands",
                True,
                False,
            ),
            (
                "GET",
                "/applications/{app}/guilds/{guild_id}/commands",
                self._r_get_commands,
                "get_guild_commands",
                True,
                False,
            ),
            ("GET", "/channels/{channel_id}", self._r_get_channel, "get_channel", True, False),
            (
                "POST",
                "/channels/{channel_id}/messages",
                self._r_create_message,
                "create_message",
                True,
                False,
            ),
            ("GET", "/channels/{channel_id}/messages", self._r_history, "history", True, False),
            (
                "GET",
                "/channels/{channel_id}/messages/{message_id}",
                self._r_get_message,
                "get_message",
                True,
                False,
            ),
            (
                "PATCH",
                "/channels/{channel_id}/messages/{message_id}",
                self._r_edit_message,
                "edit_message",
                True,
                False,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}",
                self._r_delete_message,
                "delete_message",
                True,
                False,
            ),
            ("POST", "/channels/{channel_id}/typing", self._r_typing, "typing", True, False),
            (
                "POST",
                "/interactions/{interaction_id}/{token}/callback",
                self._r_callback,
                "callback",
                False,
                True,
            ),
            ("POST", "/webhooks/{app}/{token}", self._r_followup, "followup", False, True),
            (
                "GET",
                "/webhooks/{app}/{token}/messages/{message_id}",
                self._r_wh_get,
                "wh_get",
                False,
                True,
            ),
            (
                "PATCH",
                "/webhooks/{app}/{token}/messages/{message_id}",
                self._r_wh_edit,
                "wh_edit",
                False,
                True,
            ),
            (
                "DELETE",
                "/webhooks/{app}/{token}/messages/{message_id}",
                self._r_wh_delete,
                "wh_delete",
                False,
                True,
            ),
        ]
        routes = []
        for method, template, handler, name, auth, exempt in table:
            pattern = re.escape(template)
            for param in ("app", "guild_id", "channel_id", "interaction_id"):
                pattern = pattern.replace(re.escape("{" + param + "}"), snow.format(param))
            pattern = pattern.replace(re.escape("{message_id}"), r"(?P<message_id>\d+|@original)")
            pattern = pattern.replace(re.escape("{token}"), r"(?P<token>[^/]+)")
            routes.append(
                _Route(
                    method,
                    re.compile(f"^{pattern}$"),
                    handler,
                    name,
                    _bucket_hash(name),
                    auth,
                    exempt,
                )
            )
        return routes

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method:
                m = route.regex.match(path)
                if m:
                    return route, m.groupdict()
        return None, {}

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        if not request.body_exists:
            return None, []
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            body: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    raise ValueError("nested multipart")  # Discord accepts flat parts only
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    data = await part.read()
                    files.append({"field": part.name, "filename": part.filename, "size": len(data)})
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        path = request.path[len(API_PREFIX) :]
        route, params = self._match(method, path)
        headers: dict[str, str] = {"Via": "1.1 google"}
        rec = RecordedRequest(method, path, None, time.time(), dict(request.query))
        self.requests.append(rec)
        status: int
        data: Any
        try:
            try:
                body, files = await self._read_body(request)
            except (ValueError, UnicodeDecodeError) as exc:
                raise _ApiError(400, 50109, "The request body contains invalid JSON.") from exc
            rec.json = body
            if route is None:
                self._violate(
                    "unknown_route", f"{method} {path}", method=method, path=path, payload=body
                )
                headers.update(self._rl_headers(1000, 999, 1.0, _bucket_hash("unknown")))
                raise _ApiError(404, 0, "404: Not Found")
            if route.auth and not self._authorized(request):
                self.invalid_requests += 1
                raise _ApiError(401, 0, "401: Unauthorized")
            if self._channel_errors and "channel_id" in params:
                injected = await self._inject(int(params["channel_id"]), headers)
                if injected is not None:
                    status, data = injected
                    rec.status = status
                    return self._respond(status, data, headers)
            limited = self._rate_limit(route, params, headers)
            if limited is not None:
                status, data = limited
            else:
                ctx = _Ctx(method, path, params, body, files, request.query)
                status, data = await route.handler(ctx)
        except _ApiError as exc:
            status, data = exc.status, exc.body()
            if status == 403:
                self.invalid_requests += 1
        rec.status = status
        return self._respond(status, data, headers)

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bot "):
            return False
        return self.token is None or auth[4:] == self.token

    async def _inject(self, channel_id: int, headers: dict[str, str]) -> tuple[int, Any] | None:
        inj = self._channel_errors.get(channel_id)
        if inj is None:
            return None
        if inj.times is not None:
            inj.times -= 1
            if inj.times <= 0:
                del self._channel_errors[channel_id]
        if inj.kind == "slow":
            await asyncio.sleep(inj.delay)
            return None
        headers.update(self._rl_headers(5, 4, 5.0, _bucket_hash("injected")))
        if inj.kind == "429":
            return self._too_many(headers, inj.retry_after, "shared", is_global=False)
        status, code, message = _ERROR_KINDS[inj.kind]
        if status == 403:
            self.invalid_requests += 1
        if status == 502:
            # Cloudflare answers gateway errors with HTML, which discord.py must cope with.
            headers["Content-Type"] = "text/html"
            return status, "<html><head><title>502 Bad Gateway</title></head></html>"
        return status, {"message": message, "code": code}

    @staticmethod
    def _respond(status: int, data: Any, headers: dict[str, str]) -> web.Response:
        if status == 204 or data is None:
            return web.Response(status=204, headers=headers)
        if isinstance(data, str):
            headers.setdefault("Content-Type", "text/plain")
            return web.Response(status=status, body=data.encode(), headers=headers)
        # Exactly "application/json": discord.py treats any charset suffix as plain text.
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=_dumps(data), headers=headers)

    # ------------------------------------------------------------------ REST handlers

    async def _r_me(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self.bot_user()

    async def _r_app(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_name,
            "description": "",
            "icon": None,
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": {
                "id": str(self.application_id + 7),
                "username": "owner",
                "discriminator": "0",
                "avatar": None,
                "global_name": None,
            },
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot_user(),
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
        }

    async def _r_gateway(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _r_gateway_bot(self, ctx: _Ctx) -> tuple[int, Any]:
        shards = self.recommended_shards or max(1, math.ceil(len(self.guilds) / 1000))
        return 200, {
            "url": self.gateway_url,
            "shards": shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _check_app(self, ctx: _Ctx) -> None:
        if int(ctx.params["app"]) != self.application_id:
            raise _ApiError(403, 50001, "Missing Access")

    async def _r_put_commands(self, ctx: _Ctx) -> tuple[int, Any]:
        self._check_app(ctx)
        guild_id = int(ctx.params["guild_id"]) if "guild_id" in ctx.params else None
        if guild_id is not None and guild_id not in self.guilds:
            raise _ApiError(403, 50001, "Missing Access")
        errs = _validate_commands(ctx.body)
        if errs:
            raise self._form_error(errs, ctx, ctx.body, kind="invalid_command")
        stored = []
        for cmd in ctx.body:
            ctype = cmd.get("type", 1)
            key = (guild_id, ctype, cmd["name"])
            cid = self._command_ids.get(key) or self.snowflake()
            self._command_ids[key] = cid
            out = {
                "id": str(cid),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": ctype,
                "name": cmd["name"],
                "description": cmd.get("description", ""),
                "options": cmd.get("options", []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types", [0]),
                "name_localizations": cmd.get("name_localizations"),
                "description_localizations": cmd.get("description_localizations"),
            }
            if guild_id is not None:
                out["guild_id"] = str(guild_id)
            stored.append(out)
        self.command_sets[guild_id] = stored
        return 200, stored

    async def _r_get_commands(self, ctx: _Ctx) -> tuple[int, Any]:
        self._check_app(ctx)
        guild_id = int(ctx.params["guild_id"]) if "guild_id" in ctx.params else None
        return 200, self.command_sets.get(guild_id, [])

    def _channel_or_404(self, ctx: _Ctx) -> FakeChannel:
        ch = self._channels.get(int(ctx.params["channel_id"]))
        if ch is None:
            raise _ApiError(404, 10003, "Unknown Channel")
        return ch

    def _require_perms(self, ch: FakeChannel, needed: int) -> None:
        perms = self.permissions_for(ch.guild_id, self.bot_user_id, ch.id)
        if not perms & VIEW_CHANNEL:
            raise _ApiError(403, 50001, "Missing Access")
        if perms & needed != needed:
            raise _ApiError(403, 50013, "Missing Permissions")

    async def _r_get_channel(self, ctx: _Ctx) -> tuple[int, Any]:
        ch = self._channel_or_404(ctx)
        self._require_perms(ch, VIEW_CHANNEL)
        return 200, self._channel_obj(ch)

    def _attachments(
        self, payload: dict[str, Any], files: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        if not files:
            return None
        if sum(f["size"] for f in files) > ATTACHMENT_SIZE_LIMIT:
            raise _ApiError(413, 40005, "Request entity too large")
        declared = payload.get("attachments") or []
        out = []
        for i, f in enumerate(files):
            aid = self.snowflake()
            url = f"https://cdn.discordapp.com/attachments/0/{aid}/{f['filename']}"
            meta = declared[i] if i < len(declared) else {}
            out.append(
                {
                    "id": str(aid),
                    "filename": f["filename"] or f"file{i}",
                    "size": f["size"],
                    "url": url,
                    "proxy_url": url,
                    "description": meta.get("description"),
                }
            )
        return out

    async def _r_create_message(self, ctx: _Ctx) -> tuple[int, Any]:
        ch = self._channel_or_404(ctx)
        if ch.is_thread:
            self._require_perms(ch, SEND_MESSAGES_IN_THREADS)
        else:
            self._require_perms(ch, SEND_MESSAGES)
        payload = ctx.body if ctx.body is not None else {}
        attachments = self._attachments(payload, ctx.files) if ctx.files else None
        if attachments:
            payload = {**payload, "attachments": attachments}
        self._check_message(ctx, payload, create=True)
        nonce = payload.get("nonce")
        if nonce is not None:
            nonce = str(nonce)
            seen = self._nonces.setdefault(ch.id, {})
            hit = seen.get(nonce)
            now = time.monotonic()
            if (
                payload.get("enforce_nonce")
                and hit is not None
                and now - hit[0] < self.nonce_window
            ):
                # Discord's documented dedupe: the original message comes back, nothing new.
                self.nonce_dedupes += 1
                return 200, self._message_obj(hit[1])
        stored = self._store_message(ch.id, payload, source="channel", attachments=attachments)
        if nonce is not None:
            self._nonces[ch.id][nonce] = (time.monotonic(), stored)
        return 200, self._message_obj(stored)

    async def _r_history(self, ctx: _Ctx) -> tuple[int, Any]:
        ch = self._channel_or_404(ctx)
        self._require_perms(ch, VIEW_CHANNEL | READ_MESSAGE_HISTORY)
        limit = min(int(ctx.query.get("limit", 50)), 100)
        msgs = [m for m in self._messages.get(ch.id, {}).values() if not m["ephemeral"]]
        return 200, [self._message_obj(m) for m in reversed(msgs[-limit:])]

    def _channel_message(self, ctx: _Ctx) -> dict[str, Any]:
        ch = self._channel_or_404(ctx)
        stored = self._messages.get(ch.id, {}).get(int(ctx.params["message_id"]))
        if stored is None:
            raise _ApiError(404, 10008, "Unknown Message")
        return stored

    async def _r_get_message(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._message_obj(self._channel_message(ctx))

    async def _r_edit_message(self, ctx: _Ctx) -> tuple[int, Any]:
        stored = self._channel_message(ctx)
        payload = ctx.body or {}
        self._check_message(ctx, payload, create=False)
        self._edit_message(stored, payload)
        return 200, self._message_obj(stored)

    async def _r_delete_message(self, ctx: _Ctx) -> tuple[int, Any]:
        self._delete_message(self._channel_message(ctx))
        return 204, None

    async def _r_typing(self, ctx: _Ctx) -> tuple[int, Any]:
        self._channel_or_404(ctx)
        return 204, None

    # ------------------------------------------------------------------ interaction endpoints

    # Which callback types Discord accepts per interaction type.
    _ALLOWED_CALLBACKS: ClassVar[dict[int, frozenset[int]]] = {
        2: frozenset({4, 5, 9, 12}),
        3: frozenset({4, 5, 6, 7, 9, 12}),
        4: frozenset({8}),
        5: frozenset({4, 5, 6, 7}),
    }

    async def _r_callback(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self.interactions.get(int(ctx.params["interaction_id"]))
        if rec is None or rec.token != ctx.params["token"]:
            raise _ApiError(404, 10062, "Unknown interaction")
        body = ctx.body or {}
        ctype = body.get("type")
        data = body.get("data")
        delay = time.monotonic() - rec.pushed_at
        attempt: dict[str, Any] = {"type": ctype, "data": data, "delay": delay, "status": 0}
        rec.callbacks.append(attempt)
        try:
            if rec.acknowledged:
                self._violate(
                    "interaction_already_acknowledged",
                    f"second callback (type {ctype}) for interaction {rec.id}",
                    method=ctx.method,
                    path=ctx.path,
                    payload=body,
                )
                raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
            if delay > self.interaction_deadline:
                rec.late = True
                self._violate(
                    "interaction_late",
                    f"first response to interaction {rec.id} after {delay:.3f}s "
                    f"(limit {self.interaction_deadline}s)",
                    method=ctx.method,
                    path=ctx.path,
                    payload=body,
                )
                raise _ApiError(404, 10062, "Unknown interaction")
            if ctype not in self._ALLOWED_CALLBACKS.get(rec.type, frozenset()):
                errs = _Errors()
                errs.add(
                    ("type",),
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    f"type {ctype} not valid for interaction type {rec.type}",
                )
                raise self._form_error(errs, ctx, body, kind="invalid_callback")
            status, out = self._apply_callback(ctx, rec, ctype, data or {})
        except _ApiError as exc:
            attempt["status"] = exc.status
            raise
        attempt["status"] = status
        rec._event.set()
        return status, out

    def _apply_callback(
        self, ctx: _Ctx, rec: InteractionRecord, ctype: int, data: dict[str, Any]
    ) -> tuple[int, Any]:
        message: dict[str, Any] | None = None
        if ctype == 4:
            self._check_message(ctx, data, create=True)
            mtype = 20 if rec.type == 2 else 0
            message = self._store_message(
                rec.channel_id, data, source="interaction", interaction_id=rec.id, mtype=mtype
            )
            rec.original = message
        elif ctype == 5:
            flags = (data.get("flags") or 0) & EPHEMERAL
            placeholder = {"content": "", "flags": flags | LOADING}
            message = self._store_message(
                rec.channel_id, placeholder, source="interaction", interaction_id=rec.id, mtype=20
            )
            rec.original = message
        elif ctype in (6, 7):
            target = self._msg_index.get(int(rec.payload.get("message", {}).get("id", 0)))
            if ctype == 7:
                self._check_message(ctx, data, create=False)
                if target is not None:
                    self._edit_message(target, data)
            rec.original = target
            message = target
        elif ctype == 8:
            choices = data.get("choices")
            errs = _Errors()
            if not isinstance(choices, list) or len(choices) > 25:
                errs.add(
                    ("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            else:
                for i, ch in enumerate(choices):
                    _max_len(errs, ("data", "choices", i, "name"), ch.get("name"), 100)
                    if isinstance(ch.get("value"), str):
                        _max_len(errs, ("data", "choices", i, "value"), ch["value"], 100)
            if errs:
                raise self._form_error(errs, ctx, data)
        elif ctype == 9:
            errs = _Errors()
            _check_custom_id(errs, ("data",), data.get("custom_id"), set())
            _max_len(errs, ("data", "title"), data.get("title"), 45)
            if not 1 <= len(data.get("components") or []) <= 5:
                errs.add(
                    ("data", "components"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
            if errs:
                raise self._form_error(errs, ctx, data)
        rec.response_type = ctype
        rec.response_data = data
        rec.response_delay = time.monotonic() - rec.pushed_at
        if ctx.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        interaction: dict[str, Any] = {
            "id": str(rec.id),
            "type": rec.type,
            "activity_instance_id": None,
            "response_message_id": str(message["id"]) if message else None,
            "response_message_loading": ctype == 5,
            "response_message_ephemeral": bool(message and message.get("ephemeral")),
        }
        resource: dict[str, Any] = {"type": ctype}
        if message is not None and ctype in (4, 5, 7):
            resource["message"] = self._message_obj(message)
        return 200, {"interaction": interaction, "resource": resource}

    def _interaction_for_token(self, ctx: _Ctx) -> InteractionRecord:
        if int(ctx.params["app"]) != self.application_id:
            raise _ApiError(404, 10015, "Unknown Webhook")
        rec = self._tokens.get(ctx.params["token"])
        if rec is None:
            raise _ApiError(404, 10015, "Unknown Webhook")
        if time.monotonic() - rec.pushed_at > self.followup_window:
            self._violate(
                "interaction_token_expired",
                f"interaction {rec.id} token used after 15 min",
                method=ctx.method,
                path=ctx.path,
            )
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        return rec

    async def _r_followup(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._interaction_for_token(ctx)
        if not rec.acknowledged:
            self._violate(
                "followup_before_ack",
                f"follow-up for interaction {rec.id} before the initial response",
                method=ctx.method,
                path=ctx.path,
                payload=ctx.body,
            )
            raise _ApiError(404, 10015, "Unknown Webhook")
        payload = ctx.body or {}
        attachments = self._attachments(payload, ctx.files) if ctx.files else None
        if attachments:
            payload = {**payload, "attachments": attachments}
        self._check_message(ctx, payload, create=True)
        stored = self._store_message(
            rec.channel_id,
            payload,
            source="followup",
            interaction_id=rec.id,
            mtype=0,
            attachments=attachments,
        )
        rec.followups.append(stored)
        if ctx.query.get("wait") in ("1", "true", "True"):
            return 200, self._message_obj(stored)
        return 204, None

    def _webhook_message(self, ctx: _Ctx, rec: InteractionRecord) -> dict[str, Any]:
        mid = ctx.params["message_id"]
        if mid == "@original":
            if rec.original is None or rec.original["id"] not in self._msg_index:
                raise _ApiError(404, 10008, "Unknown Message")
            return rec.original
        stored = self._msg_index.get(int(mid))
        if stored is None or (
            stored.get("interaction_id") != rec.id and stored is not rec.original
        ):
            raise _ApiError(404, 10008, "Unknown Message")
        return stored

    async def _r_wh_get(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._interaction_for_token(ctx)
        return 200, self._message_obj(self._webhook_message(ctx, rec))

    async def _r_wh_edit(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._interaction_for_token(ctx)
        stored = self._webhook_message(ctx, rec)
        payload = ctx.body or {}
        self._check_message(ctx, payload, create=False)
        self._edit_message(stored, payload)
        rec.edits.append({"message_id": stored["id"], **payload})
        return 200, self._message_obj(stored)

    async def _r_wh_delete(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._interaction_for_token(ctx)
        self._delete_message(self._webhook_message(ctx, rec))
        return 204, None

    # ------------------------------------------------------------------ gateway

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False, autoping=True)
        await ws.prepare(request)
        # discord.py asks for ?compress=zlib-stream; plain text frames bypass its decompressor.
        conn = _Conn(ws, request.path, dict(request.query))
        self._conns.add(conn)
        try:
            await conn.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        await ws.close(code=4002, message=b"Error while decoding payload.")
                        break
                    await self._on_gateway(conn, payload)
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        return ws

    async def _on_gateway(self, conn: _Conn, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == 8:
            await self._member_chunks(conn.session, data or {})
        elif op in (3, 4):
            pass  # presence / voice state: accepted, nothing to model
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if self.token is not None and data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard_raw = data.get("shard") or [0, 1]
        shard = (int(shard_raw[0]), int(shard_raw[1]))
        if shard[1] < 1 or not 0 <= shard[0] < shard[1]:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        if "intents" not in data:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        session = _Session(secrets.token_hex(16), shard, int(data["intents"]))
        session.conn = conn
        conn.session = session
        self._sessions[session.session_id] = session
        self.identifies.append(
            {
                "shard": list(shard),
                "shard_given": data.get("shard") is not None,
                "intents": session.intents,
                "session_id": session.session_id,
                "large_threshold": data.get("large_threshold"),
                "compress_query": conn.query.get("compress"),
                "path": conn.path,
            }
        )
        guilds = [g for g in self.guilds.values() if session.owns(g.id)]
        await session.dispatch(
            "READY",
            {
                "v": 10,
                "user": self.bot_user(),
                "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "resume_gateway_url": self.resume_gateway_url,
                "shard": list(shard),
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "user_settings": {},
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "session_type": "normal",
                "auth": {},
            },
        )
        for g in guilds:
            await session.dispatch("GUILD_CREATE", self._guild_create(g, session.intents))

    async def _resume(self, conn: _Conn, data: dict[str, Any]) -> None:
        session = self._sessions.get(data.get("session_id") or "")
        if session is None or (self.token is not None and data.get("token") != self.token):
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        old = session.conn
        if old is not None and old is not conn and old.open:
            await old.ws.close(code=4009)
        session.conn = conn
        conn.session = session
        last = int(data.get("seq") or 0)
        replayed = 0
        for seq, text in list(session.buffer):
            if seq > last:
                await conn.send_text(text)
                replayed += 1
        self.resumes.append(
            {"session_id": session.session_id, "seq": last, "replayed": replayed, "path": conn.path}
        )
        await session.dispatch("RESUMED", {})

    async def _member_chunks(self, session: _Session, data: dict[str, Any]) -> None:
        guild = self.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        await session.dispatch(
            "GUILD_MEMBERS_CHUNK",
            {
                "guild_id": str(guild.id),
                "members": [self._member_obj(guild, m) for m in guild.members.values()],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
                "nonce": data.get("nonce"),
            },
        )

    def _session_for_guild(self, guild_id: int) -> _Session:
        # Prefer a live connection; a dropped one still buffers events for RESUME.
        candidates = [s for s in self._sessions.values() if s.owns(guild_id)]
        for s in reversed(candidates):
            if s.conn is not None and s.conn.open:
                return s
        if candidates:
            return candidates[-1]
        raise LookupError(f"no gateway session owns guild {guild_id}; is the client connected?")

    async def dispatch(self, guild_id: int, event: str, data: Any) -> None:
        """Send a raw DISPATCH event to the session that owns ``guild_id``'s shard."""
        await self._session_for_guild(guild_id).dispatch(event, data)

    async def send_guild_create(self, guild_id: int) -> None:
        """Tell the owning shard the bot joined ``guild_id`` (add it with add_guild first)."""
        session = self._session_for_guild(guild_id)
        await session.dispatch(
            "GUILD_CREATE", self._guild_create(self.guilds[guild_id], session.intents)
        )

    async def remove_guild(self, guild_id: int) -> None:
        """The bot leaves a guild: GUILD_DELETE is sent and its channels start answering 404."""
        try:
            session: _Session | None = self._session_for_guild(guild_id)
        except LookupError:
            session = None
        guild = self.guilds.pop(guild_id)
        for cid in guild.channels:
            self._channels.pop(cid, None)
        if session is not None:
            await session.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    async def delete_channel(self, channel_id: int) -> None:
        """Delete a channel: CHANNEL_DELETE (or THREAD_DELETE) is sent; later requests get 404."""
        ch = self._channels.pop(channel_id)
        self.guilds[ch.guild_id].channels.pop(channel_id, None)
        event = "THREAD_DELETE" if ch.is_thread else "CHANNEL_DELETE"
        await self.dispatch(ch.guild_id, event, self._channel_obj(ch))

    async def disconnect(
        self, *, shard_id: int | None = None, code: int = 4000, invalidate: bool = False
    ) -> None:
        """Close live gateway connections (all, or one shard's) so clients reconnect.

        With ``invalidate`` the sessions are forgotten and RESUME gets op 9 (must re-IDENTIFY).
        """
        for sid, session in list(self._sessions.items()):
            if shard_id is not None and session.shard[0] != shard_id:
                continue
            if invalidate:
                del self._sessions[sid]
            if session.conn is not None and session.conn.open:
                await session.conn.ws.close(code=code)

    # ------------------------------------------------------------------ interactions

    def _find_command(self, guild_id: int, name: str, ctype: int) -> dict[str, Any]:
        for scope in (guild_id, None):
            for cmd in self.command_sets.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd
        raise LookupError(
            f"command {name!r} (type {ctype}) is not registered globally or in guild {guild_id}; "
            "Discord cannot deliver it (did the bot sync its command tree?)"
        )

    def _build_options(
        self,
        guild: FakeGuild,
        defs: list[dict[str, Any]],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
        partial: bool,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in defs}
        out = []
        for name, value in values.items():
            spec = by_name.get(name)
            if spec is None:
                raise ValueError(f"option {name!r} is not defined; known: {sorted(by_name)}")
            otype = spec["type"]
            if otype in (1, 2):
                sub = self._build_options(
                    guild, spec.get("options", []), value or {}, resolved, focused, partial
                )
                out.append({"name": name, "type": otype, "options": sub})
                continue
            if name == focused:
                out.append({"name": name, "type": otype, "value": str(value), "focused": True})
                continue
            value = _OPTION_CONVERTERS.get(otype, lambda v: v)(value)
            choices = spec.get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise ValueError(f"value {value!r} for {name!r} is not one of the choices")
            out.append({"name": name, "type": otype, "value": value})
            self._resolve(guild, otype, value, resolved)
        if not partial:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        return out

    def _resolve(
        self, guild: FakeGuild, otype: int, value: Any, resolved: dict[str, dict[str, Any]]
    ) -> None:
        if otype in (6, 9) and int(value) in guild.members:
            member = guild.members[int(value)]
            resolved.setdefault("users", {})[value] = self._user_obj(member)
            resolved.setdefault("members", {})[value] = {
                **self._member_obj(guild, member, with_user=False),
                "permissions": str(self.permissions_for(guild.id, member.id)),
            }
        elif otype in (7, 9) and int(value) in self._channels:
            ch = self._channels[int(value)]
            resolved.setdefault("channels", {})[value] = {
                **self._channel_obj(ch),
                "permissions": str(self.permissions_for(guild.id, self.bot_user_id, ch.id)),
            }
        elif otype in (8, 9) and int(value) in guild.roles:
            resolved.setdefault("roles", {})[value] = guild.roles[int(value)]

    def _interaction_payload(
        self,
        itype: int,
        guild_id: int,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        permissions: int | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> tuple[int, str, dict[str, Any]]:
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise LookupError(f"unknown guild {guild_id}")
        ch = guild.channels.get(channel_id)
        if ch is None:
            raise LookupError(f"channel {channel_id} is not in guild {guild_id}")
        member = guild.members.get(user_id) or self.add_member(guild_id, user_id)
        perms = (
            permissions
            if permissions is not None
            else self.permissions_for(guild_id, user_id, channel_id)
        )
        iid = self.snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": {**self._channel_obj(ch), "permissions": str(perms)},
            "member": {**self._member_obj(guild, member), "permissions": str(perms)},
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions_for(guild_id, self.bot_user_id, channel_id)),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = message
        return iid, token, payload

    async def _push(
        self,
        itype: int,
        guild_id: int,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        *,
        name: str | None,
        custom_id: str | None = None,
        permissions: int | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> InteractionRecord:
        session = self._session_for_guild(guild_id)
        iid, token, payload = self._interaction_payload(
            itype, guild_id, channel_id, user_id, data, permissions, locale, message
        )
        rec = InteractionRecord(
            id=iid,
            token=token,
            type=itype,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            name=name,
            custom_id=custom_id,
            payload=payload,
            pushed_at=time.monotonic(),
        )
        self.interactions[iid] = rec
        self._tokens[token] = rec
        self._timers.append(
            asyncio.get_running_loop().call_later(
                self.interaction_deadline, self._check_answered, rec
            )
        )
        await session.dispatch("INTERACTION_CREATE", payload)
        return rec

    def _check_answered(self, rec: InteractionRecord) -> None:
        if not rec.acknowledged and not rec.late:
            self._violate(
                "interaction_unanswered",
                f"interaction {rec.id} ({rec.name or rec.custom_id}) not answered within "
                f"{self.interaction_deadline}s",
            )

    def _command_data(
        self,
        guild: FakeGuild,
        command_name: str,
        options: dict[str, Any] | None,
        focused: str | None,
    ) -> dict[str, Any]:
        root, *path = command_name.split()
        cmd = self._find_command(guild.id, root, 1)
        values: dict[str, Any] = dict(options or {})
        # "group sub" becomes nested SUB_COMMAND_GROUP / SUB_COMMAND options.
        for part in reversed(path):
            values = {part: values}
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._build_options(
            guild, cmd.get("options", []), values, resolved, focused, focused is not None
        )
        data: dict[str, Any] = {"id": cmd["id"], "name": root, "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def push_interaction(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        command_name: str,
        options: dict[str, Any] | None = None,
        *,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Send an APPLICATION_COMMAND interaction (type 2) as a user invoking a slash command.

        ``command_name`` may name a subcommand (``"papers latest"``). Option types come from
        the registered command set, so the command must have been synced. ``permissions``
        overrides the member's computed permissions.
        """
        guild = self.guilds[guild_id]
        data = self._command_data(guild, command_name, options, None)
        return await self._push(
            2,
            guild_id,
            channel_id,
            user_id,
            data,
            name=command_name,
            permissions=permissions,
            locale=locale,
        )

    async def push_autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        command_name: str,
        options: dict[str, Any],
        *,
        focused: str,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Send an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4) for option ``focused``."""
        guild = self.guilds[guild_id]
        data = self._command_data(guild, command_name, options, focused)
        return await self._push(
            4,
            guild_id,
            channel_id,
            user_id,
            data,
            name=command_name,
            permissions=permissions,
            locale=locale,
        )

    async def push_component(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Send a MESSAGE_COMPONENT interaction (type 3): a user clicks ``custom_id`` on a
        message the bot sent (button by default, or a select with ``values``)."""
        stored = self._msg_index.get(message_id)
        if stored is None:
            raise LookupError(f"unknown message {message_id}")
        if not _has_custom_id(stored.get("components") or [], custom_id):
            raise LookupError(f"message {message_id} has no component with custom_id {custom_id!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return await self._push(
            3,
            guild_id,
            channel_id,
            user_id,
            data,
            name=None,
            custom_id=custom_id,
            permissions=permissions,
            locale=locale,
            message=self._message_obj(stored),
        )

    async def push_modal_submit(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        custom_id: str,
        values: dict[str, str],
        *,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Send a MODAL_SUBMIT interaction (type 5); ``values``: text-input custom_id -> text."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
            for k, v in values.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        return await self._push(
            5,
            guild_id,
            channel_id,
            user_id,
            data,
            name=None,
            custom_id=custom_id,
            permissions=permissions,
            locale=locale,
        )

    async def wait_interaction_response(
        self,
        interaction_id: int,
        timeout: float = 5.0,
    ) -> InteractionRecord:
        """Wait until the interaction got its first accepted callback; raises ``TimeoutError``."""
        return await self.interactions[interaction_id].wait_response(timeout)

    def unanswered_interactions(self) -> list[InteractionRecord]:
        """Interactions that never got an accepted callback."""
        return [r for r in self.interactions.values() if not r.acknowledged]


def _has_custom_id(components: list[dict[str, Any]], custom_id: str) -> bool:
    stack = list(components)
    while stack:
        comp = stack.pop()
        if comp.get("custom_id") == custom_id:
            return True
        stack.extend(comp.get("components") or [])
        stack.extend(comp.get("items") or [])
        if isinstance(comp.get("accessory"), dict):
            stack.append(comp["accessory"])
    return False


@dataclass(slots=True)
class _Ctx:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    files: list[dict[str, Any]]
    query: Any
