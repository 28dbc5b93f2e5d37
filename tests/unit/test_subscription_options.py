"""Reading subscription settings from command arguments (bot/subscription_options.py)."""

from __future__ import annotations

from datetime import time

import pytest

from bot.errors import UserError
from bot.models import Subscription
from bot.sources.arxiv_taxonomy import load_taxonomy
from bot.subscription_options import (
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
    MAX_TOP,
    SETTING_KEYS,
    apply_setting,
    describe_filters,
    describe_settings,
    parse_days,
    parse_keywords,
    parse_source,
    parse_subscribe_args,
)

SUB = Subscription(channel="test:1")
WEEKLY = Subscription(channel="test:1", cadence="weekly", weekly_day=1)


# /subscribe ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", (None, None)),
        ("   ", (None, None)),
        ("07:30", (time(7, 30), None)),
        ("Europe/Berlin", (None, "Europe/Berlin")),
        ("europe/berlin", (None, "Europe/Berlin")),
        ("utc 7:30", (time(7, 30), "UTC")),
        ("time:06:15 timezone:asia/tokyo", (time(6, 15), "Asia/Tokyo")),
        ("07:30 Europe/Berlin", (time(7, 30), "Europe/Berlin")),
        ("Europe/Berlin 7:30", (time(7, 30), "Europe/Berlin")),
        ("23:59 America/Argentina/Buenos_Aires", (time(23, 59), "America/Argentina/Buenos_Aires")),
    ],
)
def test_parse_subscribe_args(args: str, expected: tuple[time | None, str | None]) -> None:
    assert parse_subscribe_args(args) == (*expected, None)


@pytest.mark.parametrize("args", ["24:00", "9:60", "09:00:00", "9.30 Europe/Berlin", "1pm"])
def test_parse_subscribe_args_bad_time(args: str) -> None:
    with pytest.raises(UserError, match="is not a time like 09:00"):
        parse_subscribe_args(args)


@pytest.mark.parametrize("args", ["Mars/Base", "09:00 Europe/Atlantis", "Berlin/Europe"])
def test_parse_subscribe_args_bad_timezone(args: str) -> None:
    with pytest.raises(UserError, match="timezone"):
        parse_subscribe_args(args)


def test_parse_subscribe_args_too_many_words() -> None:
    with pytest.raises(UserError, match=r"Usage: /subscribe \[HH:MM\] \[Area/City\]"):
        parse_subscribe_args("09:00 Europe/Berlin daily")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ("07:00 07:30", "Give one time, not two."),
        ("UTC Europe/Berlin", "Give one timezone, not two."),
        # Discord's options arrive named: a time given as the timezone is a bad timezone.
        ("time:06:15 timezone:06:15", "Unknown timezone '06:15'"),
    ],
)
def test_parse_subscribe_args_refuses_ambiguous_input(args: str, problem: str) -> None:
    with pytest.raises(UserError) as info:
        parse_subscribe_args(args)
    assert str(info.value).startswith(problem)


def test_unknown_timezone_suggests_close_names() -> None:
    with pytest.raises(UserError) as info:
        parse_subscribe_args("Europe/Berln")
    assert str(info.value).startswith("Unknown timezone 'Europe/Berln': did you mean Europe/Berlin")


def test_user_errors_read_as_sentences() -> None:
    with pytest.raises(UserError) as info:
        parse_subscribe_args("Mars/Base")
    message = str(info.value)
    assert message[0].isupper() and message.endswith(".")


