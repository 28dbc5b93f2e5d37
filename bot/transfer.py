"""``paperbot export`` / ``paperbot import``: subscriptions as a versioned JSON document.

Export writes every subscription's settings, paused state and keyword alerts
(not its next run, which is recomputed on import). Import validates the whole file before
writing anything, reports each problem with the line it is on, writes in one
transaction, and leaves rows that already match untouched, so importing the
same file twice changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.alerts import MAX_ALERTS, alert_query
from bot.errors import UserError
from bot.models import WEEKDAYS, Subscription
from bot.plugins import platform_names
from bot.ports.storage import Storage
from bot.schedule import next_run
from bot.subscription_options import apply_setting

FORMAT = "paperbot-subscriptions"
VERSION = 1
REQUIRED = ("channel", "time", "timezone")
OPTIONAL = (
    "days",
    "cadence",
    "weekly_day",
    "top",
    "min_upvotes",
    "include",
    "exclude",
    "match",
    "paused",
    "paused_reason",
    "created_by",
    "source",
    "crosslists",
    "alert_every",
    "alerts",
)
_CHANNEL_RE = re.compile(r"^([a-z]+):(\S{1,200})$")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a file cannot be imported, at a 1-based line (and column, if known)."""

    line: int
    message: str
    column: int | None = None

    def located(self, source: str) -> str:
        """``source:line[:column]: message``, the form editors jump to."""
        where = f"{source}:{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"


class InvalidFile(Exception):
    """The file was rejected whole; ``problems`` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did."""

    created: int
    updated: int
    unchanged: int


# export ----------------------------------------------------------------------


def subscription_row(sub: Subscription) -> dict[str, Any]:
    """The exported form of ``sub``: every setting, no next run."""
    return {
        "channel": sub.channel,
        "time": sub.post_time.strftime("%H:%M"),
        "timezone": sub.timezone,
        "days": [WEEKDAYS[day - 1] for day in sorted(sub.weekdays)],
        "cadence": sub.cadence,
        "weekly_day": WEEKDAYS[sub.weekly_day - 1],
        "top": sub.top_n,
        "min_upvotes": sub.min_upvotes,
        "include": list(sub.include),
        "exclude": list(sub.exclude),
        "match": sub.match,
        "paused": sub.paused,
        "paused_reason": sub.paused_reason,
        "created_by": sub.created_by,
        "source": sub.source,
        "crosslists": sub.crosslists,
        "alert_every": sub.alert_every,
    }


def export_document(
    subs: Sequence[Subscription], alerts: Mapping[str, Sequence[str]] | None = None
) -> str:
    """Pretty JSON of ``subs`` with the format name and version.

    With ``alerts`` (queries by channel), every row lists its channel's alerts.
    """
    rows = [subscription_row(sub) for sub in subs]
    if alerts is not None:
        for row in rows:
            row["alerts"] = list(alerts.get(row["channel"], ()))
    document = {"format": FORMAT, "version": VERSION, "subscriptions": rows}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# import: reading ---------------------------------------------------------------


