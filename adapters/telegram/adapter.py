"""The Telegram adapter: python-telegram-bot lifecycle, update handlers and sending.

Runs inside the bot's own event loop (``initialize``/``start`` and the
updater, never ``run_polling``). Long polling by default; webhook mode when
``PAPERBOT_TELEGRAM_WEBHOOK_URL`` is set. ``PAPERBOT_TELEGRAM_API_URL`` points
PTB at any Bot API server (a self-hosted one, or the test fake).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    CallbackQuery,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    Updater,
    filters,
)

from adapters.telegram import render
from adapters.telegram.errors import delivery_error
from adapters.telegram.parse import (
    BOT_COMMANDS,
    EDIT_IN_PLACE,
    PLATFORM,
    CommandText,
    Target,
    admin_without_lookup,
    is_admin_status,
    parse_callback_data,
    parse_channel,
    parse_command_text,
    sender_of,
    should_answer,
    target_of,
    user_sender,
)
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.transport import AiohttpRequest, WrongApiUrl
from bot.cards import shorten
from bot.catalogue import needs_admin
from bot.faults import describe
from bot.models import Command, Post, Reply
from bot.ports.chat import ChannelGone, CommandHandler, RateWindow, RenderLimits, fingerprint
from bot.splitting import split_reply

log = logging.getLogger("paperbot.telegram")

TelegramApp = Application[ExtBot[None], ContextTypes.DEFAULT_TYPE, Any, Any, Any, None]

ALLOWED_UPDATES = (Update.MESSAGE, Update.CHANNEL_POST, Update.CALLBACK_QUERY)
# New messages and channel posts only: re-running a command because its text
# was edited would post a second answer.
COMMAND_UPDATES = filters.COMMAND & (filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_CALLBACK_ANSWER = 200
ADMIN_CHECK_FAILED = Reply(
    text="I could not check whether you are an admin here; please try again in a minute.",
    is_error=True,
)
BUTTON_UNUSABLE = "That button does not work any more."
BUTTON_FAILED = "Sorry, something went wrong on my side. Please try again."


def _build_application(
    settings: TelegramSettings, timeout: float, pool_size: int, workers: int
) -> TelegramApp:
    if settings.token is None:
        raise ValueError("PAPERBOT_TELEGRAM_TOKEN is not set")
    url = settings.api_url

    def request(size: int) -> AiohttpRequest:
        # Not PTB's default httpx transport: see adapters/telegram/transport.py.
        return AiohttpRequest(
            connection_pool_size=size,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
        )

    return (
        ApplicationBuilder()
        .token(settings.token.get_secret_value())
        .base_url(f"{url}/bot")  # PTB appends the token
        .base_file_url(f"{url}/file/bot")
        # Sends of a large fan-out share one pool; the long poll has its own
        # connection so it never waits for (or blocks) a send slot.
        .request(request(pool_size))
        .get_updates_request(request(1))
        # One slow command (a live paper lookup) must not hold up everyone else.
        .concurrent_updates(workers)
        # The core schedules everything; PTB's APScheduler queue would idle.
        .job_queue(None)
        .build()
    )


class TelegramStartError(RuntimeError):
    """The bot could not start: token rejected, Bot API unreachable, webhook refused."""


class TelegramAdapter:
    """A :class:`~bot.ports.chat.ChatAdapter` for Telegram.

    ``timeout`` bounds every Bot API request (connect, write, read, pool
    wait) except the long poll, which adds ``poll_timeout`` on top; tests pass
    small values. Digests are rate-limited by the core from
    :meth:`rate_windows`; interactive replies are low volume and sent at once.
    """

    platform = PLATFORM
    limits = RenderLimits(
        max_chars=render.MAX_MESSAGE_CHARS,
        max_cards=render.MAX_CARDS,
    )

    def __init__(
        self,
        settings: TelegramSettings,
        handler: CommandHandler,
        *,
        timeout: float = 10.0,
        poll_timeout: float = 10.0,
        connection_pool_size: int = 128,
        concurrent_updates: int = 64,
    ) -> None:
        self._settings = settings
        self._handler = handler
        self._poll_timeout = poll_timeout
        self._app = _build_application(settings, timeout, connection_pool_size, concurrent_updates)
        self._app.add_handler(MessageHandler(COMMAND_UPDATES, self._on_command))
        self._app.add_handler(CallbackQueryHandler(self._on_button))
        self._app.add_error_handler(self._on_error)
        # Set by defer_intake: start() leaves polling to start_intake().
        self._intake_deferred = False
        # Whether updates should be coming in (start_intake called, no stop since).
        self._intake_wanted = False

    @property
    def bot(self) -> ExtBot[None]:
        """The PTB bot (for tests and diagnostics)."""
        return self._app.bot

    # lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Check the token (getMe), register the command menu, start receiving updates.

        Raises :class:`TelegramStartError` (never carrying the token) when the
        Bot API rejects the token or cannot be reached.
        """
        try:
            await self._start()
        except TelegramError as exc:
            await self.stop()
            # from None: PTB's InvalidToken message quotes the token, and a
            # traceback printed at exit does not pass through the log redaction.
            raise TelegramStartError(_start_failure(exc, self._settings)) from None
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        await self._app.initialize()
        await self._register_commands()
        await self._app.start()
        if self._intake_deferred and self.intake_role() is not None:
            log.info("@%s: long polling waits for this process's turn", self.bot.username)
            return
        await self.start_intake()

    async def start_intake(self) -> None:
        """Start receiving updates: the webhook server, or long polling."""
        self._intake_wanted = True
        updater = self._updater()
        if updater.running:
            return
        webhook_url = self._settings.webhook_url
        if webhook_url:
            await self._start_webhook(updater, webhook_url)
            log.info("serving @%s by webhook at %s", self.bot.username, webhook_url)
        else:
            await updater.start_polling(
                timeout=dt.timedelta(seconds=self._poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_log_polling_error,
            )
            log.info("serving @%s by long polling", self.bot.username)

    async def stop_intake(self) -> None:
        """Stop polling (or the webhook server); :meth:`send` keeps working."""
        self._intake_wanted = False
        updater = self._updater()
        if updater.running:
            await updater.stop()

    def intake_role(self) -> str | None:
        """Long polling is one process's at a time (Telegram answers two with 409
        Conflict); with a webhook every process may take updates."""
        if self._settings.webhook_url:
            return None
        return f"telegram-poller:{fingerprint(self._token())}"

    def defer_intake(self) -> None:
        """Leave long polling off at :meth:`start`, until :meth:`start_intake`."""
        self._intake_deferred = True

    @property
    def budget_key(self) -> str:
        """The bot's account, named by a hash of its token (never the token itself)."""
        return f"telegram:{fingerprint(self._token())}"

    def _token(self) -> str:
        token = self._settings.token
        assert token is not None  # the constructor refuses to build without one
        return token.get_secret_value()

    async def stop(self) -> None:
        """Stop receiving updates, finish the ones in progress, close connections.

        Safe to call twice, and after a start that failed half way.
        """
        await self.stop_intake()
        if self._app.running:
            await self._app.stop()
        await self._app.shutdown()
        # A start that failed at getMe left the HTTP pools open without
        # marking the application initialized; this closes them too.
        await self.bot.shutdown()

    def is_connected(self) -> bool:
        """True while updates are being received (polling or webhook), or while this
        process stands by for the long poll another process runs."""
        if not self._app.running:
            return False
        standing_by = self._intake_deferred and not self._intake_wanted
        return self._updater().running or standing_by

    def _updater(self) -> Updater:
        updater = self._app.updater
        assert updater is not None  # the builder always creates one
        return updater

    async def _register_commands(self) -> None:
        commands = [BotCommand(name, description) for name, description in BOT_COMMANDS]
        try:
            await self.bot.set_my_commands(commands)
        except TelegramError as exc:  # the menu is a convenience; typed commands still work
            log.warning("could not register the command menu: %s", describe(exc))

    async def _start_webhook(self, updater: Updater, url: str) -> None:
        settings = self._settings
        configured = settings.webhook_secret
        # Without a configured secret anyone who finds the URL could post fake
        # updates; a fresh one per start is registered with setWebhook anyway.
        secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        await updater.start_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlsplit(url).path,
            webhook_url=url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
        )

    # the port: outgoing ----------------------------------------------------------
    async def send(self, channel: str, post: Post) -> str:
        """Post one digest part (the core already split it); return the message id."""
        try:
            target = parse_channel(channel)
        except ValueError as exc:
            raise ChannelGone("bad_channel", str(exc)) from None
        try:
            message = await self._send_part(target, post.body)
        except TelegramError as exc:
            raise delivery_error(exc) from None
        return str(message.message_id)

    def measure(self, body: Reply) -> int:
        """Visible characters after entity parsing: what Telegram's 4,096 limit counts."""
        return render.measure(body)

    def rate_windows(self, channel: str) -> list[RateWindow]:
        """30 messages/s overall, 1/s per chat, 20/min per group or channel."""
        windows = [RateWindow("global", 30, 1.0)]
        try:
            target = parse_channel(channel)
        except ValueError:
            return windows  # send() reports the bad channel
        windows.append(RateWindow(f"chat:{target.chat_id}", 1, 1.0))
        if target.is_group:
            windows.append(RateWindow(f"group:{target.chat_id}", 20, 60.0))
        return windows

    async def _send_part(self, target: Target, part: Reply) -> Message:
        text, keyboard = render.render_reply(part)
        return await self.bot.send_message(
            target.chat_id,
            text,
            parse_mode=ParseMode.HTML,
            message_thread_id=target.thread_id,
            reply_markup=keyboard,
            link_preview_options=NO_PREVIEW,
        )

    async def _send_reply(self, target: Target, reply: Reply) -> None:
        for part in split_reply(reply, self.limits, self.measure):
            await self._send_part(target, part)

    # the port: incoming ----------------------------------------------------------
    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        parsed = parse_command_text(message.text, self.bot.username)
        if parsed is None or not should_answer(parsed, message.chat.type):
            return
        target = target_of(message)
        try:
            is_admin = await self._is_admin(message, parsed)
        except TelegramError as exc:
            log.warning("admin check in %s failed: %s", target.channel, describe(exc))
            reply = ADMIN_CHECK_FAILED
        else:
            sender = sender_of(message)
            command = Command(parsed.name, parsed.args, target.channel, sender.user, is_admin)
            reply = await self._handler(command)
        await self._send_reply(target, reply)

    async def _is_admin(self, message: Message, command: CommandText) -> bool:
        known = admin_without_lookup(message)
        if known is not None:
            return known
        if not needs_admin(command.name, command.args):
            return False  # spare the API call: the command does not care
        assert message.from_user is not None  # admin_without_lookup decided otherwise
        member = await self.bot.get_chat_member(message.chat.id, message.from_user.id)
        return is_admin_status(member.status)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        notice: str | None = BUTTON_FAILED
        try:
            notice = await self._press(query)
        finally:
            # Unanswered presses leave the user's button spinning.
            await _answer(query, notice)

    async def _press(self, query: CallbackQuery) -> str | None:
        """Run a button's command; return a notice for the user, if any."""
        pressed = parse_callback_data(query.data)
        if query.message is None or pressed is None:
            return BUTTON_UNUSABLE
        name, args = pressed
        target = target_of(query.message)
        sender = user_sender(query.from_user)
        # Never as admin: a modified client can send any callback data, so a
        # button must not be a way around the admin rule.
        reply = await self._handler(Command(name, args, target.channel, sender.user, False))
        if reply.is_error:
            return reply.text
        if name in EDIT_IN_PLACE and await self._edit(target, query.message.message_id, reply):
            return None
        await self._send_reply(target, reply)
        return None

    async def _edit(self, target: Target, message_id: int, reply: Reply) -> bool:
        """Replace the message under the pressed button; False when it cannot be."""
        if len(split_reply(reply, self.limits, self.measure)) > 1:
            return False
        text, keyboard = render.render_reply(reply)
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=target.chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as exc:
            # A double press lands on the page already shown; anything else
            # (message deleted, too old to edit) falls back to a new message.
            return "not modified" in exc.message.casefold()
        return True

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):
            log.warning("answering an update failed: %s", describe(error))
        else:
            log.error("answering an update crashed", exc_info=error)


async def _answer(query: CallbackQuery, notice: str | None) -> None:
    text = shorten(notice, MAX_CALLBACK_ANSWER) if notice else None
    try:
        await query.answer(text=text, show_alert=text is not None)
    except TelegramError as exc:
        log.warning("could not answer a button press: %s", describe(exc))


def _start_failure(exc: TelegramError, settings: TelegramSettings) -> str:
    where = settings.api_url
    if isinstance(exc, WrongApiUrl):
        return f"{where} is not a Telegram Bot API: {exc.message}"
    if isinstance(exc, InvalidToken):
        return f"the Bot API at {where} rejected PAPERBOT_TELEGRAM_TOKEN"
    return f"starting the Telegram bot against {where} failed: {exc.message}"


def _log_polling_error(exc: TelegramError) -> None:
    # PTB retries with backoff; a stack trace per failed long poll is noise.
    log.warning("polling failed, retrying: %s", describe(exc))
