"""Logging set-up with secret redaction, as readable lines or JSON lines."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.config import mask_url_passwords
from bot.plugins import secret_patterns

REDACTED = "[REDACTED]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Replaces known secrets, and anything shaped like a secret of an installed adapter
    (a Telegram bot token, say), in every record."""

    def __init__(
        self, secrets: Iterable[str], patterns: Iterable[re.Pattern[str]] | None = None
    ) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._patterns = list(secret_patterns() if patterns is None else patterns)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        # A URL's password, however short (a database URL in an error message, say).
        return mask_url_passwords(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message (and traceback) now, redacted, so handlers see no secret."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.msg, record.args = self.redact(message), None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and exc when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (the traceback, if any, under ``exc``)."""
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, secrets: Iterable[str] = (), fmt: str = "text") -> None:
    """Logs on stderr (``fmt`` "text" or "json"), secrets redacted, chatty libraries turned down.

    The filter sits on the root handler, so it sees the records of every logger
    that propagates to the root: ours and telegram, httpx, discord, apscheduler
    and aiohttp alike.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Telegram URLs embed the token.
    for noisy in ("httpx", "httpcore", "apscheduler", "discord.gateway", "telegram.ext"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
