"""The Discord adapter as a ``paperbot.adapters`` plugin.

discord.py is imported only when the adapter is created, so listing the
installed plugins never loads it.
"""

from __future__ import annotations

import httpx

from adapters.discord.settings import DiscordSettings
from bot.doctor import json_of, status_of, unreachable, wrong_url
from bot.models import Defaults
from bot.ports.chat import ChatAdapter, CommandHandler
from bot.ports.plugins import Check


class DiscordPlugin:
    """Runs the Discord adapter when ``PAPERBOT_DISCORD_TOKEN`` is set."""

    name = "discord"
    settings_class = DiscordSettings
    fallback = False
    enable_hint = "PAPERBOT_DISCORD_TOKEN"
    secret_patterns = ()

    def enabled(self, settings: DiscordSettings) -> bool:
        """True when a bot token is set."""
        return settings.token is not None

    def fallback_ready(self) -> bool:
        """Never the fallback."""
        return False

    def create(
        self, settings: DiscordSettings, handler: CommandHandler, defaults: Defaults
    ) -> ChatAdapter:
        """A Discord adapter; ``defaults`` fill the slash commands' option descriptions."""
        from adapters.discord.adapter import DiscordAdapter

        return DiscordAdapter(settings, handler, defaults)

    async def check(self, settings: DiscordSettings, client: httpx.AsyncClient) -> Check | None:
        """``GET /users/@me`` accepts the token."""
        if settings.token is None:
            return None
        api_url = settings.api_url
        headers = {"Authorization": f"Bot {settings.token.get_secret_value()}"}
        try:
            response = await client.get(f"{api_url}/users/@me", headers=headers)
        except httpx.HTTPError as exc:
            return unreachable("discord", api_url, exc)
        body = json_of(response)
        wrong = wrong_url(response, body, "PAPERBOT_DISCORD_API_URL", "https://discord.com/api/v10")
        if wrong:
            return Check("discord", False, wrong)
        if response.status_code != 200 or not isinstance(body, dict):
            return Check(
                "discord", False, f"token rejected: {status_of(response, body, 'message')}"
            )
        return Check("discord", True, f"token accepted (bot {body.get('username') or '?'})")

    def secrets(self, settings: DiscordSettings) -> list[str]:
        """The bot token, when set."""
        return [settings.token.get_secret_value()] if settings.token is not None else []


plugin = DiscordPlugin()
