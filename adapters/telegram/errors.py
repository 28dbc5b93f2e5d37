"""Bot API failures as the port's delivery errors, so the core never sees a PTB exception.

Descriptions are matched case-insensitively: PTB rewrites some of them
("Bad Request: chat not found" arrives as "Chat not found").
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from adapters.telegram.parse import Target
from bot.ports.chat import ChannelGone, ChannelMoved, DeliveryError, RateLimited, TemporaryFailure

log = logging.getLogger("paperbot.telegram")

# (fragment of the description, reason recorded on the paused subscription)
_FORBIDDEN_REASONS = (
    ("blocked", "blocked"),
    ("kicked", "kicked"),
    ("not a member", "not_member"),
    ("deactivated", "deactivated"),
)
_GONE_BAD_REQUESTS = (
    ("chat not found", "chat_not_found"),
    ("message thread not found", "topic_deleted"),
    ("topic_deleted", "topic_deleted"),
    ("topic_closed", "topic_closed"),
    ("not enough rights", "no_permission"),
    ("have no rights", "no_permission"),
)


def retry_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked us to wait, in seconds.

    PTB 22 returns an int and warns about a future switch to timedelta;
    accept both and keep the warning out of the logs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _reason(exc: TelegramError, table: tuple[tuple[str, str], ...]) -> str | None:
    description = exc.message.casefold()
    return next((reason for fragment, reason in table if fragment in description), None)


def delivery_error(exc: TelegramError) -> DeliveryError:
    """The delivery error the core should act on for a failed send.

    A BadRequest that is not about the chat means Telegram rejected a message
    we built: a bug on our side, not the channel's fault. It becomes a
    TemporaryFailure, so the subscription is not paused for it; the bounded
    retries end in 'failed' with the description recorded, and it is logged
    at ERROR so someone fixes it.
    """
    detail = f"{type(exc).__name__}: {exc.message}"
    if isinstance(exc, RetryAfter):
        return RateLimited(retry_seconds(exc), detail)
    if isinstance(exc, ChatMigrated):
        return ChannelMoved(Target(exc.new_chat_id).channel, detail)
    if isinstance(exc, Forbidden):
        return ChannelGone(_reason(exc, _FORBIDDEN_REASONS) or "forbidden", detail)
    if isinstance(exc, BadRequest):  # before the NetworkError family it belongs to
        reason = _reason(exc, _GONE_BAD_REQUESTS)
        if reason is not None:
            return ChannelGone(reason, detail)
        log.error("Telegram rejected a message we built: %s", exc.message)
        return TemporaryFailure(detail)
    if isinstance(exc, InvalidToken):
        return TemporaryFailure("the Bot API rejected the token: check PAPERBOT_TELEGRAM_TOKEN")
    # TimedOut, NetworkError (connection failures and every 5xx), Conflict.
    return TemporaryFailure(detail)