# days ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("daily", {1, 2, 3, 4, 5, 6, 7}),
        ("every", {1, 2, 3, 4, 5, 6, 7}),
        ("weekdays", {1, 2, 3, 4, 5}),
        ("Weekends", {6, 7}),
        ("mon-fri", {1, 2, 3, 4, 5}),
        ("fri-mon", {5, 6, 7, 1}),
        ("sun-sun", {7}),
        ("mon,wed,fri", {1, 3, 5}),
        ("Mon, Wed  Fri", {1, 3, 5}),
        ("monday,tuesday", {1, 2}),
        ("tues thurs", {2, 4}),
        ("sat", {6}),
        ("mon-tue,fri", {1, 2, 5}),
    ],
)
def test_parse_days(text: str, days: set[int]) -> None:
    assert parse_days(text) == frozenset(days)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage", "'garbage' is not a day"),
        ("mo", "'mo' is not a day"),
        ("monkey", "'monkey' is not a day"),
        ("satan", "'satan' is not a day"),
        ("mon-", "'mon-' is not a day range like mon-fri"),
        ("mon-tue-wed", "not a day range"),
        ("-fri", "not a day range"),
        ("", "Name at least one day"),
        (" , ", "Name at least one day"),
    ],
)
def test_parse_days_rejects(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_days(text)


# /settings ---------------------------------------------------------------------
def test_apply_time_and_timezone() -> None:
    assert apply_setting(SUB, "time", "07:45").post_time == time(7, 45)
    assert apply_setting(SUB, "timezone", " Asia/Kolkata ").timezone == "Asia/Kolkata"
    assert apply_setting(SUB, "tz", "Europe/Berlin").timezone == "Europe/Berlin"
    assert apply_setting(SUB, "TIME", "8:00").post_time == time(8, 0)
    with pytest.raises(UserError, match="not a time"):
        apply_setting(SUB, "time", "noon")
    with pytest.raises(UserError, match="Unknown timezone 'Mars/Base'"):
        apply_setting(SUB, "timezone", "Mars/Base")


def test_apply_days_daily() -> None:
    changed = apply_setting(SUB, "days", "mon-fri")
    assert changed.weekdays == frozenset(range(1, 6))
    assert changed.weekly_day == SUB.weekly_day


def test_apply_days_weekly_takes_exactly_one_day() -> None:
    changed = apply_setting(WEEKLY, "days", "thu")
    assert changed.weekly_day == 4
    assert changed.weekdays == WEEKLY.weekdays
    with pytest.raises(UserError, match="weekly digest goes out on one day"):
        apply_setting(WEEKLY, "days", "mon,thu")
    with pytest.raises(UserError, match="one day"):
        apply_setting(WEEKLY, "days", "weekdays")


def test_apply_cadence() -> None:
    assert apply_setting(SUB, "cadence", "Weekly").cadence == "weekly"
    assert apply_setting(WEEKLY, "cadence", "daily").cadence == "daily"
    with pytest.raises(UserError, match="cadence is daily or weekly"):
        apply_setting(SUB, "cadence", "monthly")


@pytest.mark.parametrize("value", ["1", str(MAX_TOP), " 5 "])
def test_apply_top_in_bounds(value: str) -> None:
    assert apply_setting(SUB, "top", value).top_n == int(value)


@pytest.mark.parametrize("value", ["0", str(MAX_TOP + 1), "-1", "three", "2.5", "1e3", "9999999"])
def test_apply_top_out_of_bounds(value: str) -> None:
    with pytest.raises(UserError, match=f"top takes a whole number from 1 to {MAX_TOP}"):
        apply_setting(SUB, "top", value)


def test_apply_min_upvotes() -> None:
    assert apply_setting(SUB, "min_upvotes", "0").min_upvotes == 0
    assert apply_setting(SUB, "minupvotes", "100000").min_upvotes == 100_000
    assert apply_setting(SUB, "min-upvotes", "12").min_upvotes == 12
    for bad in ("100001", "-5", "lots"):
        with pytest.raises(UserError, match="min_upvotes takes a whole number from 0 to 100000"):
            apply_setting(SUB, "min_upvotes", bad)


def test_apply_include_and_exclude() -> None:
    changed = apply_setting(SUB, "include", "Diffusion, video ,diffusion,,")
    assert changed.include == ("diffusion", "video")
    assert apply_setting(changed, "include", "none").include == ()
    excluded = apply_setting(SUB, "exclude", "speech")
    assert excluded.exclude == ("speech",) and excluded.include == ()


def test_apply_match() -> None:
    assert SUB.match == "keywords"
    assert apply_setting(SUB, "match", " Topic ").match == "topic"
    assert apply_setting(SUB, "match", "keywords").match == "keywords"
    with pytest.raises(UserError, match="match is keywords"):
        apply_setting(SUB, "match", "fuzzy")
    assert "include llm (by topic)" in describe_filters(
        apply_setting(apply_setting(SUB, "include", "llm"), "match", "topic")
    )


def test_apply_unknown_key_lists_settings() -> None:
    with pytest.raises(UserError) as info:
        apply_setting(SUB, "colour", "blue")
    message = str(info.value)
    assert "Unknown setting 'colour'" in message
    assert all(key in message for key in SETTING_KEYS)


@pytest.mark.parametrize("key", list(SETTING_KEYS))
def test_apply_empty_value(key: str) -> None:
    with pytest.raises(UserError, match=f"Give a value: /settings {key} <"):
        apply_setting(SUB, key, "  ")


def test_apply_returns_a_new_subscription() -> None:
    changed = apply_setting(SUB, "top", "3")
    assert SUB.top_n == 5 and changed.top_n == 3
    assert changed.channel == SUB.channel


# keywords ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["none", "NONE", " clear ", "off", "-"])
def test_parse_keywords_clear(text: str) -> None:
    assert parse_keywords(text) == ()


def test_parse_keywords_normalises_and_dedupes() -> None:
    assert parse_keywords(" LLM , agents,llm, , RL ") == ("llm", "agents", "rl")


def test_parse_keywords_limits() -> None:
    at_limit = ",".join(f"k{n}" for n in range(MAX_KEYWORDS))
    assert len(parse_keywords(at_limit)) == MAX_KEYWORDS
    with pytest.raises(UserError, match=f"at most {MAX_KEYWORDS} keywords"):
        parse_keywords(at_limit + ",one-more")
    assert parse_keywords("x" * MAX_KEYWORD_CHARS) == ("x" * MAX_KEYWORD_CHARS,)
    with pytest.raises(UserError, match=str(MAX_KEYWORD_CHARS)):
        parse_keywords("x" * (MAX_KEYWORD_CHARS + 1))


def test_describe_settings() -> None:
    sub = apply_setting(apply_setting(SUB, "include", "llm,agents"), "days", "weekends")
    lines = describe_settings(sub)
    assert len(lines) == len(SETTING_KEYS)
    assert "time: 09:00 (UTC)" in lines
    assert "days: weekends" in lines
    assert "include: llm, agents" in lines
    assert "exclude: nothing" in lines


# sources ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "categories"),
    [
        ("hf", ()),
        ("HuggingFace", ()),
        ("arxiv:cs.CL,cs.LG", ("cs.CL", "cs.LG")),
        ("ARXIV:cs.cl cs.lg", ("cs.CL", "cs.LG")),
        ("cs.CL", ("cs.CL",)),
        ("arxiv:math.MP", ("math-ph",)),  # an alias becomes its canonical code
        ("arxiv:hep-th", ("hep-th",)),
    ],
)
def test_parse_source(text: str, categories: tuple[str, ...]) -> None:
    assert parse_source(text) == categories


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arxiv:cs.NOPE", "arXiv has no category cs.NOPE (did you mean cs.NE, cs.SE, cs.RO?)."),
        ("cs.NOPE", "arXiv has no category cs.NOPE (did you mean"),
        ("huggingfac", "A source is e.g. hf, or arxiv:cs.CL,cs.LG."),
        ("arxiv:", "Name at least one arXiv category"),
        ("arxiv:" + ",".join(c.code for c in load_taxonomy().search("", 21)), "At most 20 arXiv"),
    ],
)
def test_parse_source_refusals_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_source(text)
    assert message in str(caught.value)


