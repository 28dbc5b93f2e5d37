"""The port between the core and every chat platform.

Incoming: an adapter turns a platform event into a :class:`~bot.models.Command`
and awaits a :data:`CommandHandler`, which returns a neutral
:class:`~bot.models.Reply` for the adapter to render.

Outgoing: the core calls :meth:`ChatAdapter.send`. Failures surface only as the
closed set of :class:`DeliveryError` subclasses below; the core never sees a
discord or telegram exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

from bot.models import Command, Post, Reply

CommandHandler = Callable[[Command], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What one platform message can hold, used by the core's post splitter.

    ``max_chars`` bounds a whole message as the adapter measures it,
    ``max_cards`` the cards one message may carry. Keeping one card within a
    message is the adapter's own business (its renderer trims the abstract).
    """

    max_chars: int
    max_cards: int


@dataclass(frozen=True, slots=True)
class RateWindow:
    """A platform ceiling: at most ``count`` sends per ``seconds`` sharing ``key``.

    Adapters return the windows that apply to a channel (``"global"``, one per
    chat, one per group); the core's limiter keeps every send inside them.
    """

    key: str
    count: int
    seconds: float


class DeliveryError(Exception):
    """Base of every error an adapter may raise from :meth:`ChatAdapter.send`."""


class RateLimited(DeliveryError):
    """The platform asked us to wait ``retry_after`` seconds before retrying."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(detail or f"rate limited for {retry_after:.1f}s")
        self.retry_after = retry_after


class ChannelGone(DeliveryError):
    """The channel cannot receive posts any more (kicked, blocked, unknown,
    missing permission). ``reason`` is a short machine word shown to admins."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class ChannelMoved(DeliveryError):
    """The channel now lives under ``new_channel`` (a full ``platform:id``)."""

    def __init__(self, new_channel: str, detail: str = "") -> None:
        super().__init__(detail or f"moved to {new_channel}")
        self.new_channel = new_channel


class TemporaryFailure(DeliveryError):
    """Network error, timeout or 5xx: retry later with backoff."""


@runtime_checkable
class ChatAdapter(Protocol):
    """One chat platform, connected and able to post.

    ``platform`` is the prefix of the channels it owns (``"telegram"``).
    ``start`` connects and begins feeding commands to the handler given at
    construction; ``stop`` disconnects. ``send`` posts one message part.
    """

    platform: str
    limits: RenderLimits

    async def start(self) -> None:
        """Connect to the platform and start receiving commands."""

    async def stop(self) -> None:
        """Stop receiving commands and disconnect; safe to call twice."""

    async def send(self, channel: str, post: Post) -> str:
        """Post ``post`` to ``channel``; return the platform's message id.

        Raises only :class:`DeliveryError` subclasses.
        """

    def measure(self, body: Reply) -> int:
        """Size of ``body`` as this platform counts it once rendered."""

    def rate_windows(self, channel: str) -> list[RateWindow]:
        """The documented send ceilings that apply to ``channel``."""


@runtime_checkable
class StopsIntake(Protocol):
    """Optional adapter capability: stop receiving commands but keep sending possible."""

    async def stop_intake(self) -> None:
        """Stop polling / listening for platform events; ``send`` keeps working."""


@runtime_checkable
class ReportsConnection(Protocol):
    """Optional adapter capability: whether it is connected to its platform right now."""

    def is_connected(self) -> bool:
        """True while the adapter can receive commands and send posts."""


@runtime_checkable
class EndsSession(Protocol):
    """Optional adapter capability: its user can end the run (the console's end of input).

    ``finished`` is set then, and the bot shuts down.
    """

    finished: asyncio.Event


@runtime_checkable
class SharesTerminal(Protocol):
    """Optional adapter capability: it chats on the terminal where the logs go (the console).

    The bot points its log handler at :meth:`log_stream`, so a log line never
    lands in the middle of the adapter's prompt.
    """

    def log_stream(self, stream: TextIO) -> io.TextIOBase:
        """``stream`` wrapped so that what is written to it keeps clear of the prompt."""


def fingerprint(secret: str) -> str:
    """A short, stable, non-secret name for ``secret`` (a hash prefix), for budget keys."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@runtime_checkable
class SharesRateBudget(Protocol):
    """Optional adapter capability: the account whose rate limits its sends count against.

    Processes sending with the same account share one budget, so one of them
    at a time sends (the sender role of that account). ``budget_key`` names
    the account without revealing it (e.g. a hash prefix of the bot token).
    """

    @property
    def budget_key(self) -> str:
        """A stable, non-secret name of the account, such as ``telegram:3f9a0c12d4e6``."""


@runtime_checkable
class ExclusiveIntake(Protocol):
    """Optional adapter capability: an intake only one process may run at a time.

    Telegram's long polling is one: two processes polling with one token get
    409 Conflict. The core calls :meth:`defer_intake` before ``start`` and then
    starts and stops the intake as this process gains and loses the role.
    """

    def intake_role(self) -> str | None:
        """The role to hold before taking updates; None when every process may (webhooks)."""

    def defer_intake(self) -> None:
        """Make ``start`` leave the intake off until :meth:`start_intake`."""

    async def start_intake(self) -> None:
        """Start taking updates (this process holds the role now)."""

    async def stop_intake(self) -> None:
        """Stop taking updates; ``send`` keeps working."""
