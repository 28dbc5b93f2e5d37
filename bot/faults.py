"""Reporting failures of the bot's long-running loops without flooding the log.

The tick, the ingest and upkeep jobs and the delivery workers keep going
through any exception. A database that stays full would otherwise log the
same error every few seconds; :class:`FailureLog` logs each distinct error
once (its traceback at DEBUG) and says when the loop works again.
"""

from __future__ import annotations

import logging


def describe(exc: BaseException) -> str:
    """``Type: message``, or the type alone when the message is empty (``TimeoutError()``)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class FailureLog:
    """The failures of one loop: counts them, logs each distinct one once, and the recovery."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._seen: set[str] = set()
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        """Count ``exc``; log it at ERROR unless it was logged since the last success."""
        self.failures += 1
        reason = describe(exc)
        if reason in self._seen:
            self._log.debug("%s failed again: %s", self._what, reason)
            return
        self._seen.add(reason)
        self._log.error("%s failed: %s (retrying)", self._what, reason)
        self._log.debug("%s failure traceback", self._what, exc_info=exc)

    def succeeded(self) -> None:
        """Log the recovery if there were failures, and forget them."""
        if self.failures:
            self._log.info("%s works again after %d failure(s)", self._what, self.failures)
        self.failures = 0
        self._seen.clear()

    def backoff(self, base: float, cap: float) -> float:
        """Seconds before the next try: ``base`` doubled per failure, at most ``cap``."""
        return min(cap, base * 2.0 ** max(self.failures - 1, 0))
