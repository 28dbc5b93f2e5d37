"""Export and import of subscriptions: round trips, idempotence, validation with line numbers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any

import pytest

from bot.models import Subscription
from bot.schedule import next_run
from bot.transfer import (
    FORMAT,
    ImportSummary,
    InvalidFile,
    export_document,
    import_subscriptions,
    parse_document,
    subscription_row,
)
from storage.sqlite import SqliteStorage

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SUBS = [
    Subscription(
        channel="telegram:-1001234567890",
        post_time=time(8, 30),
        timezone="Europe/Berlin",
        weekdays=frozenset({1, 2, 3, 4, 5}),
        top_n=3,
        min_upvotes=10,
        include=("diffusion", "llm"),
        exclude=("video",),
        created_by="telegram:42",
        match="topic",
    ),
    Subscription(
        channel="discord:987654321",
        timezone="America/New_York",
        cadence="weekly",
        weekly_day=5,
        paused=True,
        paused_reason="missing_permission",
        arxiv_categories=("cs.CL", "cs.LG"),
        crosslists=False,
    ),
    Subscription(channel="console:local", post_time=time(23, 59), timezone="Asia/Kolkata"),
]


@pytest.fixture
def store(sqlite_store: SqliteStorage) -> SqliteStorage:
    """SQLite itself: the tests compare raw rows."""
    return sqlite_store


async def table(store: SqliteStorage) -> list[tuple[Any, ...]]:
    """Every column of every subscription row, timestamps included."""
    return [tuple(row) for row in await store._all("SELECT * FROM subscriptions ORDER BY id")]


# Fragments of lines that hold a field, to find that field's line.
TOP_11, TOP, TIME, COLOUR, DAYS = '"top": 11', '"top"', '"time"', '"colour"', '"days"'


def document(*rows: dict[str, Any]) -> str:
    return json.dumps({"format": FORMAT, "version": 1, "subscriptions": list(rows)}, indent=2)


def row(**changes: Any) -> dict[str, Any]:
    return {**subscription_row(SUBS[0]), **changes}


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidFile) as caught:
        parse_document(text)
    return [problem.located("subs.json") for problem in caught.value.problems]


def test_export_is_versioned_pretty_json_without_next_run() -> None:
    text = export_document([replace(SUBS[0], next_run_at=NOW)])
    data = json.loads(text)
    assert (data["format"], data["version"]) == ("paperbot-subscriptions", 1)
    assert data["subscriptions"] == [
        {
            "channel": "telegram:-1001234567890",
            "time": "08:30",
            "timezone": "Europe/Berlin",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "cadence": "daily",
            "weekly_day": "mon",
            "top": 3,
            "min_upvotes": 10,
            "include": ["diffusion", "llm"],
            "exclude": ["video"],
            "match": "topic",
            "paused": False,
            "paused_reason": None,
            "created_by": "telegram:42",
            "source": "hf",
            "crosslists": True,
            "alert_every": 10,
        }
    ]
    assert text.startswith('{\n  "format"') and text.endswith("}\n")


def test_parse_reads_back_exactly_what_was_exported() -> None:
    assert parse_document(export_document(SUBS)) == SUBS


async def test_import_into_an_empty_database_recreates_every_subscription(store) -> None:
    summary = await import_subscriptions(store, parse_document(export_document(SUBS)), NOW)
    assert summary == ImportSummary(created=3, updated=0, unchanged=0)
    stored = {sub.channel: sub for sub in await store.list_subscriptions()}
    for sub in SUBS:
        assert stored[sub.channel] == replace(sub, next_run_at=next_run(sub, NOW))
    assert export_document(await store.list_subscriptions()) == export_document(
        sorted(SUBS, key=lambda s: s.channel)
    )


async def test_importing_twice_changes_nothing(store) -> None:
    subs = parse_document(export_document(SUBS))
    await import_subscriptions(store, subs, NOW)
    before = await table(store)
    later = datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
    assert await import_subscriptions(store, subs, later) == ImportSummary(0, 0, 3)
    assert await table(store) == before


async def test_import_updates_existing_subscriptions_in_place(store) -> None:
    await store.save_subscription(replace(SUBS[0], top_n=5, next_run_at=NOW))
    row_id = await store.subscription_id(SUBS[0].channel)
    summary = await import_subscriptions(store, parse_document(export_document(SUBS)), NOW)
    assert summary == ImportSummary(created=2, updated=1, unchanged=0)
    assert await store.subscription_id(SUBS[0].channel) == row_id  # the outbox refers to it
    updated = await store.get_subscription(SUBS[0].channel)
    assert updated is not None and updated.top_n == 3
    assert updated.next_run_at == next_run(SUBS[0], NOW)


async def test_save_subscriptions_is_all_or_nothing(store) -> None:
    broken = Subscription(channel=None)  # type: ignore[arg-type]  # NOT NULL fails mid-batch
    with pytest.raises(Exception, match="NOT NULL"):
        await store.save_subscriptions([SUBS[0], broken])
    assert await store.list_subscriptions() == []
    await store.save_subscriptions(SUBS)  # and the connection is still usable
    assert len(await store.list_subscriptions()) == 3


async def test_a_bad_file_is_rejected_whole_naming_each_row_line(store) -> None:
    text = document(
        row(channel="telegram:1"),
        row(channel="slack:1"),
        row(channel="telegram:3", top=11),
        row(channel="telegram:4"),
        row(channel="telegram:5", timezone="Mars/Olympus"),
    )
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, 1) if fragment in line)

    assert problems(text) == [
        f"subs.json:{line_of('slack:1')}: subscription 2: channel: unknown platform 'slack'"
        " (use console, discord, telegram)",
        f"subs.json:{line_of(TOP_11)}: subscription 3: top: top takes a whole number from 1 to 10",
        f"subs.json:{line_of('Mars/Olympus')}: subscription 5: timezone: Unknown timezone"
        " 'Mars/Olympus': use Area/City, e.g. Europe/Berlin",
    ]
    assert await store.list_subscriptions() == []


def test_every_problem_of_a_row_is_reported_at_its_fields_line() -> None:
    text = document(row(time="25:00", top=0, colour="blue", days=["mon", "funday"]))
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, 1) if fragment in line)

    assert problems(text) == sorted(
        [
            f"subs.json:{line_of(COLOUR)}: subscription 1: unknown field colour",
            f"subs.json:{line_of(TIME)}: subscription 1: time: '25:00' is not a time"
            " like 09:00 (24-hour HH:MM)",
            f"subs.json:{line_of(DAYS)}: subscription 1: days: 'funday' is not a day;"
            " use mon, tue, wed, thu, fri, sat, sun",
            f"subs.json:{line_of(TOP)}: subscription 1: top: top takes a whole number from 1 to 10",
        ],
        key=lambda message: int(message.split(":")[1]),
    )


def test_json_syntax_errors_give_line_and_column() -> None:
    text = document(row())
    broken = text.replace('"top": 3,', '"top": 3')  # missing comma
    line = next(n for n, s in enumerate(text.splitlines(), 1) if '"top"' in s) + 1
    (message,) = problems(broken)
    assert message.startswith(f"subs.json:{line}:7: not valid JSON: Expecting ',' delimiter")


def test_row_lines_are_found_in_compact_and_odd_layouts() -> None:
    compact = json.dumps({"subscriptions": [row(), row(top=0)], "version": 1, "format": FORMAT})
    assert problems(compact) == [
        "subs.json:1: subscription 2: top: top takes a whole number from 1 to 10"
    ]
    odd = (
        '\n{ "version" : 1 ,\n "note": {"subscriptions": []},\n "format":"FORMAT",'
        '\n "subscriptions"\n :\n [ {"channel": "console:a", "time": "09:00", "timezone": "UTC"},'
        '\n\n\n   {"channel": "console:b", "time": "9", "timezone": "UTC"} ] }\n'
    ).replace("FORMAT", FORMAT)
    assert problems(odd) == [
        "subs.json:10: subscription 2: time: '9' is not a time like 09:00 (24-hour HH:MM)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", 'expected an object with "format": "paperbot-subscriptions"'),
        ('{"format": "other", "version": 1, "subscriptions": []}', '"format" must be'),
        (
            '{"format": "paperbot-subscriptions", "version": 2, "subscriptions": []}',
            '"version" 2 is not supported (this paperbot reads 1)',
        ),
        ('{"format": "paperbot-subscriptions", "version": 1}', '"subscriptions" must be a list'),
        ("", "not valid JSON: Expecting value"),
    ],
)
def test_the_envelope_is_checked(text: str, message: str) -> None:
    (problem,) = problems(text)
    assert message in problem


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"channel": "telegram"},
            "channel: 'telegram' is not a channel like telegram:-1001234567890",
        ),
        ({"channel": 42}, "channel: expected text, got 42"),
        ({"channel": "telegram:has space"}, "is not a channel"),
        ({"time": "25:00"}, "time: '25:00' is not a time like 09:00 (24-hour HH:MM)"),
        ({"timezone": "Europe/Nowhere"}, "timezone: Unknown timezone 'Europe/Nowhere'"),
        ({"days": ["mon", "funday"]}, "days: 'funday' is not a day"),
        ({"days": []}, "days: no value given"),
        ({"time": " "}, "time: no value given"),
        ({"cadence": ""}, "cadence: no value given"),
        ({"top": 0}, "top: top takes a whole number from 1 to 10"),
        ({"top": True}, "top: expected a whole number, got true"),
        ({"top": "5"}, 'top: expected a whole number, got "5"'),
        ({"min_upvotes": -1}, "min_upvotes: min_upvotes takes a whole number"),
        ({"include": ["x" * 61]}, "include: Keep each keyword to at most 60 characters"),
        ({"exclude": [f"k{n}" for n in range(21)]}, "exclude: Use at most 20 keywords"),
        ({"include": [1]}, "include: expected text, got 1"),
        ({"cadence": "hourly"}, "cadence: cadence is daily or weekly"),
        ({"match": "meaning"}, "match: match is keywords (as spelled) or topic"),
        ({"match": True}, "match: expected text, got true"),
        ({"weekly_day": "mon,tue"}, "weekly_day: A weekly digest goes out on one day"),
        ({"paused": "yes"}, 'paused: expected true or false, got "yes"'),
        ({"paused_reason": 3}, "paused_reason: expected text, got 3"),
        ({"colour": "blue"}, "unknown field colour"),
        ({"time": None}, "time: expected text, got null"),
    ],
)
def test_every_field_is_validated(changes: dict[str, Any], message: str) -> None:
    (problem,) = problems(document(row(**changes)))
    assert message in problem


def test_required_fields_and_duplicate_channels() -> None:
    minimal = {"channel": "console:x"}
    duplicate = document(row(), row(top=4))
    assert problems(document(minimal))[0].endswith("missing field(s) time, timezone")
    assert problems(duplicate)[0].endswith(
        "subscription 2: telegram:-1001234567890 appears twice (first on line 6)"
    )
    assert "expected an object" in problems(document("console:x"))[0]  # type: ignore[arg-type]


def test_hand_written_rows_may_use_settings_wording_and_defaults() -> None:
    (sub,) = parse_document(
        document(
            {
                "channel": "discord:1",
                "time": "7:05",
                "timezone": "Asia/Tokyo",
                "days": "mon-fri",
                "include": "LLM, agents",
            }
        )
    )
    assert sub == Subscription(
        channel="discord:1",
        post_time=time(7, 5),
        timezone="Asia/Tokyo",
        weekdays=frozenset(range(1, 6)),
        include=("llm", "agents"),
    )


def test_an_unknown_arxiv_category_is_refused_at_its_line() -> None:
    text = document(row(source="arxiv:cs.CL,cs.NOPE", crosslists="maybe"))
    found = problems(text)
    source_line = next(n for n, line in enumerate(text.splitlines(), 1) if '"source"' in line)
    assert found[0].startswith(f"subs.json:{source_line}: subscription 1: source: arXiv has no")
    assert "cs.NOPE (did you mean" in found[0]
    assert any("crosslists: expected true or false" in problem for problem in found)


def test_a_file_without_source_fields_imports_as_hugging_face() -> None:
    old = {k: v for k, v in row().items() if k not in ("source", "crosslists")}
    (sub,) = parse_document(document(old))
    assert sub.arxiv_categories == () and sub.crosslists
