"""discord.py failures as the port's delivery errors; the core never sees a discord exception."""

from __future__ import annotations

import aiohttp
import discord

from bot.ports.chat import ChannelGone, DeliveryError, RateLimited, TemporaryFailure

# What send() turns into delivery errors; anything else is a bug and propagates.
SEND_FAILURES = (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError)

# Used when a 429 names no wait (a Cloudflare block answers without a body).
DEFAULT_RETRY_AFTER = 5.0

# JSON error codes that mean "stop posting here" (Discord's JSON error code table).
GONE_CODES = {
    50001: "missing_access",
    50013: "missing_permission",
    10003: "unknown_channel",
}


def _retry_after(exc: discord.HTTPException) -> float:
    header = getattr(exc.response, "headers", {}).get("Retry-After")
    try:
        return max(float(header), 0.0) if header is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def delivery_error(exc: BaseException) -> DeliveryError:
    """The delivery error for a failed send.

    A 429 reaches us only after discord.py gave up waiting: it retries short
    waits itself and raises :class:`discord.RateLimited` for waits longer than
    the client's ``max_ratelimit_timeout``. Every 403 and a 404 "unknown
    channel" mean the channel is gone for us: Discord bans bots that keep
    sending invalid requests. Anything else (5xx, timeouts, network errors,
    even a 400 that a later release may fix) is worth retrying with backoff.
    """
    if isinstance(exc, discord.RateLimited):
        return RateLimited(exc.retry_after, f"discord asked to wait {exc.retry_after:.1f}s")
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return RateLimited(_retry_after(exc), "discord answered 429")
        if exc.code in GONE_CODES:
            return ChannelGone(GONE_CODES[exc.code], f"{exc.status} {exc.code}: {exc.text}")
        if exc.status == 403:
            return ChannelGone("forbidden", f"403 {exc.code}: {exc.text}")
        return TemporaryFailure(f"discord answered {exc.status} (code {exc.code})")
    if isinstance(exc, TimeoutError):
        return TemporaryFailure("timed out waiting for discord")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TemporaryFailure(f"network error: {type(exc).__name__}")
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")