def test_source_and_crosslists_settings() -> None:
    sub = apply_setting(Subscription(channel="test:1"), "source", "arxiv:cs.CL,cs.LG")
    assert sub.arxiv_categories == ("cs.CL", "cs.LG") and sub.source == "arxiv:cs.CL,cs.LG"
    assert not apply_setting(sub, "cross-lists", "off").crosslists
    assert apply_setting(sub, "crosslists", "YES").crosslists
    with pytest.raises(UserError, match="crosslists is yes or no"):
        apply_setting(sub, "crosslists", "sometimes")
    assert apply_setting(sub, "source", "hf").arxiv_categories == ()
    lines = describe_settings(sub)
    assert "source: arxiv:cs.CL,cs.LG" in lines and "crosslists: yes" in lines


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("09:00 Europe/Berlin arxiv:cs.CL, cs.LG", (time(9), "Europe/Berlin", ("cs.CL", "cs.LG"))),
        ("time:07:00 source:cs.cl", (time(7), None, ("cs.CL",))),
        ("hf", (None, None, ())),
    ],
)
def test_parse_subscribe_args_with_a_source(
    args: str, expected: tuple[time | None, str | None, tuple[str, ...]]
) -> None:
    assert parse_subscribe_args(args) == expected


def test_the_source_comes_last_in_subscribe_args() -> None:
    with pytest.raises(UserError, match="arXiv has no category 06:00"):
        parse_subscribe_args("arxiv:stat.ML 06:00")


def test_subscribe_without_a_source_value_says_what_one_is() -> None:
    with pytest.raises(UserError, match=r"Name a source, e\.g\. hf, or arxiv:cs\.CL,cs\.LG"):
        parse_subscribe_args("09:00 source:")
