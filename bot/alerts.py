"""Instant keyword alerts: the /alert command, matching new papers, and the alert messages.

An alert is a search query (bot/query.py syntax) standing in a subscribed
channel. Matching reuses the storage's own search matching
(:meth:`~bot.ports.storage.PaperStore.matching_keys`), so an alert finds a
new paper exactly when ``/search`` with the same words would.

The flow is restart-safe because every step is in the database:

1. an ingest queues the keys of papers not stored yet
   (:meth:`~bot.ports.storage.AlertStore.queue_alert_candidates`), stores
   the papers, then :func:`match_new_papers` records each alert's matches
   as pending and unqueues the papers (a crash in between leaves them queued
   for the next pass);
2. :func:`queue_alert_messages` (run by the scheduler's tick and right after
   an ingest) turns a channel's pending matches into one outbox row, at most
   once per ``alert_every`` minutes, without papers the channel already
   received (digest or alert);
3. the delivery worker sends that row like a digest (rate limits, retries,
   resume after a crash, sent-paper history), rendering it with
   :func:`alert_reply`.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from bot.cards import paper_card, shorten
from bot.digest import received_keys
from bot.errors import UserError
from bot.models import Command, Reply, Subscription
from bot.ports.storage import ALERT_PERIOD_PREFIX, Alert, AlertMatch, Delivery, Storage
from bot.query import QueryError, SearchQuery, parse_query

log = logging.getLogger("paperbot.alerts")

MAX_ALERTS = 20
MAX_ALERT_CHARS = 200
# Papers in one alert message; more matches wait for the channel's next one.
MAX_ALERT_PAPERS = 10
# New papers matched per storage round trip.
MATCH_BATCH = 500
# An alert matching more than this share of the newest papers would post most
# of every day's papers: it is refused as too broad, once it matches enough of
# them to tell (a small library's few matches of a real topic are not noise).
BROAD_SAMPLE = 500
BROAD_MIN_MATCHES = 20
BROAD_SHARE = 0.3

_SORT_RE = re.compile(r"(?:^|\s)-?sort:", re.IGNORECASE)

USAGE = (
    "Usage: /alert add <query> (admins), /alert list, /alert remove <number> (admins)."
    ' The query is written as for /search: words, "exact phrase", -exclude, author:Name,'
    " since:2025-01-01."
)
NOT_SUBSCRIBED = (
    "Alerts come with this channel's subscription, and it has none."
    " An admin can run /subscribe first."
)


def alert_query(text: str) -> SearchQuery:
    """``text`` as an alert's query, or a :class:`UserError` saying what is wrong.

    The syntax is /search's. ``sort:`` is refused (an alert has no order), and
    the last word counts as finished: "gan" must not alert on "ganglion".
    """
    text = text.strip()
    if len(text) > MAX_ALERT_CHARS:
        raise UserError(f"That alert is {len(text):,} characters; use at most {MAX_ALERT_CHARS}.")
    try:
        query = parse_query(text)
    except QueryError as exc:
        raise UserError(str(exc).replace("/search ", "/alert add ")) from None
    if _SORT_RE.search(text):
        raise UserError("sort: does not apply to an alert: it posts every new match. Leave it out.")
    return replace(query, prefix_last=False, sort="relevance")


def is_alert_period(period: str) -> bool:
    """Whether an outbox row of this period is an alert message (not a digest)."""
    return period.startswith(ALERT_PERIOD_PREFIX)


# the /alert command ---------------------------------------------------------------


async def alert_command(storage: Storage, cmd: Command) -> Reply:
    """Run ``/alert [list | add <query> | remove <n>]`` (admin checks: the catalogue)."""
    action, _, rest = cmd.args.strip().partition(" ")
    action = action.casefold()
    rest = rest.strip()
    if action in {"", "list"}:
        if rest:
            raise UserError(f"/alert list takes nothing after it. {USAGE}")
        return await _list(storage, cmd.channel)
    if action == "add":
        if not rest:
            raise UserError('Give the query to watch for, e.g. /alert add "diffusion model" -video')
        return await _add(storage, cmd, rest)
    if action in {"remove", "delete", "rm"}:
        return await _remove(storage, cmd.channel, rest)
    raise UserError(f"Unknown /alert action {shorten(action, 20)!r}. {USAGE}")


async def _subscription(storage: Storage, channel: str) -> Subscription:
    sub = await storage.get_subscription(channel)
    if sub is None:
        raise UserError(NOT_SUBSCRIBED)
    return sub


async def _list(storage: Storage, channel: str) -> Reply:
    sub = await storage.get_subscription(channel)
    if sub is None:
        return Reply(text=NOT_SUBSCRIBED)
    alerts = await storage.list_alerts(channel)
    if not alerts:
        return Reply(
            text="This channel has no alerts. An admin can add one: /alert add <query>,"
            ' e.g. /alert add "speculative decoding"'
        )
    lines = [f"{number}. {alert.query}" for number, alert in enumerate(alerts, 1)]
    return Reply(
        title=f"Alerts of this channel ({len(alerts)} of at most {MAX_ALERTS})",
        text="\n".join(lines),
        footer=f"New matching papers are posted at most every {_minutes(sub.alert_every)}"
        " (/settings alert_every) · remove one with /alert remove <number>",
    )


async def _add(storage: Storage, cmd: Command, text: str) -> Reply:
    sub = await _subscription(storage, cmd.channel)
    query = alert_query(text)
    alerts = await storage.list_alerts(cmd.channel)
    for number, alert in enumerate(alerts, 1):
        # The same search written differently ("LLM" and "llm") is the same alert.
        if alert.query == text or _queries([alert]).get(alert.id) == query:
            raise UserError(f"This channel already has that alert (number {number}).")
    if len(alerts) >= MAX_ALERTS:
        raise UserError(
            f"This channel has {MAX_ALERTS} alerts, the most it may have."
            " Remove one first (/alert remove <number>)."
        )
    latest = [paper.key for paper in await storage.latest_papers(BROAD_SAMPLE)]
    hits = len(await storage.matching_keys(query, latest))
    if hits >= BROAD_MIN_MATCHES and hits > BROAD_SHARE * len(latest):
        raise UserError(
            f"“{shorten(text, 60)}” is too broad for an alert: it matches {hits} of the"
            f" {len(latest)} newest papers, so it would post most new papers."
            ' Add words, a "phrase" or -exclusions.'
        )
    if await storage.add_alert(cmd.channel, text, cmd.user) is None:
        raise UserError("That alert was not added: the channel's subscription just changed.")
    paused = " The subscription is paused; alerts resume with it." if sub.paused else ""
    share = f" It matches {hits} of the {len(latest)} newest papers." if latest else ""
    return Reply(
        title=f"Alert {len(alerts) + 1} added: “{shorten(text, 80)}”",
        text=f"Papers new to the library that match it are posted here, at most one alert"
        f" message every {_minutes(sub.alert_every)}, never a paper this channel already"
        f" received.{share}{paused}",
        footer="See them with /alert list; stop one with /alert remove <number>",
    )


async def _remove(storage: Storage, channel: str, number_text: str) -> Reply:
    await _subscription(storage, channel)
    alerts = await storage.list_alerts(channel)
    if not alerts:
        raise UserError("This channel has no alerts to remove.")
    if not number_text.isdigit() or not 1 <= int(number_text) <= len(alerts):
        shown = shorten(number_text, 20) or "nothing"
        raise UserError(
            f"Give the number of the alert to remove, 1 to {len(alerts)} (not {shown});"
            " see /alert list."
        )
    alert = alerts[int(number_text) - 1]
    if not await storage.delete_alert(alert.id):
        raise UserError("That alert was already removed; see /alert list.")
    return Reply(text=f"Removed alert {number_text}: “{shorten(alert.query, 80)}”.")


def _minutes(count: int) -> str:
    return "minute" if count == 1 else f"{count} minutes"


# matching and queueing --------------------------------------------------------------


def _queries(alerts: list[Alert]) -> dict[int, SearchQuery]:
    """Each alert's parsed query; one stored before a rule change that now fails is skipped."""
    parsed = {}
    for alert in alerts:
        try:
            parsed[alert.id] = alert_query(alert.query)
        except UserError as exc:
            log.warning("alert %d (%r) cannot run: %s", alert.id, alert.query, exc)
    return parsed


