"""``paperbot doctor``: check the configuration, the database and every remote service once.

Each check is one line, ``ok  name: detail`` or ``FAIL name: detail``. Tokens
are sent where they belong and never printed: every line goes through the same
redaction as the logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx

from bot.config import Settings
from bot.logs import RedactingFilter
from bot.plugins import Config, storage_plugin
from bot.ports.plugins import Check
from bot.sources.huggingface import USER_AGENT

TIMEOUT_SECONDS = 5.0


def check_configuration(config: Config) -> Check:
    """Settings loaded: say what ``paperbot run`` would start."""
    settings = config.core
    platforms = [plugin.name for plugin, _ in config.enabled()]
    adapters = ", ".join(platforms) if platforms else "console only (no chat token set)"
    http = f"{settings.http_host}:{settings.http_port}" if settings.http_port else "off"
    return Check("configuration", True, f"adapters: {adapters}; HTTP endpoint: {http}")


async def check_database(settings: Settings) -> Check:
    """The database opens, its migrations are applied and it takes a write."""
    path, label = settings.storage_shown, settings.storage_label
    try:
        backend = storage_plugin(settings.storage_url)
        storage = await backend.open(settings.storage_url)
        try:
            version = await storage.schema_version()
            writable = await storage.is_writable()
            papers = await storage.count_papers()
            subscriptions = len(await storage.list_subscriptions())
        finally:
            await storage.close()
    except Exception as exc:  # whatever the database says is the finding
        return Check("database", False, f"cannot use {label}: {exc}")
    latest = backend.latest_schema_version()
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
        return unreachable("huggingface", endpoint, exc)
    if response.status_code != 200:
        return Check("huggingface", False, f"{url} answered HTTP {response.status_code}")
    if not isinstance(json_of(response), list):
        return Check("huggingface", False, f"{url} did not answer with a list of papers")
    return Check("huggingface", True, f"{endpoint} reachable")


def unreachable(name: str, root: str, exc: httpx.HTTPError) -> Check:
    """A failed check: ``root`` could not be reached."""
    return Check(name, False, f"cannot reach {root}: {str(exc) or type(exc).__name__}")


def wrong_url(response: httpx.Response, body: Any, variable: str, example: str) -> str | None:
    """Why the answer shows a wrong API URL (HTTP 404, or not JSON), or None.

    Chat APIs answer a wrong token with 401 and JSON; a 404 or an HTML page
    means the request went somewhere else.
    """
    if response.status_code == 404:
        problem = "answered HTTP 404 Not Found"
    elif body is None and response.status_code < 500:
        problem = f"answered HTTP {response.status_code} with something other than JSON"
    else:
        return None
    return f"wrong URL: the server {problem}; {variable} is the API root, e.g. {example}"


def json_of(response: httpx.Response) -> Any:
    """The response's JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def status_of(response: httpx.Response, body: Any, field: str) -> str:
    """``HTTP 401 (Unauthorized)``, with the platform's own words when it sent some."""
    words = body.get(field) if isinstance(body, dict) else None
    return f"HTTP {response.status_code}" + (f" ({words})" if words else "")


async def run_checks(config: Config) -> list[Check]:
    """Every check, the remote ones concurrently, each line already redacted."""
    settings = config.core
    checks = [check_configuration(config), await check_database(settings)]
    async with httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT}
    ) as client:
        remote: list[Awaitable[Check | None]] = [check_huggingface(client, settings.hf_endpoint)]
        remote += [plugin.check(platform, client) for plugin, platform in config.enabled()]
        checks += [check for check in await asyncio.gather(*remote) if check is not None]
    redactor = RedactingFilter(config.secrets())
    return [Check(c.name, c.ok, redactor.redact(c.detail)) for c in checks]


def _count(number: int, noun: str) -> str:
    """``1 paper``, ``2 papers``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
