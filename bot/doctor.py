"""``paperbot doctor``: check the configuration, the database and every remote service once.

Each check is one line, ``ok  name: detail`` or ``FAIL name: detail``. Tokens
are sent where they belong and never printed: every line goes through the same
redaction as the logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.logs import RedactingFilter, secrets_of
from bot.sources.huggingface import USER_AGENT
from storage.sqlite import SqliteStorage, available_migrations

TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        """``ok  name: detail`` or ``FAIL name: detail``."""
        return f"{'ok ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def check_configuration(settings: Settings) -> Check:
    """Settings loaded: say what ``paperbot run`` would start."""
    platforms = [
        name
        for name, token in (
            ("telegram", settings.telegram_token),
            ("discord", settings.discord_token),
        )
        if token is not None
    ]
    adapters = ", ".join(platforms) if platforms else "console only (no chat token set)"
    http = f"{settings.http_host}:{settings.http_port}" if settings.http_port else "off"
    return Check("configuration", True, f"adapters: {adapters}; HTTP endpoint: {http}")


async def check_database(path: Path) -> Check:
    """The database opens, its migrations are applied and it takes a write."""
    try:
        storage = await SqliteStorage.open(path)
        try:
            version = await storage.schema_version()
            writable = await storage.is_writable()
            papers = await storage.count_papers()
            subscriptions = len(await storage.list_subscriptions())
        finally:
            await storage.close()
    except Exception as exc:  # whatever the database says is the finding
        return Check("database", False, f"cannot use PAPERBOT_DB={path}: {exc}")
    latest = max(number for number, _ in available_migrations())
    if version < latest:
        return Check("database", False, f"{path}: schema {version}, expected {latest}")
    if not writable:
        return Check("database", False, f"{path} is not writable")
    counts = f"{_count(papers, 'paper')}, {_count(subscriptions, 'subscription')}"
    detail = f"{path} (schema {version}, writable, {counts})"
    return Check("database", True, detail)


async def check_huggingface(client: httpx.AsyncClient, endpoint: str) -> Check:
    """The Daily Papers API answers with a list."""
    url = f"{endpoint}/api/daily_papers"
    try:
        response = await client.get(url, params={"limit": 1})
    except httpx.HTTPError as exc:
        return _unreachable("huggingface", endpoint, exc)
    if response.status_code != 200:
        return Check("huggingface", False, f"{url} answered HTTP {response.status_code}")
    if not isinstance(_json(response), list):
        return Check("huggingface", False, f"{url} did not answer with a list of papers")
    return Check("huggingface", True, f"{endpoint} reachable")


async def check_telegram(client: httpx.AsyncClient, api_url: str, token: str) -> Check:
    """``getMe`` accepts the token."""
    try:
        response = await client.get(f"{api_url}/bot{token}/getMe")
    except httpx.HTTPError as exc:
        return _unreachable("telegram", api_url, exc)
    body = _json(response)
    wrong_url = _wrong_url(response, body, "PAPERBOT_TELEGRAM_API_URL", "https://api.telegram.org")
    if wrong_url:
        return Check("telegram", False, wrong_url + " without /bot")
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("ok"):
        return Check("telegram", False, f"token rejected: {_status(response, body, 'description')}")
    bot = body.get("result")
    username = bot.get("username") if isinstance(bot, dict) else None
    return Check("telegram", True, f"token accepted (bot @{username or '?'})")


async def check_discord(client: httpx.AsyncClient, api_url: str, token: str) -> Check:
    """``GET /users/@me`` accepts the token."""
    try:
        response = await client.get(
            f"{api_url}/users/@me", headers={"Authorization": f"Bot {token}"}
        )
    except httpx.HTTPError as exc:
        return _unreachable("discord", api_url, exc)
    body = _json(response)
    wrong_url = _wrong_url(
        response, body, "PAPERBOT_DISCORD_API_URL", "https://discord.com/api/v10"
    )
    if wrong_url:
        return Check("discord", False, wrong_url)
    if response.status_code != 200 or not isinstance(body, dict):
        return Check("discord", False, f"token rejected: {_status(response, body, 'message')}")
    return Check("discord", True, f"token accepted (bot {body.get('username') or '?'})")


def _unreachable(name: str, root: str, exc: httpx.HTTPError) -> Check:
    return Check(name, False, f"cannot reach {root}: {str(exc) or type(exc).__name__}")


def _wrong_url(response: httpx.Response, body: Any, variable: str, example: str) -> str | None:
    """Why the answer shows a wrong API URL (HTTP 404, or not JSON), or None.

    Both APIs answer a wrong token with 401 and JSON; a 404 or an HTML page
    means the request went somewhere else.
    """
    if response.status_code == 404:
        problem = "answered HTTP 404 Not Found"
    elif body is None and response.status_code < 500:
        problem = f"answered HTTP {response.status_code} with something other than JSON"
    else:
        return None
    return f"wrong URL: the server {problem}; {variable} is the API root, e.g. {example}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _status(response: httpx.Response, body: Any, field: str) -> str:
    """``HTTP 401 (Unauthorized)``, with the platform's own words when it sent some."""
    words = body.get(field) if isinstance(body, dict) else None
    return f"HTTP {response.status_code}" + (f" ({words})" if words else "")


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, the remote ones concurrently, each line already redacted."""
    checks = [check_configuration(settings), await check_database(settings.db)]
    async with httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT}
    ) as client:
        remote: list[Awaitable[Check]] = [check_huggingface(client, settings.hf_endpoint)]
        if settings.telegram_token is not None:
            token = settings.telegram_token.get_secret_value()
            remote.append(check_telegram(client, settings.telegram_api_url, token))
        if settings.discord_token is not None:
            token = settings.discord_token.get_secret_value()
            remote.append(check_discord(client, settings.discord_api_url, token))
        checks += await asyncio.gather(*remote)
    redactor = RedactingFilter(secrets_of(settings))
    return [Check(c.name, c.ok, redactor.redact(c.detail)) for c in checks]


def _count(number: int, noun: str) -> str:
    """``1 paper``, ``2 papers``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
