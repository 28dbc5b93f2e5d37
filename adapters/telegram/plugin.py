"""The Telegram adapter as a ``paperbot.adapters`` plugin.

python-telegram-bot is imported only when the adapter is created, so listing
the installed plugins (for log redaction, ``doctor``, imports) never loads it.
"""

from __future__ import annotations

import re

import httpx

from adapters.telegram.settings import TelegramSettings
from bot.doctor import json_of, status_of, unreachable, wrong_url
from bot.models import Defaults
from bot.ports.chat import ChatAdapter, CommandHandler
from bot.ports.plugins import Check

# Telegram tokens look like 123456:AA...; no word boundary is required before
# the digits because Bot API URLs glue them to a letter ("/bot123456:AA.../getMe").
TOKEN_RE = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")


class TelegramPlugin:
    """Runs the Telegram adapter when ``PAPERBOT_TELEGRAM_TOKEN`` is set."""

    name = "telegram"
    settings_class = TelegramSettings
    fallback = False
    enable_hint = "PAPERBOT_TELEGRAM_TOKEN"
    secret_patterns = (TOKEN_RE,)

    def enabled(self, settings: TelegramSettings) -> bool:
        """True when a bot token is set."""
        return settings.token is not None

    def fallback_ready(self) -> bool:
        """Never the fallback."""
        return False

    def create(
        self, settings: TelegramSettings, handler: CommandHandler, defaults: Defaults
    ) -> ChatAdapter:
        """A Telegram adapter (polling, or a webhook when its URL is set)."""
        from adapters.telegram.adapter import TelegramAdapter

        return TelegramAdapter(settings, handler)

    async def check(self, settings: TelegramSettings, client: httpx.AsyncClient) -> Check | None:
        """``getMe`` accepts the token."""
        if settings.token is None:
            return None
        api_url = settings.api_url
        try:
            response = await client.get(f"{api_url}/bot{settings.token.get_secret_value()}/getMe")
        except httpx.HTTPError as exc:
            return unreachable("telegram", api_url, exc)
        body = json_of(response)
        wrong = wrong_url(response, body, "PAPERBOT_TELEGRAM_API_URL", "https://api.telegram.org")
        if wrong:
            return Check("telegram", False, wrong + " without /bot")
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("ok"):
            detail = status_of(response, body, "description")
            return Check("telegram", False, f"token rejected: {detail}")
        bot = body.get("result")
        username = bot.get("username") if isinstance(bot, dict) else None
        return Check("telegram", True, f"token accepted (bot @{username or '?'})")

    def secrets(self, settings: TelegramSettings) -> list[str]:
        """The bot token and the webhook secret, when set."""
        values = (settings.token, settings.webhook_secret)
        return [value.get_secret_value() for value in values if value is not None]


plugin = TelegramPlugin()
