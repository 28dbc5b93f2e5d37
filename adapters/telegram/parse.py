"""Telegram updates as command data (pure, no I/O).

Channels are ``telegram:<chat_id>``, or ``telegram:<chat_id>/<thread_id>`` for
a forum topic, so a subscription made inside a topic posts into that topic.
Users are ``telegram:<user_id>`` (or the sending chat's id for anonymous
admins and channel posts, which have no person behind them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Chat, ChatMember, MaybeInaccessibleMessage, Message, User

from bot.catalogue import BY_NAME, CATALOGUE

PLATFORM = "telegram"

#: The menu registered with setMyCommands: (command, description), from the
#: catalogue; Telegram clients show /start and /help first by convention.
BOT_COMMANDS: tuple[tuple[str, str], ...] = tuple(
    (name, spec.summary)
    for spec in sorted(CATALOGUE, key=lambda spec: not spec.aliases)
    for name in (*spec.aliases, spec.name)
)
KNOWN_COMMANDS = frozenset(BY_NAME)
_ADMIN_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})

_COMMAND_RE = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?", re.DOTALL)
_CHANNEL_RE = re.compile(r"telegram:(-?\d+)(?:/(\d+))?")
_CALLBACK_RE = re.compile(r"([a-z0-9_]{1,32})(?: (.*))?", re.DOTALL)
#: Buttons whose answer replaces the message they sit under (Prev / Next).
EDIT_IN_PLACE = frozenset({"page"})


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes: a chat, and inside a forum a topic."""

    chat_id: int
    thread_id: int | None = None

    @property
    def channel(self) -> str:
        """The neutral channel string."""
        suffix = f"/{self.thread_id}" if self.thread_id is not None else ""
        return f"{PLATFORM}:{self.chat_id}{suffix}"

    @property
    def is_group(self) -> bool:
        """Groups, supergroups and channels all have negative ids."""
        return self.chat_id < 0


@dataclass(frozen=True, slots=True)
class CommandText:
    """``/name@bot args`` taken apart; ``addressed`` means ``@`` named this bot."""

    name: str
    args: str
    addressed: bool


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a message, as the neutral user string."""

    user: str


def parse_channel(channel: str) -> Target:
    """The target of a ``telegram:`` channel string; ``ValueError`` if it is not one."""
    match = _CHANNEL_RE.fullmatch(channel)
    if match is None:
        raise ValueError(f"not a Telegram channel: {channel!r}")
    thread = match.group(2)
    return Target(int(match.group(1)), int(thread) if thread else None)


def target_of(message: MaybeInaccessibleMessage) -> Target:
    """The chat (and topic) a message lives in.

    Only real topic messages carry a topic: in a plain supergroup
    ``message_thread_id`` marks a reply thread, not a place to post to.
    """
    if isinstance(message, Message) and message.is_topic_message:
        return Target(message.chat.id, message.message_thread_id)
    return Target(message.chat.id)


def parse_command_text(text: str, bot_username: str) -> CommandText | None:
    """The command in ``text``, or None when it is none or addressed to another bot."""
    match = _COMMAND_RE.fullmatch(text.strip())
    if match is None:
        return None
    name, mention, args = match.groups()
    if mention is not None and mention.casefold() != bot_username.casefold():
        return None
    return CommandText(name.casefold(), (args or "").strip(), addressed=mention is not None)


def parse_callback_data(data: str | None) -> tuple[str, str] | None:
    """``(command, args)`` from a button's ``"<command> <args>"`` data, if well formed."""
    match = _CALLBACK_RE.fullmatch(data or "")
    return (match.group(1), match.group(2) or "") if match else None


def should_answer(command: CommandText, chat_type: str) -> bool:
    """Whether to run ``command`` at all.

    In a private chat everything is for us (unknown commands get the router's
    "Unknown command" line). In groups and channels a bare unknown ``/cmd``
    is probably another bot's, so only our commands or ones naming us count.
    """
    return chat_type == Chat.PRIVATE or command.addressed or command.name in KNOWN_COMMANDS


def admin_without_lookup(message: Message) -> bool | None:
    """Admin status when the message alone proves it, else None (ask getChatMember).

    The owner of a private chat is its admin; only admins can post in a
    channel; an anonymous admin posts as the group itself.
    """
    chat = message.chat
    if chat.type in (Chat.PRIVATE, Chat.CHANNEL):
        return True
    sender_chat = message.sender_chat
    if sender_chat is not None and sender_chat.id == chat.id:
        return True
    if message.from_user is None or sender_chat is not None:
        return False  # a linked channel speaking in the group is not a member
    return None


def is_admin_status(status: str) -> bool:
    """True for the getChatMember statuses that may manage subscriptions."""
    return status in _ADMIN_STATUSES


def sender_of(message: Message) -> Sender:
    """The user behind a message: the person, or the chat it was posted as."""
    if message.sender_chat is not None:
        return _chat_sender(message.sender_chat)
    if message.from_user is not None:
        return user_sender(message.from_user)
    return _chat_sender(message.chat)


def user_sender(user: User) -> Sender:
    """A Telegram user as a sender."""
    return Sender(f"{PLATFORM}:{user.id}")


def _chat_sender(chat: Chat) -> Sender:
    return Sender(f"{PLATFORM}:{chat.id}")
