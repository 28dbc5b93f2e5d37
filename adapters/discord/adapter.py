"""The Discord adapter: a discord.py AutoShardedClient inside the bot's own event loop.

Commands arrive as interactions only (slash commands and buttons), so the bot
needs no message-content intent: the gateway is opened with the ``guilds``
intent alone. Digests go out through the REST API with a nonce and
``enforce_nonce``, so a resend after a crash returns the message that already
exists instead of posting a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import yarl
from discord import app_commands

from adapters.discord import parse
from adapters.discord.errors import SEND_FAILURES, delivery_error
from adapters.discord.interactions import DEFAULT_BUDGET, Responder, Style
from adapters.discord.render import LIMITS, measure, render_reply
from adapters.discord.settings import DiscordSettings
from adapters.discord.slash import install_commands
from bot.catalogue import needs_admin
from bot.faults import describe
from bot.models import Command, Defaults, Post, Reply
from bot.ports.chat import (
    ChannelGone,
    CommandHandler,
    RateWindow,
    TemporaryFailure,
    fingerprint,
)

log = logging.getLogger("paperbot.discord")

# discord.py waits out shorter 429s itself and raises RateLimited for longer
# ones; 30 s is the smallest ceiling it accepts.
MAX_RATELIMIT_WAIT = 30.0
STOP_TIMEOUT = 5.0
NONCE_CHARS = 25  # Discord's maximum

# Documented ceilings (Discord API docs, "Rate Limits"). discord.py also honours
# each route's X-RateLimit headers on top of these.
GLOBAL_WINDOW = RateWindow("global", 50, 1.0)
CHANNEL_SENDS, CHANNEL_SECONDS = 5, 5.0


def nonce_for(key: str) -> str:
    """A stable Discord nonce (at most 25 characters) for a post key."""
    return hashlib.sha256(key.encode()).hexdigest()[:NONCE_CHARS]


def point_at(api_url: str, gateway_url: str) -> None:
    """Aim discord.py's REST base and default gateway at the configured URLs.

    Both are class attributes, so they apply to every client in the process;
    they are set at start and not restored, since restoring them under another
    running client would cut it off.
    """
    discord.http.Route.BASE = api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class _Client(discord.AutoShardedClient):
    """discord.py's sharded client, handing every button click to the adapter.

    Clicks are answered from the custom_id and the database rather than
    through registered views, so buttons keep working after a restart.
    """

    def __init__(
        self, on_click: Callable[[discord.Interaction[Any]], Awaitable[None]], **options: Any
    ) -> None:
        super().__init__(**options)
        self._on_click = on_click

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """discord.py's hook for every interaction; slash commands go to the tree."""
        if interaction.type is discord.InteractionType.component:
            await self._on_click(interaction)


