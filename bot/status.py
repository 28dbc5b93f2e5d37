"""``paperbot status``: every subscription, when it posts next, how its last digest went
and its keyword alerts (how many, matches waiting, alert messages sent); and which process
holds each role (bot/roles.py) when several share the database."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.models import Subscription
from bot.ports.storage import Delivery, Lease, Storage
from bot.schedule import describe_days, format_local

HEADERS = (
    "channel",
    "schedule",
    "next run (local)",
    "next run (UTC)",
    "state",
    "last delivery",
    "alerts",
)
NONE = "—"


@dataclass(frozen=True, slots=True)
class AlertCounts:
    """A channel's alerts, the new papers waiting for its next alert message, the messages sent."""

    alerts: int = 0
    pending: int = 0
    sent: int = 0

    def __str__(self) -> str:
        if not (self.alerts or self.pending or self.sent):
            return NONE
        return f"{self.alerts} ({self.pending} pending, {self.sent} sent)"


Row = tuple[Subscription, Delivery | None, AlertCounts]


async def collect(storage: Storage) -> list[Row]:
    """Each subscription (by channel) with its most recent outbox row and its alert counts."""
    alerts = Counter(alert.channel for alert in await storage.list_alerts())
    waiting = {(m.channel, m.paper_key) for m in await storage.pending_alert_matches()}
    pending = Counter(channel for channel, _ in waiting)
    sent = await storage.alert_messages_sent()
    return [
        (
            sub,
            await storage.last_delivery(sub.channel),
            AlertCounts(alerts[sub.channel], pending[sub.channel], sent.get(sub.channel, 0)),
        )
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


def as_table(rows: list[Row]) -> str:
    """A plain-text table, one subscription per line, columns aligned.

    The alerts column is left out while no channel has any alert.
    """
    if not rows:
        return "No subscriptions."
    cells: list[tuple[str, ...]] = [
        HEADERS,
        *(
            (
                sub.channel,
                schedule_text(sub),
                format_local(sub.next_run_at, sub.timezone) if sub.next_run_at else NONE,
                _utc(sub.next_run_at) if sub.next_run_at else NONE,
                _state(sub),
                _delivery_text(delivery),
                str(alerts),
            )
            for sub, delivery, alerts in rows
        ),
    ]
    if all(row[-1] == NONE for row in cells[1:]):
        cells = [row[:-1] for row in cells]
    widths = [max(len(row[col]) for row in cells) for col in range(len(cells[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def as_json(rows: list[Row]) -> str:
    """The same facts as JSON, times in ISO 8601."""
    items: list[dict[str, Any]] = []
    for sub, delivery, alerts in rows:
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
                "alerts": {
                    "count": alerts.alerts,
                    "pending": alerts.pending,
                    "messages_sent": alerts.sent,
                    "every_minutes": sub.alert_every,
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