def parse_document(text: str) -> list[Subscription]:
    """Every subscription in ``text``, validated; :class:`InvalidFile` lists all problems."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFile([Problem(exc.lineno, f"not valid JSON: {exc.msg}", exc.colno)]) from None
    _check_envelope(document)
    rows: list[Any] = document["subscriptions"]
    problems: list[Problem] = []
    subs: list[Subscription] = []
    first_line: dict[str, int] = {}
    for number, (where, row) in enumerate(zip(_row_lines(text), rows, strict=True), 1):
        try:
            sub = subscription_from_row(row)
        except InvalidRow as exc:
            # Each problem at the line of the field it is about, else where the row starts.
            problems.extend(
                Problem(where.fields.get(field or "", where.start), f"subscription {number}: {why}")
                for field, why in exc.problems
            )
            continue
        if sub.channel in first_line:
            message = f"{sub.channel} appears twice (first on line {first_line[sub.channel]})"
            line = where.fields.get("channel", where.start)
            problems.append(Problem(line, f"subscription {number}: {message}"))
            continue
        first_line[sub.channel] = where.fields.get("channel", where.start)
        subs.append(sub)
    if problems:
        raise InvalidFile(sorted(problems, key=lambda problem: problem.line))
    return subs


def _check_envelope(document: Any) -> None:
    """The top level: our format name, a version we understand, a list of subscriptions."""
    if not isinstance(document, dict):
        raise InvalidFile([Problem(1, f'expected an object with "format": "{FORMAT}"')])
    if document.get("format") != FORMAT:
        raise InvalidFile([Problem(1, f'"format" must be "{FORMAT}"')])
    version = document.get("version")
    if version != VERSION:
        message = f'"version" {version!r} is not supported (this paperbot reads {VERSION})'
        raise InvalidFile([Problem(1, message)])
    if not isinstance(document.get("subscriptions"), list):
        raise InvalidFile([Problem(1, '"subscriptions" must be a list')])


@dataclass(frozen=True, slots=True)
class RowLines:
    """Where one element of "subscriptions" starts, and the line of each of its fields."""

    start: int
    fields: dict[str, int]


def _row_lines(text: str) -> list[RowLines]:
    """The lines of each element of the top-level "subscriptions" list and of its fields.

    ``text`` is known to be a valid document by now, so this walks the top-level
    object with the standard decoder, noting where each list element and each
    key of an element object begins.
    """
    decoder = json.JSONDecoder()

    def skip(pos: int) -> int:
        match = _JSON_SPACE.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def element(pos: int) -> tuple[RowLines, int]:
        """The lines of the element at ``pos`` and the position after it."""
        start = line_at(pos)
        if text[pos] != "{":
            _, end = decoder.raw_decode(text, pos)
            return RowLines(start, {}), end
        fields: dict[str, int] = {}
        pos = skip(pos + 1)
        while text[pos] != "}":
            key_line = line_at(pos)
            key, pos = decoder.raw_decode(text, pos)
            fields.setdefault(key, key_line)
            pos = skip(skip(pos) + 1)  # past ":"
            _, pos = decoder.raw_decode(text, pos)
            pos = skip(pos)
            if text[pos] == ",":
                pos = skip(pos + 1)
        return RowLines(start, fields), pos + 1

    rows: list[RowLines] = []
    pos = skip(0) + 1  # past "{"
    while text[skip(pos)] != "}":
        key, pos = decoder.raw_decode(text, skip(pos))
        pos = skip(skip(pos) + 1)  # past ":"
        if key != "subscriptions":
            _, pos = decoder.raw_decode(text, pos)
        else:
            rows = []  # a repeated key: like json.loads, the last one wins
            pos = skip(pos + 1)  # past "["
            while text[pos] != "]":
                lines, pos = element(pos)
                rows.append(lines)
                pos = skip(pos)
                if text[pos] == ",":
                    pos = skip(pos + 1)
            pos += 1  # past "]"
        pos = skip(pos)
        if text[pos] == ",":
            pos += 1
    return rows


class InvalidRow(UserError):
    """A row has problems; ``problems`` holds (field or None, message) for every one."""

    def __init__(self, problems: Sequence[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = list(problems)


class _Problems:
    """Collects a row's validation errors, each tagged with its field, and goes on."""

    def __init__(self) -> None:
        self.found: list[tuple[str | None, str]] = []

    @contextmanager
    def about(self, name: str) -> Iterator[None]:
        """Record a :class:`UserError` raised inside as a problem of field ``name``."""
        try:
            yield
        except UserError as exc:
            self.found.append((name, f"{name}: {str(exc).rstrip('.')}"))


def subscription_from_row(row: Any) -> Subscription:
    """One exported row as a :class:`Subscription`, checked by the same rules as ``/settings``.

    Raises :class:`InvalidRow` naming every problem of the row, not only the first.
    """
    if not isinstance(row, dict):
        raise InvalidRow([(None, "expected an object")])
    check = _Problems()
    check.found += [
        (name, f"unknown field {name}") for name in sorted(set(row) - {*REQUIRED, *OPTIONAL})
    ]
    missing = [name for name in REQUIRED if name not in row]
    if missing:
        check.found.append((None, f"missing field(s) {', '.join(missing)}"))
    sub = Subscription(channel="")
    if "channel" in row:
        with check.about("channel"):
            sub = Subscription(channel=_channel(row["channel"]))
    for name, as_setting in _SETTINGS:
        if name in row:
            with check.about(name):
                sub = apply_setting(sub, name, _given(as_setting(row[name])))
    if "weekly_day" in row:
        with check.about("weekly_day"):
            # For a weekly digest, the "days" setting is the one day it goes out on.
            weekly = apply_setting(
                replace(sub, cadence="weekly"), "days", _given(_text(row["weekly_day"]))
            )
            sub = replace(sub, weekly_day=weekly.weekly_day)
    if "cadence" in row:
        with check.about("cadence"):
            sub = apply_setting(sub, "cadence", _given(_text(row["cadence"])))
    with check.about("paused"):
        sub = replace(sub, paused=_flag(row.get("paused", False)))
    with check.about("paused_reason"):
        sub = replace(sub, paused_reason=_optional_text(row.get("paused_reason")))
    with check.about("created_by"):
        sub = replace(sub, created_by=_text(row.get("created_by", "")))
    with check.about("alerts"):
        _alert_list(row.get("alerts", []))
    if check.found:
        raise InvalidRow(check.found)
    return sub


