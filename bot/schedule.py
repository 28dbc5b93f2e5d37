"""When a subscription posts next, computed from its local time and IANA zone.

DST rules: a local time that does not exist on a spring-forward day posts at
the next valid local minute; an ambiguous one (fall-back) posts at its first
occurrence only, because the next run is always searched strictly after the
previous one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.models import Subscription

_SEARCH_DAYS = 15
_FULL_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def posts_on(sub: Subscription, day: date) -> bool:
    """Whether ``sub`` has a post on local calendar ``day``."""
    if sub.cadence == "weekly":
        return day.isoweekday() == sub.weekly_day
    return day.isoweekday() in sub.weekdays


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first real instant at or after local ``day`` ``at`` in ``zone``, in UTC."""
    wall = datetime.combine(day, at)
    for minute in range(0, 24 * 60):
        candidate = (wall + timedelta(minutes=minute)).replace(tzinfo=zone, fold=0)
        # A wall time inside a DST gap does not survive the round trip to UTC.
        if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == candidate.replace(
            tzinfo=None
        ):
            return candidate.astimezone(UTC)
    raise ValueError(f"no valid local time on {day} in {zone}")  # pragma: no cover


def next_run(sub: Subscription, after: datetime) -> datetime | None:
    """The first post instant of ``sub`` strictly after ``after`` (UTC), if any."""
    zone = ZoneInfo(sub.timezone)
    start = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(_SEARCH_DAYS):
        day = start + timedelta(days=offset)
        if not posts_on(sub, day):
            continue
        instant = local_instant(day, sub.post_time, zone)
        if instant > after:
            return instant
    return None


def period_of(sub: Subscription, run_at: datetime) -> str:
    """The outbox period key of a run: the local date, or the ISO week for weekly."""
    local = run_at.astimezone(ZoneInfo(sub.timezone)).date()
    if sub.cadence == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.isoformat()


def describe_days(sub: Subscription) -> str:
    """Human wording of the posting days: 'every day', 'Mon–Fri', 'weekly on Mondays'."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    if sub.cadence == "weekly":
        return f"weekly on {_FULL_NAMES[sub.weekly_day - 1]}s"
    days = sorted(sub.weekdays)
    if len(days) == 7:
        return "every day"
    if days == [1, 2, 3, 4, 5]:
        return "Mon–Fri"
    if days == [6, 7]:
        return "weekends"
    return ", ".join(names[day - 1] for day in days)


def format_local(moment: datetime, timezone: str) -> str:
    """``Mon 23 Nov 2026, 09:00 CET`` in the subscription's zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%a %d %b %Y, %H:%M %Z")