async def match_new_papers(storage: Storage) -> int:
    """Match every queued new paper against every alert; returns the matches recorded."""
    recorded = 0
    while keys := await storage.alert_candidates(MATCH_BATCH):
        queries = _queries(await storage.list_alerts())
        # Identical queries of several channels are matched once.
        by_text: dict[SearchQuery, list[int]] = defaultdict(list)
        for alert_id, query in queries.items():
            by_text[query].append(alert_id)
        matches: list[tuple[int, str]] = []
        for query, alert_ids in by_text.items():
            for key in sorted(await storage.matching_keys(query, keys)):
                matches.extend((alert_id, key) for alert_id in alert_ids)
        recorded += await storage.save_alert_matches(matches, keys)
        if len(keys) < MATCH_BATCH:
            break
    if recorded:
        log.info("alerts: %d new matches", recorded)
    return recorded


async def queue_alert_messages(storage: Storage, now: datetime) -> int:
    """Turn pending matches into alert messages in the outbox; returns how many were queued.

    A channel gets one when its last alert message is ``alert_every`` minutes
    old (or it never had one), holding at most ``MAX_ALERT_PAPERS`` papers
    it has not received yet; further matches wait for its next one.
    """
    by_sub: dict[int, list[AlertMatch]] = defaultdict(list)
    for match in await storage.pending_alert_matches():
        by_sub[match.subscription_id].append(match)
    queued = 0
    for sub_id, matches in by_sub.items():
        channel = matches[0].channel
        sub = await storage.get_subscription(channel)
        if sub is None:
            continue
        last = await storage.last_alert_at(sub_id)
        if last is not None and now < last + timedelta(minutes=sub.alert_every):
            continue
        keys = list(dict.fromkeys(match.paper_key for match in matches))
        received = await received_keys(storage, channel, keys)
        fresh = [key for key in keys if key not in received]
        chosen = fresh[:MAX_ALERT_PAPERS]
        taken = [key for key in keys if key in received or key in chosen]
        period = f"{ALERT_PERIOD_PREFIX}{now.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        if await storage.queue_alert_message(sub_id, channel, period, now, chosen, taken):
            queued += 1
            log.info("queued alert message of %d papers for %s", len(chosen), channel)
    return queued


