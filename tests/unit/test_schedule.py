"""Posting times from local time + IANA zone (bot/schedule.py), DST included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.models import Subscription
from bot.schedule import describe_days, format_local, local_instant, next_run, period_of, posts_on

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sub(at: time = time(9, 0), zone: str = BERLIN, **extra: object) -> Subscription:
    return Subscription(channel="test:1", post_time=at, timezone=zone, **extra)  # type: ignore[arg-type]


def runs(subscription: Subscription, after: datetime, count: int) -> list[datetime]:
    """``count`` consecutive runs, each searched from the previous one."""
    found: list[datetime] = []
    for _ in range(count):
        nxt = next_run(subscription, after)
        assert nxt is not None
        assert nxt > after
        found.append(nxt)
        after = nxt
    return found


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


# Europe/Berlin around both 2026 changes ---------------------------------------
def test_berlin_winter_and_summer() -> None:
    assert next_run(sub(), utc(2026, 1, 15, 0, 0)) == utc(2026, 1, 15, 8, 0)
    assert next_run(sub(), utc(2026, 7, 15, 0, 0)) == utc(2026, 7, 15, 7, 0)


def test_result_is_utc_even_for_a_local_after() -> None:
    after = datetime(2026, 1, 15, 1, 0, tzinfo=ZoneInfo(BERLIN))
    result = next_run(sub(), after)
    assert result == utc(2026, 1, 15, 8, 0)
    assert result is not None and result.utcoffset() == timedelta(0)


def test_berlin_across_march_change() -> None:
    assert runs(sub(), utc(2026, 3, 27, 12, 0), 3) == [
        utc(2026, 3, 28, 8, 0),  # Sat, CET
        utc(2026, 3, 29, 7, 0),  # Sun, CEST from 01:00 UTC
        utc(2026, 3, 30, 7, 0),
    ]


def test_berlin_across_october_change() -> None:
    assert runs(sub(), utc(2026, 10, 23, 12, 0), 3) == [
        utc(2026, 10, 24, 7, 0),  # Sat, CEST
        utc(2026, 10, 25, 8, 0),  # Sun, CET from 01:00 UTC
        utc(2026, 10, 26, 8, 0),
    ]


def test_every_run_is_at_nine_local_through_the_year() -> None:
    for moment in runs(sub(), utc(2026, 1, 1, 0, 0), 365):
        assert local(moment, BERLIN).time() == time(9, 0)


def test_spring_forward_gap_posts_at_three() -> None:
    subscription = sub(time(2, 30))
    found = runs(subscription, utc(2026, 3, 28, 12, 0), 2)
    assert found[0] == utc(2026, 3, 29, 1, 0)
    assert local(found[0], BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 0)
    assert found[1] == utc(2026, 3, 30, 0, 30)  # 02:30 CEST again the next day


def test_local_instant_in_gap_and_normal() -> None:
    zone = ZoneInfo(BERLIN)
    assert local_instant(date(2026, 3, 29), time(2, 30), zone) == utc(2026, 3, 29, 1, 0)
    assert local_instant(date(2026, 3, 29), time(2, 0), zone) == utc(2026, 3, 29, 1, 0)
    assert local_instant(date(2026, 3, 29), time(1, 59), zone) == utc(2026, 3, 29, 0, 59)
    assert local_instant(date(2026, 3, 29), time(3, 0), zone) == utc(2026, 3, 29, 1, 0)
    assert local_instant(date(2026, 6, 1), time(9, 0), zone) == utc(2026, 6, 1, 7, 0)


def test_local_instant_ambiguous_is_first_occurrence() -> None:
    instant = local_instant(date(2026, 10, 25), time(2, 30), ZoneInfo(BERLIN))
    assert instant == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET (01:30 UTC)


def test_fall_back_ambiguous_time_posts_exactly_once() -> None:
    found = runs(sub(time(2, 30)), utc(2026, 10, 23, 12, 0), 5)
    on_the_day = [m for m in found if local(m, BERLIN).date() == date(2026, 10, 25)]
    assert on_the_day == [utc(2026, 10, 25, 0, 30)]
    assert found[2] == utc(2026, 10, 26, 1, 30)
    assert len({local(m, BERLIN).date() for m in found}) == len(found)


def test_next_run_is_strictly_after() -> None:
    at = utc(2026, 1, 15, 8, 0)
    assert next_run(sub(), at) == utc(2026, 1, 16, 8, 0)
    assert next_run(sub(), at - timedelta(microseconds=1)) == at


# days and cadence ----------------------------------------------------------------
def test_weekdays_filter_skips_weekend() -> None:
    weekdays = sub(zone="UTC", weekdays=frozenset(range(1, 6)))
    # Friday 13 March 2026, after the 09:00 run.
    found = runs(weekdays, utc(2026, 3, 13, 9, 0), 10)
    assert found[0] == utc(2026, 3, 16, 9, 0)  # Monday
    assert all(m.isoweekday() <= 5 for m in found)
    assert len(found) == len(set(found))
    assert found[-1] == utc(2026, 3, 27, 9, 0)


def test_no_days_means_no_run() -> None:
    assert next_run(sub(weekdays=frozenset()), utc(2026, 3, 13, 9, 0)) is None


def test_weekly_cadence_on_chosen_day() -> None:
    weekly = sub(zone="UTC", cadence="weekly", weekly_day=3, weekdays=frozenset({1}))
    found = runs(weekly, utc(2026, 3, 9, 0, 0), 3)  # from Monday 9 March
    assert found == [utc(2026, 3, 11, 9, 0), utc(2026, 3, 18, 9, 0), utc(2026, 3, 25, 9, 0)]
    assert [period_of(weekly, m) for m in found] == ["2026-W11", "2026-W12", "2026-W13"]
    assert posts_on(weekly, date(2026, 3, 11)) and not posts_on(weekly, date(2026, 3, 9))


def test_weekly_period_uses_iso_year() -> None:
    weekly = sub(zone="UTC", cadence="weekly", weekly_day=5)
    # 1 January 2027 is a Friday in ISO week 53 of 2026.
    assert period_of(weekly, utc(2027, 1, 1, 9, 0)) == "2026-W53"
    assert period_of(weekly, utc(2027, 1, 8, 9, 0)) == "2027-W01"


def test_daily_period_is_local_date() -> None:
    assert period_of(sub(zone="UTC"), utc(2026, 3, 16, 9, 0)) == "2026-03-16"
    # 00:30 Berlin on the 16th is still the 15th in UTC.
    assert period_of(sub(time(0, 30)), utc(2026, 3, 15, 23, 30)) == "2026-03-16"


# other zones -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        ("America/New_York", utc(2026, 3, 6, 0, 0), utc(2026, 3, 6, 14, 0)),  # EST
        ("America/New_York", utc(2026, 3, 9, 0, 0), utc(2026, 3, 9, 13, 0)),  # EDT from 8 Mar
        ("America/New_York", utc(2026, 11, 2, 0, 0), utc(2026, 11, 2, 14, 0)),  # EST from 1 Nov
        ("Asia/Kolkata", utc(2026, 1, 15, 0, 0), utc(2026, 1, 15, 3, 30)),
        ("Asia/Kolkata", utc(2026, 7, 15, 0, 0), utc(2026, 7, 15, 3, 30)),
        # +13:45 in the southern summer, +12:45 in winter: the UTC time is the day before.
        ("Pacific/Chatham", utc(2026, 1, 15, 0, 0), utc(2026, 1, 15, 19, 15)),
        ("Pacific/Chatham", utc(2026, 6, 15, 0, 0), utc(2026, 6, 15, 20, 15)),
        ("Pacific/Kiritimati", utc(2026, 3, 15, 0, 0), utc(2026, 3, 15, 19, 0)),  # +14
        ("Pacific/Pago_Pago", utc(2026, 3, 15, 0, 0), utc(2026, 3, 15, 20, 0)),  # -11
    ],
)
def test_other_zones(zone: str, after: datetime, expected: datetime) -> None:
    result = next_run(sub(zone=zone), after)
    assert result == expected
    assert local(expected, zone).time() == time(9, 0)


def test_chatham_period_is_the_local_next_day() -> None:
    subscription = sub(zone="Pacific/Chatham")
    run = next_run(subscription, utc(2026, 1, 15, 0, 0))
    assert run is not None
    assert period_of(subscription, run) == "2026-01-16"


def test_weekdays_are_local_across_the_date_line() -> None:
    weekdays = sub(zone="Pacific/Kiritimati", weekdays=frozenset(range(1, 6)))
    # Friday 09:00 in Kiritimati is Thursday 19:00 UTC.
    friday = utc(2026, 3, 12, 19, 0)
    assert local(friday, "Pacific/Kiritimati").isoweekday() == 5
    monday = next_run(weekdays, friday)
    # Monday 09:00 local is Sunday 19:00 UTC: a UTC weekday filter would skip it.
    assert monday == utc(2026, 3, 15, 19, 0)
    assert monday is not None and monday.isoweekday() == 7
    assert period_of(weekdays, monday) == "2026-03-16"


def test_weekdays_west_of_the_date_line() -> None:
    weekdays = sub(zone="Pacific/Pago_Pago", weekdays=frozenset(range(1, 6)))
    friday = utc(2026, 3, 13, 20, 0)  # Friday 09:00 at -11
    monday = next_run(weekdays, friday)
    assert monday == utc(2026, 3, 16, 20, 0)


# wording -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("days", "wording"),
    [
        (frozenset(range(1, 8)), "every day"),
        (frozenset(range(1, 6)), "Mon–Fri"),
        (frozenset({6, 7}), "weekends"),
        (frozenset({5, 1, 3}), "Mon, Wed, Fri"),
        (frozenset({2}), "Tue"),
    ],
)
def test_describe_days(days: frozenset[int], wording: str) -> None:
    assert describe_days(sub(weekdays=days)) == wording


def test_describe_weekly() -> None:
    assert describe_days(sub(cadence="weekly", weekly_day=1)) == "weekly on Mondays"
    assert describe_days(sub(cadence="weekly", weekly_day=7)) == "weekly on Sundays"


def test_format_local() -> None:
    assert format_local(utc(2026, 11, 23, 8, 0), BERLIN) == "Mon 23 Nov 2026, 09:00 CET"
    assert format_local(utc(2026, 7, 1, 7, 0), BERLIN) == "Wed 01 Jul 2026, 09:00 CEST"
