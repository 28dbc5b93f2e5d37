"""Instant keyword alerts (bot/alerts.py) on every storage backend.

The /alert command through the real router, matching through the storage's own
search matching, batching per ``alert_every`` on an injected clock, the outbox
and its worker, a restart in between, and papers from the arXiv and Hugging
Face fakes through the real ingest functions.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot import status, transfer
from bot.alerts import MAX_ALERTS, match_new_papers, queue_alert_messages
from bot.commands import CommandRouter
from bot.config import Settings
from bot.digest import Candidates, plan_digest
from bot.ingest import ingest_arxiv, ingest_days
from bot.jobs import Jobs
from bot.models import Paper, Reply, Subscription
from bot.ports.storage import Storage
from bot.sources.arxiv import ArxivSource
from bot.sources.huggingface import HuggingFaceSource
from tests.fakes.arxiv import FakeArxiv, weekday_papers
from tests.fakes.huggingface import FakeHuggingFace, make_item
from tests.postgres import Backend
from tests.support import FakeClock, RecordingAdapter, command, deliver_all, make_paper

CHANNEL = "test:1"
OTHER = "test:2"
# Export files name real platforms.
TG_CHANNEL = "telegram:-1001234567890"
TG_OTHER = "telegram:-1009999999999"
DAY = date(2026, 3, 9)


async def run(router: CommandRouter, text: str, *, admin: bool = True, channel: str = CHANNEL):
    name, _, args = text.lstrip("/").partition(" ")
    return await router(command(name, args, admin=admin, channel=channel))


def said(reply: Reply) -> str:
    return "\n".join(part for part in (reply.title or "", reply.text, reply.footer or "") if part)


async def new_papers(store: Storage, *papers: Paper) -> None:
    """Store ``papers`` as an ingest does: queued for the alerts first, then matched."""
    await store.queue_alert_candidates([p.key for p in papers])
    await store.upsert_papers(papers)
    await match_new_papers(store)


@pytest.fixture
async def subscribed(store: Storage) -> Storage:
    await store.save_subscription(Subscription(channel=CHANNEL))
    return store


@pytest.fixture
def jobs(store: Storage, adapter: RecordingAdapter, clock: FakeClock) -> Jobs:
    return Jobs(Settings(), store, [adapter], source=None, clock=clock)


async def send_due(jobs: Jobs, store: Storage, clock: FakeClock) -> None:
    """One scheduler tick (it queues due alert messages) and every ready row sent."""
    await jobs.tick()
    await deliver_all(jobs, store, clock)


def titles(adapter: RecordingAdapter) -> list[list[str]]:
    return [[card.title for card in post.body.cards] for _, post in adapter.sent]


# the /alert command ------------------------------------------------------------------


async def test_add_list_remove(router: CommandRouter, subscribed: Storage) -> None:
    added = await run(router, '/alert add "diffusion model" -video author:Hinton')
    assert not added.is_error and "Alert 1 added" in said(added)
    await run(router, "/alert add speculative decoding")
    listed = await run(router, "/alert list", admin=False)
    assert listed.text == ('1. "diffusion model" -video author:Hinton\n2. speculative decoding')
    assert "every 10 minutes" in said(listed)
    assert (await run(router, "/alert", admin=False)).text == listed.text
    removed = await run(router, "/alert remove 1")
    assert not removed.is_error and "diffusion model" in removed.text
    assert [a.query for a in await subscribed.list_alerts(CHANNEL)] == ["speculative decoding"]


async def test_changes_are_for_admins_and_viewing_for_anyone(
    router: CommandRouter, subscribed: Storage
) -> None:
    refused = await run(router, "/alert add diffusion", admin=False)
    assert refused.is_error and refused.text == "Only admins of this chat can add or remove alerts."
    await run(router, "/alert add diffusion")
    refused = await run(router, "/alert remove 1", admin=False)
    assert refused.is_error and len(await subscribed.list_alerts(CHANNEL)) == 1
    assert not (await run(router, "/alert list", admin=False)).is_error


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("/alert add", "Give the query to watch for"),
        ("/alert add -video", "Exclusions alone match nothing"),
        ("/alert add since:2025-01-01", "since: and sort: only narrow"),
        ("/alert add diffusion sort:recent", "sort: does not apply to an alert"),
        ("/alert add llm since:2025-13-45", "is not a date"),
        ("/alert add !!!", "has no letters or digits"),
        ("/alert add " + "word " * 60, "use at most 200"),
        ("/alert remove", "Give the number of the alert to remove, 1 to 1"),
        ("/alert remove 7", "1 to 1 (not 7)"),
        ("/alert remove two", "1 to 1 (not two)"),
        ("/alert frobnicate", "Unknown /alert action 'frobnicate'"),
        ("/alert list everything", "/alert list takes nothing after it"),
        ("/alert add kept", "already has that alert (number 1)"),
        ("/alert add  KEPT ", "already has that alert (number 1)"),
    ],
)
async def test_malformed_commands_get_clear_replies(
    router: CommandRouter, subscribed: Storage, text: str, reply: str
) -> None:
    await run(router, "/alert add kept")
    answer = await run(router, text)
    assert answer.is_error and reply in answer.text
    assert "e.g. /search" not in answer.text
    assert [a.query for a in await subscribed.list_alerts(CHANNEL)] == ["kept"]


async def test_alerts_belong_to_the_subscription(router: CommandRouter, store: Storage) -> None:
    refused = await run(router, "/alert add diffusion")
    assert refused.is_error and "/subscribe first" in refused.text
    assert "/subscribe first" in (await run(router, "/alert list")).text
    await run(router, "/subscribe")
    await run(router, "/alert add diffusion")
    await run(router, "/alert add transformers")
    bye = await run(router, "/unsubscribe")
    assert "Its 2 alert(s) are removed too." in bye.text
    await run(router, "/subscribe")
    assert await store.list_alerts(CHANNEL) == []


async def test_count_per_channel_is_capped(router: CommandRouter, subscribed: Storage) -> None:
    for n in range(MAX_ALERTS):
        assert not (await run(router, f"/alert add topic{n}")).is_error
    over = await run(router, "/alert add one more")
    assert over.is_error and f"has {MAX_ALERTS} alerts" in over.text
    assert len(await subscribed.list_alerts(CHANNEL)) == MAX_ALERTS


async def test_a_query_matching_most_new_papers_is_refused_as_too_broad(
    router: CommandRouter, subscribed: Storage
) -> None:
    await subscribed.upsert_papers(
        make_paper(f"2603.{n:05d}", f"Language model study {n}", day=DAY) for n in range(150)
    )
    broad = await run(router, "/alert add language model")
    assert broad.is_error and "too broad" in broad.text and "150 of the 150" in broad.text
    narrow = await run(router, '/alert add "study 7"')
    assert not narrow.is_error and "matches 1 of the 150 newest" in narrow.text


async def test_in_a_small_library_a_real_topic_is_kept_and_a_catch_all_refused(
    router: CommandRouter, subscribed: Storage
) -> None:
    """The demo's library has 79 papers: a topic matching a few of them is an alert,
    a query matching nearly all of them ("a") is not."""
    await subscribed.upsert_papers(
        make_paper(f"2603.{n:05d}", f"A {'diffusion' if n < 8 else 'graph'} study {n}", day=DAY)
        for n in range(40)
    )
    topic = await run(router, "/alert add diffusion")
    assert not topic.is_error and "matches 8 of the 40 newest" in topic.text
    catch_all = await run(router, "/alert add a")
    assert catch_all.is_error and "too broad" in catch_all.text and "40 of the 40" in catch_all.text


async def test_alert_every_is_a_setting(router: CommandRouter, subscribed: Storage) -> None:
    changed = await run(router, "/settings alert_every 30")
    assert "alert_every: 30 min" in changed.text
    sub = await subscribed.get_subscription(CHANNEL)
    assert sub is not None and sub.alert_every == 30
    for bad in ("0", "1441", "soon"):
        refused = await run(router, f"/settings alert_every {bad}")
        assert refused.is_error
        assert "alert_every takes a whole number from 1 to 1440" in refused.text


# matching and messages -----------------------------------------------------------------


async def test_a_matching_new_paper_becomes_one_message(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    await run(router, '/alert add "diffusion model"')
    await run(router, "/alert add author:Hopper")
    await new_papers(
        subscribed,
        make_paper("2603.00001", "A diffusion model for proteins", day=DAY),
        make_paper("2603.00002", "Diffusion of innovations, a model", day=DAY),  # not the phrase
        make_paper("2603.00003", "Compilers", day=DAY, authors=("Grace Hopper",)),
    )
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["A diffusion model for proteins", "Compilers"]]
    [(channel, post)] = adapter.sent
    assert channel == CHANNEL
    assert post.body.title == "Alert: 2 new papers matching this channel's alerts"
    assert post.body.text == '“"diffusion model"”: 1\n“author:Hopper”: 2'
    # Sent once: later ticks, and the same papers stored again, post nothing more.
    await new_papers(subscribed, make_paper("2603.00001", "A diffusion model for proteins"))
    clock.advance(hours=1)
    await send_due(jobs, subscribed, clock)
    assert len(adapter.sent) == 1
    last = await subscribed.last_delivery(CHANNEL)
    assert last is not None and last.state == "sent" and last.period.startswith("alert ")
    assert await subscribed.alert_messages_sent() == {CHANNEL: 1}
    [(_, _, counts)] = await status.collect(subscribed)
    assert str(counts) == "2 (0 pending, 1 sent)"
    assert "2 (0 pending, 1 sent)" in status.as_table(await status.collect(subscribed))


async def test_matches_within_the_window_are_batched(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    await run(router, "/alert add diffusion")
    await new_papers(subscribed, make_paper("2603.00001", "Diffusion one", day=DAY))
    await send_due(jobs, subscribed, clock)
    clock.advance(minutes=2)
    await new_papers(subscribed, make_paper("2603.00002", "Diffusion two", day=DAY))
    await send_due(jobs, subscribed, clock)
    clock.advance(minutes=3)
    await new_papers(subscribed, make_paper("2603.00003", "Diffusion three", day=DAY))
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["Diffusion one"]]  # the window of 10 minutes is not over
    clock.advance(minutes=5)
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["Diffusion one"], ["Diffusion two", "Diffusion three"]]


async def test_a_restart_in_between_still_sends_once(
    backend: Backend, router: CommandRouter, store: Storage, clock: FakeClock
) -> None:
    await store.save_subscription(Subscription(channel=CHANNEL))
    await run(router, "/alert add diffusion")
    # The ingest queued and stored the papers, then the process died before matching.
    await store.queue_alert_candidates(["2603.00001", "2603.00002"])
    await store.upsert_papers(
        [
            make_paper("2603.00001", "Diffusion one", day=DAY),
            make_paper("2603.00002", "Diffusion two", day=DAY),
        ]
    )
    await store.close()
    for _ in range(2):  # two restarts: matched and queued by the first, nothing by the second
        reopened = await backend.open()
        adapter = RecordingAdapter()
        jobs = Jobs(Settings(), reopened, [adapter], source=None, clock=clock)
        try:
            await send_due(jobs, reopened, clock)
        finally:
            await reopened.close()
        clock.advance(hours=1)
        if _ == 0:
            assert titles(adapter) == [["Diffusion one", "Diffusion two"]]
        else:
            assert adapter.sent == []
    reopened = await backend.open()
    try:
        assert await reopened.pending_alert_matches() == []
    finally:
        await reopened.close()


async def test_a_restart_while_queued_sends_the_message_once(
    backend: Backend, router: CommandRouter, store: Storage, clock: FakeClock
) -> None:
    await store.save_subscription(Subscription(channel=CHANNEL))
    await run(router, "/alert add diffusion")
    await new_papers(store, make_paper("2603.00001", "Diffusion one", day=DAY))
    assert await queue_alert_messages(store, clock.now()) == 1
    await store.close()  # the process stops before sending
    reopened = await backend.open()
    try:
        adapter = RecordingAdapter()
        jobs = Jobs(Settings(), reopened, [adapter], source=None, clock=clock)
        await send_due(jobs, reopened, clock)
        clock.advance(minutes=30)
        await send_due(jobs, reopened, clock)
        assert titles(adapter) == [["Diffusion one"]]
    finally:
        await reopened.close()


async def test_a_paper_already_received_by_digest_is_not_alerted(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    sub_id = await subscribed.subscription_id(CHANNEL)
    assert sub_id is not None
    await run(router, "/alert add diffusion")
    await subscribed.upsert_papers([make_paper("2603.00001", "Diffusion in digest", day=DAY)])
    digest = await subscribed.create_delivery(
        sub_id, CHANNEL, "2026-03-09", clock.now(), ["2603.00001"]
    )
    assert digest is not None
    await subscribed.finish_delivery(digest, "sent")
    # Queued as new before the digest went out, matched only after it did.
    await subscribed.queue_alert_candidates(["2603.00002"])
    await subscribed.upsert_papers([make_paper("2603.00002", "Diffusion fresh", day=DAY)])
    await subscribed.save_alert_matches([(1, "2603.00001")], [])  # a stale match
    await match_new_papers(subscribed)
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["Diffusion fresh"]]


async def test_a_paper_is_alerted_to_each_channel_once_whatever_matched_it(
    router: CommandRouter, store: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    for channel in (CHANNEL, OTHER):
        await store.save_subscription(Subscription(channel=channel))
    await run(router, "/alert add diffusion")
    await run(router, "/alert add proteins")
    await run(router, "/alert add diffusion", channel=OTHER)
    await new_papers(store, make_paper("2603.00001", "Diffusion for proteins", day=DAY))
    await send_due(jobs, store, clock)
    assert sorted((channel, len(post.body.cards)) for channel, post in adapter.sent) == [
        (CHANNEL, 1),
        (OTHER, 1),
    ]
    mine = next(post for channel, post in adapter.sent if channel == CHANNEL)
    assert mine.body.text == "“diffusion”: 1\n“proteins”: 1"


async def test_only_papers_new_to_the_library_are_alerted(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    await subscribed.upsert_papers([make_paper("2603.00001", "Diffusion known", day=DAY)])
    await run(router, "/alert add diffusion")
    # An upvote refresh of a known paper and a new paper in one ingest.
    await new_papers(
        subscribed,
        replace(make_paper("2603.00001", "Diffusion known", day=DAY), upvotes=99),
        make_paper("2603.00002", "Diffusion new", day=DAY),
    )
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["Diffusion new"]]


async def test_paused_channels_keep_their_matches_until_resumed(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    await run(router, "/alert add diffusion")
    await subscribed.pause_subscription(CHANNEL, "bot was kicked")
    await new_papers(subscribed, make_paper("2603.00001", "Diffusion one", day=DAY))
    await send_due(jobs, subscribed, clock)
    assert adapter.sent == []
    preview = await run(router, "/preview")
    assert "Paused with the subscription" in preview.text
    await run(router, "/subscribe")
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["Diffusion one"]]


async def test_preview_shows_alerts_and_what_waits(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    assert "Alerts: none" in (await run(router, "/preview")).text
    await run(router, "/alert add diffusion")
    await new_papers(subscribed, make_paper("2603.00001", "Diffusion one", day=DAY))
    await send_due(jobs, subscribed, clock)
    await new_papers(subscribed, make_paper("2603.00002", "Diffusion two", day=DAY))
    text = (await run(router, "/preview", admin=False)).text
    assert "Alerts (1): “diffusion”." in text
    expected = (clock.now() + timedelta(minutes=10)).strftime("%H:%M")
    assert f"1 matching paper waits for the next alert message, at {expected} UTC" in text


async def test_each_message_holds_at_most_ten_papers_and_the_rest_follow(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    await run(router, "/alert add diffusion")
    await new_papers(
        subscribed,
        *(make_paper(f"2603.{n:05d}", f"Diffusion {n:02d}", day=DAY) for n in range(13)),
    )
    await send_due(jobs, subscribed, clock)
    clock.advance(minutes=10)
    await send_due(jobs, subscribed, clock)
    assert [len(cards) for cards in titles(adapter)] == [10, 3]
    assert len({t for cards in titles(adapter) for t in cards}) == 13


# from the sources' fakes, through the real ingest -----------------------------------------


async def test_alert_from_an_arxiv_ingest(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    await run(router, '/alert add "sparse attention"')
    await run(router, "/alert add tokenizers -image")
    async with FakeArxiv(time_scale=0.01) as fake:
        fake.announce(date(2026, 3, 10), weekday_papers())
        source = ArxivSource(fake.endpoint, fake.endpoint, min_interval=0.03, backoff=0.01)
        async with aclosing(source):
            await ingest_arxiv(subscribed, source, ["cs.CL", "cs.LG"])
        assert fake.violations == []
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [
        ["Sparse Attention for Long Documents", "Multilingual Tokenizers Revisited"]
    ]


async def test_alert_from_a_hugging_face_ingest(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter,
    hf: FakeHuggingFace,
) -> None:  # fmt: skip
    await run(router, "/alert add robot")
    hf.add_papers(
        DAY,
        [
            make_item("2603.00001", "Robot arms that learn", day=DAY, upvotes=5),
            make_item("2603.00002", "Cooking with language models", day=DAY, upvotes=9),
        ],
    )
    async with HuggingFaceSource(hf.endpoint) as source:
        await ingest_days(subscribed, source, [DAY])
        hf.set_upvotes("2603.00001", 50)  # a refresh later: not new, not alerted again
        await ingest_days(subscribed, source, [DAY])
    await send_due(jobs, subscribed, clock)
    clock.advance(hours=1)
    await send_due(jobs, subscribed, clock)
    assert titles(adapter) == [["Robot arms that learn"]]


async def test_alerts_follow_a_moved_channel_and_merge_into_a_subscribed_one(
    router: CommandRouter, store: Storage
) -> None:
    await store.save_subscription(Subscription(channel=CHANNEL))
    await run(router, "/alert add diffusion")
    await store.move_subscription(CHANNEL, "test:3")
    assert [(a.channel, a.query) for a in await store.list_alerts()] == [("test:3", "diffusion")]
    await store.save_subscription(Subscription(channel=OTHER))
    await run(router, "/alert add diffusion", channel=OTHER)
    await run(router, "/alert add proteins", channel="test:3")
    await store.move_subscription("test:3", OTHER)
    assert sorted(a.query for a in await store.list_alerts(OTHER)) == ["diffusion", "proteins"]


async def test_export_and_import_carry_the_alerts(router: CommandRouter, store: Storage) -> None:
    await store.save_subscription(Subscription(channel=TG_CHANNEL, alert_every=25))
    await run(router, '/alert add "diffusion model" -video', channel=TG_CHANNEL)
    await run(router, "/alert add author:Hopper", channel=TG_CHANNEL)
    alerts = {TG_CHANNEL: [a.query for a in await store.list_alerts(TG_CHANNEL)]}
    text = transfer.export_document(await store.list_subscriptions(), alerts)
    [row] = json.loads(text)["subscriptions"]
    assert row["alerts"] == ['"diffusion model" -video', "author:Hopper"]
    assert row["alert_every"] == 25
    # Into another channel's place: edited, then imported twice.
    edited = text.replace(TG_CHANNEL, TG_OTHER).replace("author:Hopper", "proteins")
    subs = transfer.parse_document(edited)
    wanted = transfer.document_alerts(edited)
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert await transfer.import_subscriptions(store, subs, now, wanted) == (
        transfer.ImportSummary(1, 0, 0)
    )
    assert [a.query for a in await store.list_alerts(TG_OTHER)] == [
        '"diffusion model" -video',
        "proteins",
    ]
    again = await transfer.import_subscriptions(store, subs, now, wanted)
    assert again == transfer.ImportSummary(0, 0, 1)
    imported = await store.get_subscription(TG_OTHER)
    assert imported is not None and imported.alert_every == 25


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        ('"alerts": "diffusion"', "alerts: expected a list of search queries"),
        ('"alerts": ["-video"]', "alerts: Exclusions alone match nothing"),
        ('"alerts": ["a", "a"]', "alerts: an alert appears twice"),
        ('"alerts": ["x sort:recent"]', "alerts: sort: does not apply"),
    ],
)
def test_import_refuses_bad_alerts_at_their_line(alerts: str, problem: str) -> None:
    text = (
        '{"format": "paperbot-subscriptions", "version": 1, "subscriptions": [\n'
        '{"channel": "telegram:1", "time": "09:00", "timezone": "UTC",\n'
        f"{alerts}}}\n]}}\n"
    )
    with pytest.raises(transfer.InvalidFile) as info:
        transfer.parse_document(text)
    [found] = info.value.problems
    assert found.line == 3 and problem in found.message


async def test_a_paper_on_its_way_in_a_digest_or_an_alert_is_not_queued_twice(
    router: CommandRouter, subscribed: Storage, jobs: Jobs, clock: FakeClock, adapter
) -> None:
    sub_id = await subscribed.subscription_id(CHANNEL)
    assert sub_id is not None
    await run(router, "/alert add diffusion")
    # A digest holding 2603.00001 is queued but not sent when the alert matches it.
    await new_papers(subscribed, make_paper("2603.00001", "Diffusion one", day=DAY))
    await subscribed.create_delivery(sub_id, CHANNEL, "2026-03-09", clock.now(), ["2603.00001"])
    assert await queue_alert_messages(subscribed, clock.now()) == 0
    # An alert message holding 2603.00002 is queued when the digest is planned.
    await new_papers(subscribed, make_paper("2603.00002", "Diffusion two", day=DAY, upvotes=9))
    clock.advance(minutes=1)
    assert await queue_alert_messages(subscribed, clock.now()) == 1
    sub = await subscribed.get_subscription(CHANNEL)
    assert sub is not None
    plan = await plan_digest(subscribed, sub, clock.now(), Candidates(subscribed))
    assert [p.key for p in plan.papers] == []
    assert plan.empty_reason == "nothing new"
    await deliver_all(jobs, subscribed, clock)
    assert sorted(t for cards in titles(adapter) for t in cards) == [
        "Diffusion one",
        "Diffusion two",
    ]
