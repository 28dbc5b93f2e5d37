"""The bundled sample daily lists, /preview and the reasons a digest is skipped."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot import status
from bot.commands import CommandRouter
from bot.config import Settings
from bot.jobs import Jobs
from bot.models import Defaults
from bot.ports.storage import Storage
from bot.sources.seeds import DEFAULT_LISTS, load_sample_lists, load_seed_papers, store_seeds
from storage.sqlite import SqliteStorage
from tests.support import FakeClock, RecordingAdapter, command, lease_of

RAW = Path(__file__).resolve().parents[2] / "seeds" / "raw"
LATEST = date(2025, 3, 14)


@pytest.fixture
async def store(store: Storage) -> Storage:
    await store_seeds(store)
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 6, 0, tzinfo=UTC))


def _page_titles(name: str) -> list[str]:
    """Titles in the order the saved page shows them (each title line precedes its abstract)."""
    lines = [line.strip() for line in (RAW / name).read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    return [a for a, b in itertools.pairwise(lines) if len(a) <= 300 < len(b)]


def test_each_bundled_page_is_a_list_in_the_pages_order() -> None:
    papers = load_seed_papers()
    lists = {sample.day: sample.keys for sample in load_sample_lists(papers)}
    by_key = {paper.key: paper.title for paper in papers}
    assert set(lists) == {date(2025, 3, 13), LATEST}
    assert [by_key[k] for k in lists[LATEST]] == _page_titles("000_ec94ac00db083ee9.txt")
    assert [by_key[k] for k in lists[date(2025, 3, 13)]] == _page_titles("004_d829a05bb78067d7.txt")
    with DEFAULT_LISTS.open(encoding="utf-8") as handle:
        assert all(item["page"] for item in json.load(handle))


async def test_today_shows_the_latest_sample_list_ranked_and_labelled(
    router: CommandRouter,
) -> None:
    reply = await router(command("today"))
    assert reply.title == "Sample list of Fri 14 Mar 2025"
    assert "sample data" in reply.text.casefold()
    titles = [card.title for card in reply.cards]
    assert titles == _page_titles("000_ec94ac00db083ee9.txt")[:5]
    assert [card.rank for card in reply.cards] == [1, 2, 3, 4, 5]
    other = await router(command("today", "2025-03-13"))
    assert other.title == "Sample list of Thu 13 Mar 2025"
    assert [c.title for c in other.cards] == _page_titles("004_d829a05bb78067d7.txt")[:5]


async def test_a_paper_in_both_lists_keeps_each_days_rank(store: SqliteStorage) -> None:
    first = await store.papers_featured_between(date(2025, 3, 13), date(2025, 3, 13))
    latest = await store.papers_featured_between(LATEST, LATEST)
    shared = "Understanding and Mitigating the Label Noise in Pre-training on Downstream Tasks"
    assert [p.title for p in first].index(shared) == 2
    assert [p.title for p in latest].index(shared) == 4
    both = await store.papers_featured_between(date(2025, 3, 13), LATEST)
    assert len(both) == len({p.key for p in both})


async def test_preview_shows_the_next_digest_and_why_it_would_be_empty(
    router: CommandRouter, store: SqliteStorage, clock: FakeClock
) -> None:
    unsubscribed = await router(command("preview", admin=False))
    assert "not subscribed" in unsubscribed.text
    await router(command("subscribe", "08:00"))
    preview = await router(command("preview", admin=False))
    assert preview.title == "Preview: Trending papers — 2026-03-10"
    assert "Fri 14 Mar 2025 (sample data)" in preview.text
    assert [c.title for c in preview.cards] == _page_titles("000_ec94ac00db083ee9.txt")[:5]

    await router(command("settings", "include video"))
    filtered = await router(command("preview"))
    assert "include video" in filtered.text
    assert [c.title for c in filtered.cards] == [
        "Robotic Offline RL from Internet Videos via Value-Function Pre-Training",
        "Pre-training Contextualized World Models with In-the-wild Videos"
        " for Reinforcement Learning",
    ]
    await router(command("settings", "include no-such-keyword"))
    nothing = await router(command("preview"))
    assert not nothing.cards and nothing.title is not None and "empty" in nothing.title
    assert "filters leave none" in nothing.text

    # The scheduler posts the same papers the preview showed, then there is nothing new.
    await router(command("settings", "include none"))
    shown = [c.title for c in (await router(command("preview"))).cards]
    adapter = RecordingAdapter()
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=clock)
    clock.set(datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC))
    await jobs.tick()
    worker = jobs.workers[adapter.platform]
    await jobs.roles.renew()  # take the sender role, as a started process does
    for delivery in await store.claim_deliveries(
        adapter.platform, clock.now(), 10, lease_of(worker.owner)
    ):
        await worker.deliver(delivery)
    assert [c.title for c in adapter.sent[0][1].body.cards] == shown
    # The next five of the list are what is new now...
    after = await router(command("preview"))
    assert [c.rank for c in after.cards] == [1, 2, 3, 4, 5]
    assert not set(shown) & {c.title for c in after.cards}
    # ...and once every paper of the list went out, the preview says so.
    sub_id = await store.subscription_id("test:1")
    assert sub_id is not None
    every = [p.key for p in await store.papers_featured_between(LATEST, LATEST)]
    delivery_id = await store.create_delivery(sub_id, "test:1", "all", clock.now(), every)
    assert delivery_id is not None
    await store.finish_delivery(delivery_id, "sent")
    done = await router(command("preview"))
    assert "already posted here" in done.text


async def test_skip_reasons_show_in_settings_and_status(
    router: CommandRouter, store: SqliteStorage, clock: FakeClock
) -> None:
    adapter = RecordingAdapter()
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=clock)
    await router(command("subscribe", "08:00"))
    await router(command("settings", "include no-such-keyword"))
    clock.set(datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC))
    await jobs.tick()
    settings = await router(command("settings"))
    assert "last post: 2026-03-10 — skipped (all filtered out)" in settings.text
    table = status.as_table(await status.collect(store))
    assert "2026-03-10 skipped: all filtered out" in table


async def test_skip_reason_without_any_list(tmp_path: Path, clock: FakeClock) -> None:
    storage = await SqliteStorage.open(tmp_path / "empty.db")
    try:
        router = CommandRouter(storage, clock, Defaults())
        await router(command("subscribe", "08:00"))
        preview = await router(command("preview"))
        assert "no Hugging Face daily list" in preview.text
        jobs = Jobs(Settings(), storage, [RecordingAdapter()], source=None, clock=clock)
        clock.set(datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC))
        await jobs.tick()
        settings = await router(command("settings"))
        assert "skipped (no daily list yet)" in settings.text
    finally:
        await storage.close()
