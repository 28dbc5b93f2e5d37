"""Discord interactions in, neutral :class:`~bot.models.Command` out.

Channels are ``"discord:<channel id>"`` (a thread is a channel, so a
subscription made in a thread posts into that thread) and users
``"discord:<user id>"``. Slash-command options become the argument text the
core's router already understands for every platform.
"""

from __future__ import annotations

import functools
from typing import Any
from zoneinfo import available_timezones

import discord

from bot.models import Command

PLATFORM = "discord"
# Commands a button may run (see bot.commands: search result buttons).
BUTTON_COMMANDS = frozenset({"page", "paper"})
MAX_CHOICES = 25
POPULAR_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
)


def channel_ref(channel_id: int) -> str:
    """The neutral channel string for a Discord channel or thread id."""
    return f"{PLATFORM}:{channel_id}"


def channel_id_of(channel: str) -> int:
    """The Discord id in a ``"discord:<id>"`` channel string; ``ValueError`` otherwise."""
    platform, _, raw = channel.partition(":")
    if platform != PLATFORM or not raw.isdigit():
        raise ValueError(f"{channel!r} is not a Discord channel")
    return int(raw)


def is_admin(permissions: discord.Permissions) -> bool:
    """Manage Channels (or Administrator) in the channel where the command ran."""
    return permissions.manage_channels or permissions.administrator


def command_from(interaction: discord.Interaction[Any], name: str, args: str) -> Command:
    """The neutral command for an interaction in its channel (thread ids included)."""
    return Command(
        name=name,
        args=args,
        channel=channel_ref(interaction.channel_id or 0),
        user=f"{PLATFORM}:{interaction.user.id}",
        is_admin=is_admin(interaction.permissions),
    )


def button_command(custom_id: str) -> tuple[str, str] | None:
    """``(command, args)`` for one of our buttons' custom_id, or None if it is not ours."""
    name, _, args = custom_id.partition(" ")
    return (name, args) if name in BUTTON_COMMANDS else None


@functools.cache
def _zones() -> tuple[str, ...]:
    # Area/City names only: no "posix/" or "right/" copies, no "Etc/GMT+5"
    # (whose sign is the reverse of what people expect).
    skip = ("posix/", "right/", "Etc/", "SystemV/")
    zones = {zone for zone in available_timezones() if "/" in zone and not zone.startswith(skip)}
    return tuple(sorted(zones | {"UTC"}))


def timezone_choices(current: str) -> list[str]:
    """Up to 25 IANA zones matching what the user typed so far, best matches first.

    A zone whose area or city starts with the text ranks before one that only
    contains it; spaces count as underscores (``new york``).
    """
    needle = current.strip().casefold().replace(" ", "_")
    if not needle:
        return list(POPULAR_ZONES)
    starts, contains = [], []
    for zone in _zones():
        folded = zone.casefold()
        if any(part.startswith(needle) for part in folded.split("/")) or folded.startswith(needle):
            starts.append(zone)
        elif needle in folded:
            contains.append(zone)
    return (starts + contains)[:MAX_CHOICES]
