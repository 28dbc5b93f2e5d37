"""``paperbot status``: every subscription, when it posts next, and how its last digest went;
and which process holds each role (bot/roles.py) when several share the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.models import Subscription
from bot.ports.storage import Delivery, Lease, Storage
from bot.schedule import describe_days, format_local

HEADERS = ("channel", "schedule", "next run (local)", "next run (UTC)", "state", "last delivery")
NONE = "—"


async def collect(storage: Storage) -> list[tuple[Subscription, Delivery | None]]:
    """Each subscription (by channel) with its most recent outbox row."""
    return [
        (sub, await storage.last_delivery(sub.channel))
        for sub in await storage.list_subscriptions()
    ]


def schedule_text(sub: Subscription) -> str:
    """``09:00 Europe/Berlin, Mon–Fri``."""
    return f"{sub.post_time.strftime('%H:%M')} {sub.timezone}, {describe_days(sub)}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _state(sub: Subscription) -> str:
    if not sub.paused:
        return "active"
    return f"paused: {sub.paused_reason}" if sub.paused_reason else "paused"


def _delivery_text(delivery: Delivery | None) -> str:
    if delivery is None:
        return NONE
    text = f"{delivery.period} {delivery.state}"
    return f"{text}: {delivery.error}" if delivery.error else text


def as_table(rows: list[tuple[Subscription, Delivery | None]]) -> str:
    """A plain-text table, one subscription per line, columns aligned."""
    if not rows:
        return "No subscriptions."
    cells = [HEADERS] + [
        (
            sub.channel,
            schedule_text(sub),
            format_local(sub.next_run_at, sub.timezone) if sub.next_run_at else NONE,
            _utc(sub.next_run_at) if sub.next_run_at else NONE,
            _state(sub),
            _delivery_text(delivery),
        )
        for sub, delivery in rows
    ]
    widths = [max(len(row[col]) for row in cells) for col in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def as_json(rows: list[tuple[Subscription, Delivery | None]]) -> str:
    """The same facts as JSON, times in ISO 8601."""
    items: list[dict[str, Any]] = []
    for sub, delivery in rows:
        next_run = sub.next_run_at
        items.append(
            {
                "channel": sub.channel,
                "schedule": schedule_text(sub),
                "time": sub.post_time.strftime("%H:%M"),
                "timezone": sub.timezone,
                "cadence": sub.cadence,
                "source": sub.source,
                "next_run_local": next_run.astimezone(ZoneInfo(sub.timezone)).isoformat()
                if next_run
                else None,
                "next_run_utc": next_run.astimezone(UTC).isoformat() if next_run else None,
                "paused": sub.paused,
                "paused_reason": sub.paused_reason,
                "last_delivery": None
                if delivery is None
                else {
                    "period": delivery.period,
                    "state": delivery.state,
                    "error": delivery.error,
                    "attempts": delivery.attempts,
                    "due_at": delivery.due_at.isoformat(),
                },
            }
        )
    return json.dumps(items, ensure_ascii=False, indent=2)


ROLE_HEADERS = ("role", "held by", "expires (UTC)", "state")


def roles_table(leases: list[Lease], now: datetime) -> str:
    """Each role's holder (owner id ``host:pid:random``) and lease expiry, aligned."""
    if not leases:
        return "No roles held: no `paperbot run` process has used this database."
    cells = [ROLE_HEADERS] + [
        (
            lease.name,
            lease.owner,
            lease.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "held" if lease.expires_at > now else "expired: free to take",
        )
        for lease in leases
    ]
    widths = [max(len(row[col]) for row in cells) for col in range(len(ROLE_HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def roles_json(leases: list[Lease], now: datetime) -> str:
    """The same facts as JSON."""
    return json.dumps(
        [
            {
                "role": lease.name,
                "owner": lease.owner,
                "expires_at": lease.expires_at.isoformat(),
                "held": lease.expires_at > now,
                "since": lease.acquired_at.isoformat(),
            }
            for lease in leases
        ],
        indent=2,
    )
