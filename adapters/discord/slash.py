"""The slash commands, built from the core's command catalogue.

Each command only turns its options into argument text and hands it to
``run``; the adapter does the rest. Commands the catalogue keeps for admins
carry ``default_member_permissions`` = Manage Channels, so Discord hides them
from other members by default; server admins can change that per server,
which is why the adapter checks again at run time. ``/settings`` stays
visible to everyone: anyone may view, only Manage Channels may change.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from adapters.discord import parse
from bot.catalogue import CATALOGUE, Access, CommandSpec, Option
from bot.sources.arxiv_taxonomy import complete_source

Interaction = discord.Interaction[Any]
RunCommand = Callable[[Interaction, str, str], Awaitable[None]]


async def timezone_autocomplete(
    interaction: Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA timezones matching what the user typed so far."""
    return [app_commands.Choice(name=zone, value=zone) for zone in parse.timezone_choices(current)]


async def source_autocomplete(
    interaction: Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """``hf`` and arXiv categories matching what the user typed (the last code of a list)."""
    return [
        app_commands.Choice(name=label, value=value) for label, value in complete_source(current)
    ]


AUTOCOMPLETE = {"timezone": timezone_autocomplete, "arxiv_source": source_autocomplete}


def _annotation(option: Option) -> Any:
    text: Any = str if option.max_length is None else app_commands.Range[str, 1, option.max_length]
    return text if option.required else text | None


def slash_command(
    spec: CommandSpec, run: RunCommand, defaults: dict[str, str]
) -> app_commands.Command[Any, ..., None]:
    """The application command for ``spec``: its options typed, described and constrained."""

    async def callback(interaction: Interaction, **values: str | None) -> None:
        await run(interaction, spec.name, spec.args_from(values))

    # discord.py reads the options from the callback's signature.
    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(option),
                default=inspect.Parameter.empty if option.required else None,
            )
            for option in spec.options
        ]
    )
    if spec.options:
        app_commands.describe(
            **{option.name: option.description.format(**defaults) for option in spec.options}
        )(callback)
    choices = {
        option.name: [app_commands.Choice(name=c.label, value=c.value) for c in option.choices]
        for option in spec.options
        if option.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    suggest = {
        option.name: AUTOCOMPLETE[option.autocomplete]
        for option in spec.options
        if option.autocomplete in AUTOCOMPLETE
    }
    if suggest:
        app_commands.autocomplete(**suggest)(callback)
    if spec.access is Access.ADMINS:
        app_commands.default_permissions(manage_channels=True)(callback)
    return app_commands.Command(name=spec.name, description=spec.summary, callback=callback)


def install_commands(
    tree: app_commands.CommandTree[Any],
    run: RunCommand,
    *,
    default_time: str = "09:00",
    default_timezone: str = "UTC",
) -> None:
    """Add every catalogue command to ``tree``.

    The defaults only appear in the option descriptions; the router applies them.
    """
    defaults = {"default_time": default_time, "default_timezone": default_timezone}
    for spec in CATALOGUE:
        tree.add_command(slash_command(spec, run, defaults))
