"""Answering interactions inside Discord's three seconds.

Strategy: the handler starts at once and gets a short budget (1.5 s by
default, counted from when the adapter got the interaction). Most commands are
done by then and are answered directly, which keeps the response exactly as
the reply asks: public, or ephemeral for errors and refusals. A slower one
is deferred when the budget runs out (type 5 "thinking" for commands, type 6
for paging buttons) while the handler keeps running, and its reply then
replaces the placeholder. The budget leaves half of the three seconds for
the deferral to travel, so the first response is never late.

A deferred command cannot know in advance whether its answer will be
private; when it is, the public placeholder is deleted and the answer is
sent as an ephemeral follow-up.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

import discord

from adapters.discord.render import LIMITS, RenderedMessage, measure, render_reply
from bot.models import Command, Reply
from bot.ports.chat import CommandHandler
from bot.splitting import split_reply

log = logging.getLogger("paperbot.discord")

DEFAULT_BUDGET = 1.5
SORRY = Reply(text="Sorry, something went wrong on my side.", is_error=True, ephemeral=True)


class Style(enum.Enum):
    """How an answer relates to the interaction."""

    REPLY = "reply"  # a slash command: a new message, public unless the reply is ephemeral
    PRIVATE = "private"  # a details button: a new message only the clicker sees
    UPDATE = "update"  # a paging button: the clicked message changes in place


def render_parts(reply: Reply) -> list[RenderedMessage]:
    """The reply as one or more messages within Discord's per-message limits."""
    return [render_reply(part) for part in split_reply(reply, LIMITS, measure)]


def is_private(reply: Reply, style: Style) -> bool:
    """Whether only the user who asked should see ``reply``."""
    return style is Style.PRIVATE or reply.ephemeral or reply.is_error


class Responder:
    """Runs a command for an interaction and answers it on time."""

    def __init__(self, handler: CommandHandler, budget: float = DEFAULT_BUDGET) -> None:
        self._handler = handler
        self._budget = budget

    async def answer(
        self, interaction: discord.Interaction[Any], command: Command, style: Style
    ) -> None:
        """Run ``command`` and answer ``interaction`` with its reply in ``style``."""
        task = asyncio.create_task(self._run(command))
        done, _ = await asyncio.wait({task}, timeout=self._budget)
        if task in done:
            await self.respond_now(interaction, task.result(), style)
            return
        await self._defer(interaction, style)
        await self._respond_late(interaction, await task, style)

    async def _run(self, command: Command) -> Reply:
        try:
            return await self._handler(command)
        except Exception:  # the router never raises, but an answer is owed regardless
            log.exception("handler failed for /%s in %s", command.name, command.channel)
            return SORRY

    @staticmethod
    async def respond_now(
        interaction: discord.Interaction[Any], reply: Reply, style: Style
    ) -> None:
        """Answer ``interaction`` with a reply that is already known (the first response)."""
        private = is_private(reply, style)
        first, *rest = render_parts(reply)
        if style is Style.UPDATE and not private:
            await interaction.response.edit_message(**first.edit_kwargs())
        else:
            await interaction.response.send_message(**first.send_kwargs(), ephemeral=private)
        for part in rest:
            await interaction.followup.send(**part.send_kwargs(), ephemeral=private)

    @staticmethod
    async def _defer(interaction: discord.Interaction[Any], style: Style) -> None:
        if style is Style.UPDATE:
            await interaction.response.defer()  # type 6: the clicked message will change
        else:
            await interaction.response.defer(thinking=True, ephemeral=style is Style.PRIVATE)

    @staticmethod
    async def _respond_late(
        interaction: discord.Interaction[Any], reply: Reply, style: Style
    ) -> None:
        private = is_private(reply, style)
        parts = render_parts(reply)
        if private and style is not Style.PRIVATE:
            # The placeholder is public (or is the clicked message): never put a
            # private answer there. A command's "thinking" message goes away.
            if style is Style.REPLY:
                await interaction.delete_original_response()
        else:
            await interaction.edit_original_response(**parts.pop(0).edit_kwargs())
        for part in parts:
            await interaction.followup.send(**part.send_kwargs(), ephemeral=private)
