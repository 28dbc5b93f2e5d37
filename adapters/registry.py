"""Which chat adapters to run, from the settings.

The only place that imports the platform packages, and only when their token
is set, so the core and a console-only run never load discord or telegram.
"""

from __future__ import annotations

from bot.config import Settings
from bot.ports.chat import ChatAdapter, CommandHandler


def configured_adapters(settings: Settings, handler: CommandHandler) -> list[ChatAdapter]:
    """One adapter per platform whose token is set."""
    adapters: list[ChatAdapter] = []
    if settings.telegram_token is not None:
        from adapters.telegram.adapter import TelegramAdapter

        adapters.append(TelegramAdapter(settings, handler))
    if settings.discord_token is not None:
        from adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter(settings, handler))
    return adapters
