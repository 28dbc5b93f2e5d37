"""Logging set-up with secret redaction."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

# Telegram tokens look like 123456:AA...; they also appear inside Bot API URLs.
_TELEGRAM_TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")
REDACTED = "[REDACTED]"


class RedactingFilter(logging.Filter):
    """Replaces known secrets (and anything shaped like a bot token) in every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TELEGRAM_TOKEN_RE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message (and traceback) now, redacted, so handlers see no secret."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.msg, record.args = self.redact(message), None
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Readable logs on stderr, secrets redacted, chatty libraries turned down."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Telegram URLs embed the token.
    for noisy in ("httpx", "httpcore", "apscheduler", "discord.gateway", "telegram.ext"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