def _channel(value: Any) -> str:
    text = _text(value)
    match = _CHANNEL_RE.match(text)
    if not match:
        raise UserError(f"{text!r} is not a channel like telegram:-1001234567890")
    platforms = platform_names()
    if match.group(1) not in platforms:
        raise UserError(f"unknown platform {match.group(1)!r} (use {', '.join(platforms)})")
    return text


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise UserError(f"expected text, got {json.dumps(value)}")
    return value


def _given(text: str) -> str:
    # apply_setting would answer a blank value with chat usage help.
    if not text.strip():
        raise UserError("no value given")
    return text


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"expected true or false, got {json.dumps(value)}")
    return value


def _whole(value: Any) -> str:
    # bool is an int subclass, but true is not a number of papers.
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"expected a whole number, got {json.dumps(value)}")
    return str(value)


def _word_list(value: Any) -> str:
    """A list of words (or one string) as the comma-separated text /settings takes."""
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return _text(value)


def _alert_list(value: Any) -> tuple[str, ...]:
    """The alert queries of a row, each checked as ``/alert add`` checks it."""
    if not isinstance(value, list):
        raise UserError(f"expected a list of search queries, got {json.dumps(value)}")
    queries = tuple(_text(item).strip() for item in value)
    for query in queries:
        alert_query(query)
    if len(set(queries)) < len(queries):
        raise UserError("an alert appears twice")
    if len(queries) > MAX_ALERTS:
        raise UserError(f"{len(queries)} alerts; a channel has at most {MAX_ALERTS}")
    return queries


def document_alerts(text: str) -> dict[str, tuple[str, ...]]:
    """The alerts of each channel of a document :func:`parse_document` accepted.

    Only channels whose row has an "alerts" field: an import leaves the others'
    alerts alone.
    """
    rows = json.loads(text)["subscriptions"]
    return {row["channel"]: _alert_list(row["alerts"]) for row in rows if "alerts" in row}


def _keyword_list(value: Any) -> str:
    # An empty list clears the keywords, which /settings spells "none".
    return _word_list(value) or "none"


# Row fields that are /settings keys, and how a row value becomes the text /settings takes.
_SETTINGS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("time", _text),
    ("timezone", _text),
    ("days", _word_list),
    ("top", _whole),
    ("min_upvotes", _whole),
    ("include", _keyword_list),
    ("exclude", _keyword_list),
    ("source", _text),
    ("crosslists", lambda value: "yes" if _flag(value) else "no"),
    ("alert_every", _whole),
    ("match", _text),
)


# import: writing ---------------------------------------------------------------


def _settings_of(sub: Subscription) -> Subscription:
    """``sub`` without the fields an import does not compare (next run, creator)."""
    return replace(sub, next_run_at=None, created_by="")


async def import_subscriptions(
    storage: Storage,
    subs: Sequence[Subscription],
    now: datetime,
    alerts: Mapping[str, Sequence[str]] | None = None,
) -> ImportSummary:
    """Write new and changed subscriptions in one transaction, with their next run from ``now``.

    Then each channel named in ``alerts`` gets exactly those alerts (kept ones keep
    their pending matches). That is one transaction per alert written: an import
    stopped halfway is completed by running it again.
    """
    alerts = alerts or {}
    created = updated = 0
    changed: list[Subscription] = []
    for sub in subs:
        existing = await storage.get_subscription(sub.channel)
        same_alerts = await _alerts_match(storage, sub.channel, alerts)
        if existing is not None and _settings_of(existing) == _settings_of(sub) and same_alerts:
            continue
        if existing is None:
            created += 1
        else:
            updated += 1
        changed.append(replace(sub, next_run_at=next_run(sub, now)))
    await storage.save_subscriptions(changed)
    for sub in changed:
        if sub.channel in alerts:
            await _write_alerts(storage, sub, alerts[sub.channel])
    return ImportSummary(created, updated, len(subs) - created - updated)


async def _alerts_match(
    storage: Storage, channel: str, alerts: Mapping[str, Sequence[str]]
) -> bool:
    if channel not in alerts:
        return True
    stored = [alert.query for alert in await storage.list_alerts(channel)]
    return stored == list(alerts[channel])


async def _write_alerts(storage: Storage, sub: Subscription, queries: Sequence[str]) -> None:
    """Make ``sub.channel``'s alerts exactly ``queries``, in that order."""
    stored = await storage.list_alerts(sub.channel)
    kept = [alert.query for alert in stored if alert.query in queries]
    if kept != list(queries[: len(kept)]):
        kept = []  # the order differs: write them all again
    for alert in stored:
        if alert.query not in kept:
            await storage.delete_alert(alert.id)
    for query in queries[len(kept) :]:
        await storage.add_alert(sub.channel, query, sub.created_by)
