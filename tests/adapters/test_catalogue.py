"""One command catalogue: every adapter's permission rule agrees with it, and the menus,
help and slash commands are the catalogue's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from pydantic import SecretStr

from adapters.console.adapter import ConsoleAdapter
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.settings import DiscordSettings
from adapters.discord.slash import install_commands
from adapters.telegram.parse import BOT_COMMANDS
from bot.catalogue import CATALOGUE, Access, CommandSpec, help_text, metric_labels, needs_admin
from bot.commands import CommandRouter
from bot.models import Command, Reply, Subscription
from bot.ports.storage import Storage

CHANNEL = "test:1"
# A value for each option, to run every command "with arguments".
SAMPLES: dict[str, str | None] = {
    "date": "2026-03-09",
    "query": "transformer",
    "sort": "recent",
    "id": "2305.14858",
    "time": "08:00",
    "timezone": "Europe/Berlin",
    "key": "top",
    "value": "3",
}

Gate = Callable[[CommandRouter, Command], Awaitable[Reply]]


async def core(router: CommandRouter, command: Command) -> Reply:
    """The router alone: what every adapter hands commands to."""
    return await router(command)


async def telegram(router: CommandRouter, command: Command) -> Reply:
    """Telegram asks getChatMember only when its rule says the command needs an admin;
    otherwise the command goes on with is_admin False."""
    needed = needs_admin(command.name, command.args)
    return await router(replace(command, is_admin=command.is_admin and needed))


async def discord(router: CommandRouter, command: Command) -> Reply:
    """Discord's run-time Manage Channels check in front of the router."""
    settings = DiscordSettings(_env_file=None, token=SecretStr("t"))  # type: ignore[call-arg]
    return await DiscordAdapter(settings, router)._guarded(command)


async def console(router: CommandRouter, command: Command) -> Reply:
    """The console's user is the admin of its one channel."""
    assert ConsoleAdapter.platform == "console"
    return await router(replace(command, is_admin=True))


def refused(reply: Reply) -> bool:
    return reply.is_error and ("Only admins" in reply.text or "Manage Channels" in reply.text)


@pytest.fixture
async def store(store: Storage) -> Storage:
    await store.save_subscription(Subscription(channel=CHANNEL))
    return store


CASES = [
    (spec, admin, with_args)
    for spec in CATALOGUE
    for admin in (True, False)
    for with_args in (True, False)
]


@pytest.mark.parametrize(
    ("spec", "admin", "with_args"),
    CASES,
    ids=[f"{s.name}-{'admin' if a else 'member'}-{'args' if w else 'bare'}" for s, a, w in CASES],
)
@pytest.mark.parametrize(
    ("adapter", "gate"),
    [("core", core), ("telegram", telegram), ("discord", discord), ("console", console)],
)
async def test_every_adapter_decides_as_the_catalogue(
    router: CommandRouter,
    adapter: str,
    gate: Gate,
    spec: CommandSpec,
    admin: bool,
    with_args: bool,
) -> None:
    if adapter == "console" and not admin:
        pytest.skip("the console has no members, only its admin")
    args = spec.args_from(SAMPLES) if with_args else ""
    if with_args and not args:
        args = "now"  # a command without options, typed with words anyway
    reply = await gate(router, Command(spec.name, args, CHANNEL, "test:user", admin))
    expected_refusal = not admin and spec.needs_admin(args)
    assert refused(reply) == expected_refusal, reply


def test_access_levels_as_documented() -> None:
    access = {spec.name: spec.access for spec in CATALOGUE}
    assert access["settings"] is Access.VIEW_ANYONE_CHANGE_ADMIN
    assert {n for n, a in access.items() if a is Access.ADMINS} == {"subscribe", "unsubscribe"}


def test_help_menus_and_labels_come_from_the_catalogue() -> None:
    names = [spec.name for spec in CATALOGUE]
    assert [line.split()[0] for line in help_text().splitlines()] == [f"/{n}" for n in names]
    assert {name for name, _ in BOT_COMMANDS} == {*names, "start"}
    assert dict(BOT_COMMANDS)["settings"] == "Show or change this channel's digest settings"
    assert set(metric_labels()) == {*names, "start", "page"}


def test_slash_commands_are_built_from_the_catalogue() -> None:
    import discord
    from discord import app_commands

    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))

    async def run(interaction: object, name: str, args: str) -> None:
        raise AssertionError("not called")

    install_commands(tree, run, default_time="07:30", default_timezone="Asia/Tokyo")
    built = {command.name: command for command in tree.get_commands()}
    assert list(built) == [spec.name for spec in CATALOGUE]
    for spec in CATALOGUE:
        command = built[spec.name]
        assert isinstance(command, app_commands.Command)
        assert command.description == spec.summary
        assert [p.name for p in command.parameters] == [o.name for o in spec.options]
        assert [p.required for p in command.parameters] == [o.required for o in spec.options]
        admins_only = command.default_permissions is not None
        assert admins_only == (spec.access is Access.ADMINS)
    subscribe = {p.name: p for p in built["subscribe"].parameters}  # type: ignore[union-attr]
    assert subscribe["time"].description.endswith("(default 07:30)")
    assert subscribe["timezone"].autocomplete