# the message -------------------------------------------------------------------------


async def alert_reply(storage: Storage, delivery: Delivery) -> Reply:
    """The body of an alert message: which of the channel's alerts matched, and the papers."""
    papers = await storage.get_papers(delivery.paper_keys)
    keys = [paper.key for paper in papers]
    lines = []
    named: set[str] = set()
    alerts = await storage.list_alerts(delivery.channel)
    for alert_id, query in _queries(alerts).items():
        hits = await storage.matching_keys(query, keys)
        if hits:
            named |= hits
            text = next(alert.query for alert in alerts if alert.id == alert_id)
            numbers = ", ".join(str(rank) for rank, key in enumerate(keys, 1) if key in hits)
            lines.append(f"“{shorten(text, 80)}”: {numbers}")
    if len(named) < len(keys):
        lines.append("(the others matched an alert removed since)")
    count = "a new paper" if len(papers) == 1 else f"{len(papers)} new papers"
    return Reply(
        title=f"Alert: {count} matching this channel's alerts",
        text="\n".join(lines),
        cards=tuple(paper_card(paper, rank) for rank, paper in enumerate(papers, 1)),
        footer="Instant alert · /alert list to see or change them,"
        " /settings alert_every to space them",
    )


async def alerts_overview(storage: Storage, sub: Subscription, now: datetime) -> str:
    """What ``/preview`` says about the channel's alerts and the matches waiting."""
    alerts = await storage.list_alerts(sub.channel)
    if not alerts:
        return "Alerts: none (an admin can add one with /alert add <query>)."
    names = ", ".join(f"“{shorten(alert.query, 40)}”" for alert in alerts)
    own = {alert.id for alert in alerts}
    waiting = {m.paper_key for m in await storage.pending_alert_matches() if m.alert_id in own}
    text = f"Alerts ({len(alerts)}): {names}."
    if sub.paused:
        return text + " Paused with the subscription."
    if not waiting:
        return text + " No matching paper is waiting."
    sub_id = await storage.subscription_id(sub.channel)
    last = await storage.last_alert_at(sub_id) if sub_id is not None else None
    at = now if last is None else max(now, last + timedelta(minutes=sub.alert_every))
    when = "within a minute" if at <= now else f"at {at.strftime('%H:%M')} UTC"
    papers = (
        "1 matching paper waits" if len(waiting) == 1 else f"{len(waiting)} matching papers wait"
    )
    return f"{text} {papers} for the next alert message, {when}."
