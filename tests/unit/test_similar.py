"""/similar and the Similar button: the nearest papers by content, paged like search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import SIMILAR_MAX, CommandRouter
from bot.models import Button, Defaults, Reply
from bot.plugins import open_semantic
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage
from tests.support import FakeClock, command


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(tmp_path / "s.db")
    await storage.upsert_papers(load_seed_papers())
    yield storage
    await storage.close()


@pytest.fixture
async def router(store: SqliteStorage) -> CommandRouter:
    semantic = await open_semantic(store, "wordllama")
    assert semantic is not None
    await semantic.embed_missing()
    clock = FakeClock(datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
    return CommandRouter(store, clock, Defaults(), semantic=semantic)


def by_alias(reply: Reply) -> dict[str, Button]:
    return {button.alias: button for button in reply.buttons}


async def test_similar_lists_the_nearest_papers_paged(router: CommandRouter) -> None:
    # 2305.14858 is about layer normalization in Transformers; the seeds' other
    # layer-normalization papers are among its neighbours.
    first = await router(command("similar", "https://arxiv.org/abs/2305.14858"))
    assert first.title is not None
    assert first.title.startswith("Papers similar to “Pre-RMSNorm and Pre-CRMSNorm")
    ids = [card.arxiv_id for card in first.cards]
    assert len(ids) == 5 and "2305.14858" not in ids
    assert {"2412.13795", "2502.05795"} & set(ids)
    buttons = by_alias(first)
    assert "prev" not in buttons and [b.alias for b in first.buttons if b.command == "paper"] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    nxt = buttons["next"]
    second = await router(command(nxt.command, nxt.args))
    assert [card.rank for card in second.cards] == [6, 7, 8, 9, 10]
    assert not {c.arxiv_id for c in second.cards} & set(ids)
    back = by_alias(second)["prev"]
    assert [c.arxiv_id for c in (await router(command(back.command, back.args))).cards] == ids
    assert SIMILAR_MAX >= 10


async def test_paper_details_offer_a_similar_button(router: CommandRouter) -> None:
    detail = await router(command("paper", "2305.14858"))
    similar = by_alias(detail)["similar"]
    assert (similar.command, similar.args) == ("similar", "2305.14858")
    reply = await router(command(similar.command, similar.args))
    assert reply.cards and not reply.is_error


async def test_similar_bad_input_is_one_clear_line(router: CommandRouter) -> None:
    for args, text in [
        ("", "Usage: /similar <arXiv id or URL>"),
        ("nonsense", "is not an arXiv id"),
        ("9999.99999", "I don't know paper 9999.99999 yet."),
    ]:
        reply = await router(command("similar", args))
        assert reply.is_error and text in reply.text, args


async def test_without_an_embedder_similar_says_it_is_off(store: SqliteStorage) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
    router = CommandRouter(store, clock, Defaults())
    reply = await router(command("similar", "2305.14858"))
    assert reply.is_error and "PAPERBOT_EMBEDDER=none" in reply.text
    assert "similar" not in by_alias(await router(command("paper", "2305.14858")))
