"""The slash commands: names, options and descriptions as Discord shows them.

Each command only turns its options into argument text and hands it to
``run``; the adapter does the rest. The subscription commands carry
``default_member_permissions`` = Manage Channels, so Discord hides them
from other members by default; server admins can change that per server,
which is why the adapter checks the permission again at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import discord
from discord import app_commands

from adapters.discord import parse
from bot.query import MAX_QUERY_CHARS
from bot.subscription_options import SETTING_KEYS

Interaction = discord.Interaction[Any]
RunCommand = Callable[[Interaction, str, str], Awaitable[None]]
# The query shares the router's length limit with the " sort:relevance" we may append.
QUERY_CHARS = MAX_QUERY_CHARS - len(" sort:relevance")
SETTING_CHOICES = [
    app_commands.Choice(name=f"{key}: {help_text}"[:100], value=key)
    for key, help_text in SETTING_KEYS.items()
]


async def timezone_autocomplete(
    interaction: Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA timezones matching what the user typed so far."""
    return [app_commands.Choice(name=zone, value=zone) for zone in parse.timezone_choices(current)]


def install_commands(
    tree: app_commands.CommandTree[Any],
    run: RunCommand,
    *,
    default_time: str = "09:00",
    default_timezone: str = "UTC",
) -> None:
    """Add /today, /search, /paper, /subscribe, /unsubscribe, /settings, /preview and /help.

    The defaults only appear in the option descriptions; the router applies them.
    """

    @tree.command(name="today", description="The most upvoted papers of the latest day")
    @app_commands.describe(date="A day like 2025-03-14 (default: the latest Hugging Face day)")
    async def today(interaction: Interaction, date: str | None = None) -> None:
        await run(interaction, "today", parse.today_args(date))

    @tree.command(name="search", description="Find papers by words, phrases, authors")
    @app_commands.describe(
        query='Words (all must match), "exact phrase", -exclude, author:Name, since:2025-01-01',
        sort="Order of the results (default: relevance)",
    )
    async def search(
        interaction: Interaction,
        query: app_commands.Range[str, 1, QUERY_CHARS],
        sort: Literal["relevance", "recent", "upvotes"] | None = None,
    ) -> None:
        await run(interaction, "search", parse.search_args(query, sort))

    @tree.command(name="paper", description="One paper with its abstract and links")
    @app_commands.describe(id="arXiv id or URL, e.g. 2305.14858")
    async def paper(interaction: Interaction, id: app_commands.Range[str, 1, 200]) -> None:
        await run(interaction, "paper", id)

    @tree.command(name="subscribe", description="Post a daily digest in this channel")
    @app_commands.describe(
        time=f"Local time, 24-hour HH:MM (default {default_time})",
        timezone=f"IANA timezone, e.g. Europe/Berlin (default {default_timezone})",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    @app_commands.default_permissions(manage_channels=True)
    async def subscribe(
        interaction: Interaction, time: str | None = None, timezone: str | None = None
    ) -> None:
        await run(interaction, "subscribe", parse.subscribe_args(time, timezone))

    @tree.command(name="unsubscribe", description="Stop this channel's digest")
    @app_commands.default_permissions(manage_channels=True)
    async def unsubscribe(interaction: Interaction) -> None:
        await run(interaction, "unsubscribe", "")

    @tree.command(name="settings", description="Show or change this channel's digest settings")
    @app_commands.describe(key="The setting to change (leave empty to show all)", value="New value")
    @app_commands.choices(key=SETTING_CHOICES)
    @app_commands.default_permissions(manage_channels=True)
    async def settings(
        interaction: Interaction, key: str | None = None, value: str | None = None
    ) -> None:
        await run(interaction, "settings", parse.settings_args(key, value))

    @tree.command(name="preview", description="What this channel's next digest would post now")
    async def preview(interaction: Interaction) -> None:
        await run(interaction, "preview", "")

    @tree.command(name="help", description="What paperbot can do")
    async def help_(interaction: Interaction) -> None:
        await run(interaction, "help", "")
