"""HTTP plumbing shared by the paper sources (Hugging Face, arXiv).

One error family for every source, one mapping of transport faults and HTTP
statuses to "retry" or "give up", and one bounded retry loop with jittered
exponential backoff that honours the server's ``Retry-After`` / ``RateLimit``
hints. Each source keeps only what is its own: URLs, parsing and pacing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

__all__ = [
    "Retry",
    "RetryPolicy",
    "Sleep",
    "SourceError",
    "SourceUnavailable",
    "SourceUnreachable",
    "check_status",
    "require_http_url",
    "retry_after_seconds",
    "send",
    "without_credentials",
]

Sleep = Callable[[float], Awaitable[object]]
_T = TypeVar("_T")


class SourceError(Exception):
    """The source rejected a request in a way that retrying cannot fix (e.g. HTTP 400)."""


class SourceUnavailable(SourceError):
    """The source kept failing (timeouts, 429, 5xx, broken answers) on every attempt."""


class SourceUnreachable(SourceUnavailable):
    """No attempt reached the source's host (connection refused, DNS failure, no route)."""


class Retry(Exception):
    """One attempt failed in a way worth retrying; ``retry_after`` is the server's hint.

    ``unreachable`` marks a failure to connect at all, as opposed to a server
    that answered badly.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, unreachable: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unreachable = unreachable


def require_http_url(url: str, what: str) -> None:
    """Raise ``ValueError`` unless ``url`` is an http(s) URL with a host.

    The message names ``what`` but never echoes the URL: it may carry credentials.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http(s) URL")


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part, fit for logs and messages."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


async def send(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str | int] | None,
    *,
    wait: float,
    deadline: float | None = None,
) -> httpx.Response:
    """One GET; transport faults become :class:`Retry`.

    ``wait`` bounds each network wait (httpx's timeout); ``deadline``, when given, bounds the
    whole exchange, which also stops a server trickling bytes (each byte resets
    httpx's read timeout).
    """
    try:
        async with asyncio.timeout(deadline):
            return await client.get(url, params=params, timeout=wait)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise Retry(f"timed out ({type(exc).__name__})") from exc
    except httpx.RequestError as exc:
        # Exception text can include the URL; the class name is enough to act on.
        raise Retry(f"connection failed ({type(exc).__name__})", unreachable=True) from exc


def check_status(response: httpx.Response, source: str, what: str) -> None:
    """Raise :class:`Retry` for a transient HTTP status (408, 429, 5xx) and
    :class:`SourceError` for any other non-2xx; return for a success."""
    status = response.status_code
    if status in (429, 503):
        raise Retry(f"HTTP {status}", retry_after_seconds(response.headers))
    if status >= 500 or status == 408:
        raise Retry(f"HTTP {status}")
    if not 200 <= status < 300:
        raise SourceError(f"{source} rejected {what}: HTTP {status}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a source retries: ``max_attempts`` in all, waits growing from ``backoff``
    and capped at ``max_backoff`` seconds (server hints included), through ``sleep``.

    ``source`` names the service in logs and errors ("Hugging Face", "arXiv").
    """

    source: str
    max_attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    sleep: Sleep = asyncio.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("need max_attempts >= 1 and backoff, max_backoff >= 0")

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        if retry_after is not None:
            # The server said how long; honour it, but never hang for ages.
            return min(self.max_backoff, max(0.0, retry_after))
        base = min(self.max_backoff, self.backoff * 2.0 ** (retry_number - 1))
        # Jitter keeps many bots from retrying in lockstep against a recovering server.
        return base * random.uniform(0.5, 1.0)

    async def run(
        self,
        attempt: Callable[[], Awaitable[_T]],
        what: str,
        host: str,
        log: logging.Logger,
    ) -> _T:
        """``attempt()``'s result, calling it again after each :class:`Retry`.

        ``what`` names the request and ``host`` the server in logs and errors;
        neither may contain secrets or user text (``host`` is shown without
        credentials). Raises :class:`SourceUnreachable` when no attempt reached
        the host, :class:`SourceUnavailable` when every attempt failed otherwise;
        a :class:`SourceError` from ``attempt`` passes through at once.
        """
        failure: Retry | None = None
        for number in range(1, self.max_attempts + 1):
            if failure is not None:
                await self.sleep(self.delay(number - 1, failure.retry_after))
            try:
                return await attempt()
            except Retry as exc:
                failure = exc
                # One warning per request, when it gives up (the caller's), not one per attempt.
                log.info(
                    "%s %s failed (%s), attempt %d/%d",
                    self.source,
                    what,
                    exc.reason,
                    number,
                    self.max_attempts,
                )
        reason = failure.reason if failure is not None else "no attempt"
        if failure is not None and failure.unreachable:
            raise SourceUnreachable(
                f"cannot reach {self.source} at {without_credentials(host)}: {reason},"
                f" {self.max_attempts} attempts"
            )
        raise SourceUnavailable(
            f"{self.source} {what} failed after {self.max_attempts} attempts: {reason}"
        )


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The server's wait hint: ``Retry-After`` (seconds or HTTP date), else ``RateLimit`` ``t=``."""
    value = headers.get("retry-after")
    if value:
        seconds = _parse_retry_after(value.strip())
        if seconds is not None:
            return seconds
    value = headers.get("ratelimit")
    return _parse_ratelimit_reset(value) if value else None


def _parse_retry_after(value: str) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_RATELIMIT_T = re.compile(r";\s*t\s*=\s*(\d{1,9})")


def _parse_ratelimit_reset(value: str) -> float | None:
    """Longest reset ``t=N`` in a ``RateLimit: "policy";r=0;t=N`` header.

    The longest, because any of several listed policies may be the exhausted one.
    """
    waits = [int(m.group(1)) for m in _RATELIMIT_T.finditer(value)]
    return float(max(waits)) if waits else None