class DiscordAdapter:
    """Slash commands, embeds and buttons on Discord; implements the ChatAdapter port.

    Test knobs: ``guild_ready_timeout`` (discord.py waits this long for
    guilds after READY), ``ready_timeout`` (how long :meth:`start` waits),
    ``send_timeout`` (one digest send, discord.py's own retries included) and
    ``reply_budget`` (see :mod:`adapters.discord.interactions`).
    """

    platform = parse.PLATFORM
    limits = LIMITS

    def __init__(
        self,
        settings: DiscordSettings,
        handler: CommandHandler,
        defaults: Defaults | None = None,
        *,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 120.0,
        send_timeout: float = 15.0,
        reply_budget: float = DEFAULT_BUDGET,
    ) -> None:
        if settings.token is None:
            raise ValueError("PAPERBOT_DISCORD_TOKEN is not set")
        self._settings = settings
        self._defaults = defaults or Defaults()
        self._handler = handler
        self._responder = Responder(self._guarded, reply_budget)
        self._guild_ready_timeout = guild_ready_timeout
        self._ready_timeout = ready_timeout
        self._send_timeout = send_timeout
        self._client: _Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()

    # lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Log in, connect the shards, wait until ready and sync the slash commands.

        Raises what went wrong (bad token, unreachable API, sync refused) so
        ``paperbot run`` fails loudly instead of running deaf.
        """
        point_at(self._settings.api_url, self._settings.gateway_url)
        client, tree = self._build_client()
        self._client = client
        try:
            await self._connect(client)
            await self._sync(tree)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "discord ready: %d guild(s), shards %s of %s",
            len(client.guilds),
            self._settings.shard_id_list or "all",
            client.shard_count,
        )

    async def stop(self) -> None:
        """Close the client and wait for its shards to finish; safe to call twice."""
        task, self._task, self._client = self._task, None, None
        await self._stack.aclose()
        if task is not None:
            try:
                await asyncio.wait_for(task, STOP_TIMEOUT)
            except Exception as exc:  # a failed connection must not make stopping fail
                log.warning("discord client ended with %s", describe(exc))

    def _build_client(self) -> tuple[_Client, app_commands.CommandTree[_Client]]:
        # The bot never joins voice: skip discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # channel and thread caches; no message content needed
        client = _Client(
            self._on_click,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=self._settings.shards,
            shard_ids=self._settings.shard_id_list,
            guild_ready_timeout=self._guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
        )
        tree = app_commands.CommandTree(
            client, allowed_contexts=app_commands.AppCommandContext(guild=True)
        )
        install_commands(
            tree,
            self._on_command,
            default_time=self._defaults.post_time.strftime("%H:%M"),
            default_timezone=self._defaults.timezone,
        )
        return client, tree

    async def _connect(self, client: _Client) -> None:
        """Log in and connect this process's shards; returns once they are ready."""
        token = self._settings.token
        assert token is not None
        # The client's own context manager, as `async with client:` would.
        await self._stack.enter_async_context(client)
        await client.login(token.get_secret_value())
        if client.shard_count is None:
            # Ask for Discord's recommended count here: left to discord.py, the
            # same answer's gateway URL would override PAPERBOT_DISCORD_GATEWAY_URL.
            client.shard_count, _, _ = await client.http.get_bot_gateway()
        self._task = asyncio.create_task(client.connect(), name="discord-client")
        await self._wait_ready(client, self._task)

    async def _wait_ready(self, client: _Client, task: asyncio.Task[None]) -> None:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {task, ready}, timeout=self._ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready in done:
            return
        ready.cancel()
        if task in done:
            task.result()  # raises the connection error, if there was one
            raise RuntimeError("the Discord client stopped before it was ready")
        raise TimeoutError(f"Discord did not become ready within {self._ready_timeout:g}s")

    async def _sync(self, tree: app_commands.CommandTree[_Client]) -> None:
        # One process syncs: the one running shard 0 (or all shards).
        shard_ids = self._settings.shard_id_list
        if shard_ids is not None and 0 not in shard_ids:
            return
        guild_id = self._settings.guild_id
        if guild_id is None:
            synced = await tree.sync()
            log.info("synced %d slash commands globally (may take a while to show)", len(synced))
            return
        guild = discord.Object(guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
        log.info("synced %d slash commands to guild %d", len(synced), guild_id)

    # incoming ----------------------------------------------------------------------
    async def _guarded(self, command: Command) -> Reply:
        """The core's handler behind the run-time Manage Channels check (from the catalogue)."""
        if needs_admin(command.name, command.args) and not command.is_admin:
            return Reply(
                text=f"You need the Manage Channels permission to use /{command.name}.",
                is_error=True,
                ephemeral=True,
            )
        return await self._handler(command)

    async def _on_command(
        self, interaction: discord.Interaction[Any], name: str, args: str
    ) -> None:
        command = parse.command_from(interaction, name, args)
        await self._responder.answer(interaction, command, Style.REPLY)

    async def _on_click(self, interaction: discord.Interaction[Any]) -> None:
        custom_id = interaction.custom_id or ""
        parsed = parse.button_command(custom_id)
        if parsed is None:
            expired = Reply(text="This button is not valid any more.", is_error=True)
            await self._responder.respond_now(interaction, expired, Style.PRIVATE)
            return
        name, args = parsed
        # Paging rewrites the result message in place; details open a private card.
        style = Style.UPDATE if name == "page" else Style.PRIVATE
        await self._responder.answer(
            interaction, parse.command_from(interaction, name, args), style
        )

    # outgoing ----------------------------------------------------------------------
    async def send(self, channel: str, post: Post) -> str:
        """Post a digest part to a channel or thread; returns the message id.

        The nonce derived from ``post.key`` makes Discord return the existing
        message when the same part is sent again (a retry after a timeout or
        a crash), so it is never posted twice.
        """
        client = self._client
        if client is None or client.is_closed():
            raise TemporaryFailure("the Discord client is not running")
        try:
            channel_id = parse.channel_id_of(channel)
        except ValueError as exc:
            raise ChannelGone("unknown_channel", str(exc)) from None
        target = client.get_partial_messageable(channel_id)
        message = render_reply(post.body)
        try:
            sent = await asyncio.wait_for(
                target.send(**message.send_kwargs(), nonce=nonce_for(post.key)),
                self._send_timeout,
            )
        except SEND_FAILURES as exc:
            raise delivery_error(exc) from exc
        return str(sent.id)

    def measure(self, body: Reply) -> int:
        """Embed characters of ``body`` once rendered (Discord's 6,000 per message)."""
        return measure(body)

    @property
    def budget_key(self) -> str:
        """The bot's account, named by a hash of its token (never the token itself)."""
        token = self._settings.token
        assert token is not None  # the constructor refuses to build without one
        return f"discord:{fingerprint(token.get_secret_value())}"

    def rate_windows(self, channel: str) -> list[RateWindow]:
        """50 requests per second per bot, about 5 messages per 5 s per channel."""
        return [GLOBAL_WINDOW, RateWindow(f"channel:{channel}", CHANNEL_SENDS, CHANNEL_SECONDS)]
