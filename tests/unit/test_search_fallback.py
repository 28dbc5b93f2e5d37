"""When nothing matches locally, search asks Hugging Face — within 1.5 s, over the wire."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.commands import LOOKUP_TIMEOUT, CommandRouter
from bot.ports.storage import Storage
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import FakeHuggingFace, make_item
from tests.support import FakeClock, command

DAY = date(2026, 3, 6)


@pytest.fixture
def hf(hf: FakeHuggingFace) -> FakeHuggingFace:
    hf.add_papers(DAY, [make_item("2603.04242", "Quokka reasoning at scale", day=DAY)])
    return hf


@pytest.fixture
async def store(store: Storage) -> Storage:
    await store.upsert_papers(load_seed_papers())
    return store


@pytest.fixture
async def source(hf: FakeHuggingFace) -> AsyncIterator[HuggingFaceSource]:
    async with HuggingFaceSource(hf.endpoint, timeout=5.0) as client:
        yield client


async def test_no_local_match_falls_back_and_stores(store, source, hf) -> None:
    router = CommandRouter(store, FakeClock(), lookup=source)
    reply = await router(command("search", "quokka"))
    assert reply.title == "Results for “quokka” from Hugging Face"
    assert "from Hugging Face's search" in reply.text
    assert [c.arxiv_id for c in reply.cards] == ["2603.04242"]
    assert await store.get_paper("2603.04242") is not None
    again = await router(command("search", "quokka"))
    assert again.title == "Results for “quokka”"  # now found locally
    assert hf.count("/api/papers/search") == 1


async def test_local_matches_never_ask_hugging_face(store, source, hf) -> None:
    router = CommandRouter(store, FakeClock(), lookup=source)
    reply = await router(command("search", "transformers"))
    assert reply.cards and hf.count("/api/papers/search") == 0


async def test_slow_hugging_face_is_cut_off_and_then_left_alone(store, source, hf) -> None:
    clock = FakeClock()
    router = CommandRouter(store, clock, lookup=source)
    hf.fail("search", "slow", times=5, delay=5.0)
    started = time.monotonic()
    reply = await router(command("search", "quokka"))
    elapsed = time.monotonic() - started
    assert elapsed < LOOKUP_TIMEOUT + 0.3
    # The reply says Hugging Face is down, not only that nothing matched.
    assert reply.text.startswith(
        "No stored papers match “quokka”, and Hugging Face cannot be reached right now"
    )
    # While cooling down, a miss answers at once without asking again.
    requests = hf.count("/api/papers/search")
    started = time.monotonic()
    cooling = await router(command("search", "quokka"))
    assert "Hugging Face cannot be reached right now" in cooling.text
    assert time.monotonic() - started < 0.5
    assert hf.count("/api/papers/search") == requests
    clock.advance(minutes=3)
    hf.clear_failures()
    recovered = await router(command("search", "quokka"))
    assert recovered.cards


async def test_unreachable_hugging_face_answers_quickly(store) -> None:
    async with HuggingFaceSource("http://127.0.0.1:9") as source:
        router = CommandRouter(store, FakeClock(), lookup=source)
        started = time.monotonic()
        reply = await router(command("search", "quokka"))
    assert time.monotonic() - started < LOOKUP_TIMEOUT + 0.3
    assert reply.text.startswith("No stored papers match “quokka”, and Hugging Face cannot")


async def test_an_empty_library_with_hugging_face_down_says_so(tmp_path: Path) -> None:
    empty = await SqliteStorage.open(tmp_path / "empty.db")
    try:
        async with HuggingFaceSource("http://127.0.0.1:9") as source:
            router = CommandRouter(empty, FakeClock(), lookup=source)
            reply = await router(command("search", "llm"))
    finally:
        await empty.close()
    assert reply.text.startswith(
        "The library is empty, and Hugging Face cannot be reached right now to search it."
    )
