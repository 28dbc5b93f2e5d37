"""The platform-neutral command router over a real SQLite store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.commands import CommandRouter
from bot.models import Paper
from bot.paper_refs import paper_key_from
from bot.plugins import open_semantic
from bot.ports.storage import Storage
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage
from tests.support import FakeClock, command, make_paper

DAY = date(2026, 3, 9)


@pytest.fixture
async def store(store: Storage) -> Storage:
    await store.upsert_papers(load_seed_papers())
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 6, 0, tzinfo=UTC))


async def test_help_lists_every_command(router: CommandRouter) -> None:
    reply = await router(command("help"))
    for name in ("today", "search", "paper", "subscribe", "unsubscribe", "settings", "preview"):
        assert f"/{name}" in reply.text
    assert not reply.is_error


async def test_unknown_command_gets_one_line(router: CommandRouter) -> None:
    reply = await router(command("frobnicate", "x"))
    assert reply.is_error and reply.text == "Unknown command /frobnicate. Type /help."


async def test_today_without_daily_lists_falls_back_to_newest(router: CommandRouter) -> None:
    reply = await router(command("today"))
    assert reply.title == "Latest papers in the library"
    assert reply.cards[0].title == "The Curse of Depth in Large Language Models"
    assert len(reply.cards) == 5


async def test_today_ranks_latest_settled_day_by_upvotes(
    router: CommandRouter, store: SqliteStorage, clock: FakeClock
) -> None:
    await store.upsert_papers(
        [
            make_paper("2603.00001", "Low", day=DAY, upvotes=3),
            make_paper("2603.00002", "High", day=DAY, upvotes=40),
            make_paper("2603.00003", "Older", day=DAY - timedelta(days=1), upvotes=99),
            # today (UTC) is still filling up, so it is not "today's papers" yet
            make_paper("2603.00004", "Unsettled", day=clock.now().date(), upvotes=500),
        ]
    )
    reply = await router(command("today"))
    assert [c.title for c in reply.cards] == ["High", "Low"]
    assert "Mon 09 Mar 2026" in (reply.title or "")


async def test_today_with_date(router: CommandRouter, store: SqliteStorage) -> None:
    await store.upsert_papers([make_paper("2603.00003", "Older", day=date(2026, 3, 8))])
    reply = await router(command("today", "2026-03-08"))
    assert [c.title for c in reply.cards] == ["Older"]
    empty = await router(command("today", "2020-01-01"))
    assert empty.text == "No papers stored for 2020-01-01."


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("yesterday", "'yesterday' is not a date like 2025-03-14."),
        ("2025-02-30", "2025-02-30 is not a real date."),
        ("2025-13-01", "2025-13-01 is not a real date."),
    ],
)
async def test_today_rejects_bad_dates(router: CommandRouter, arg: str, message: str) -> None:
    reply = await router(command("today", arg))
    assert reply.is_error and reply.text == message


async def test_search_pages_with_next_and_prev(router: CommandRouter) -> None:
    first = await router(command("search", "pre-training -vision"))
    assert len(first.cards) == 5
    assert all("vision" not in c.title.lower() for c in first.cards)
    aliases = {b.alias: b for b in first.buttons}
    assert "next" in aliases and "prev" not in aliases
    assert [b.alias for b in first.buttons if b.command == "paper"] == ["1", "2", "3", "4", "5"]
    nxt = aliases["next"]
    second = await router(command(nxt.command, nxt.args))
    assert [c.rank for c in second.cards] == [6, 7, 8, 9, 10]
    assert {c.title for c in second.cards}.isdisjoint({c.title for c in first.cards})
    back = {b.alias: b for b in second.buttons}["prev"]
    again = await router(command(back.command, back.args))
    assert [c.title for c in again.cards] == [c.title for c in first.cards]


async def test_button_args_fit_platform_limits(router: CommandRouter) -> None:
    reply = await router(command("search", "language model"))
    for button in reply.buttons:
        encoded = f"{button.command} {button.args}".encode()
        assert len(encoded) <= 64


async def test_expired_search_session(router: CommandRouter, clock: FakeClock) -> None:
    reply = await router(command("search", "transformers"))
    nxt = {b.alias: b for b in reply.buttons}["next"]
    clock.advance(hours=25)
    expired = await router(command(nxt.command, nxt.args))
    assert expired.is_error and expired.text == "This search expired; run it again."
    forged = await router(command("page", "not a key at all"))
    assert forged.is_error and "not valid" in forged.text


async def test_search_with_no_results_and_bad_input(router: CommandRouter) -> None:
    none = await router(command("search", "zzzyzzx"))
    assert none.text.startswith("No papers match “zzzyzzx”")
    usage = await router(command("search"))
    assert usage.is_error and usage.text.startswith("Usage: /search")
    long = await router(command("search", "a" * 10_000))
    assert long.is_error and long.text == "That is 10,000 characters; use at most 1000."
    medium = await router(command("search", "word " * 100))
    assert medium.is_error and "use at most 300" in medium.text


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        "*",
        "NEAR(",
        "AND",
        "(",
        ":",
        "^",
        'a" OR "b',
        "pre\x00training",
        "\x1b[31mred",
        "a:b:c",
    ],
)
async def test_search_survives_fts_syntax(router: CommandRouter, hostile: str) -> None:
    reply = await router(command("search", hostile))
    # Either results, "no papers", or one clear error line: never an internal error.
    assert "went wrong" not in reply.text
    assert "\n" not in reply.text


async def test_paper_by_id_and_url(router: CommandRouter) -> None:
    for arg in (
        "2305.14858",
        "2305.14858v2",
        "https://arxiv.org/abs/2305.14858",
        "https://huggingface.co/papers/2305.14858",
        "arXiv:2305.14858",
    ):
        reply = await router(command("paper", arg))
        assert reply.cards and reply.cards[0].arxiv_id == "2305.14858", arg
    card = (await router(command("paper", "2305.14858"))).cards[0]
    assert "Zixuan Jiang" in card.authors
    assert {link.label for link in card.links} == {"Hugging Face", "arXiv"}
    assert card.summary.startswith("Transformers have achieved great success")


async def test_paper_unknown_and_malformed(router: CommandRouter) -> None:
    unknown = await router(command("paper", "9999.99999"))
    assert unknown.is_error and unknown.text == "I don't know paper 9999.99999 yet."
    bad = await router(command("paper", "not-an-id"))
    assert bad.is_error and "is not an arXiv id" in bad.text


async def test_paper_without_arxiv_id_reachable_by_detail_button(router: CommandRouter) -> None:
    reply = await router(command("search", "Journey Matters"))
    button = next(b for b in reply.buttons if b.command == "paper")
    assert button.args.startswith("t:")
    detail = await router(command(button.command, button.args))
    assert detail.cards[0].title.startswith("The Journey Matters")


async def test_paper_live_lookup_is_stored_and_bounded(store: SqliteStorage, clock) -> None:
    class Lookup:
        calls = 0

        async def fetch_paper(self, arxiv_id: str) -> Paper | None:
            Lookup.calls += 1
            return make_paper(arxiv_id, "Fetched live", day=DAY)

    router = CommandRouter(store, clock, lookup=Lookup())  # type: ignore[arg-type]  # no search
    reply = await router(command("paper", "2603.12345"))
    assert reply.cards[0].title == "Fetched live"
    assert await store.get_paper("2603.12345") is not None

    class Broken:
        async def fetch_paper(self, arxiv_id: str) -> Paper | None:
            raise ConnectionError("down")

    router = CommandRouter(store, clock, lookup=Broken())  # type: ignore[arg-type]  # no search
    broken = await router(command("paper", "2603.99999"))
    assert broken.is_error and broken.text.startswith("I don't know paper 2603.99999 yet")
    assert "Hugging Face cannot be reached right now" in broken.text


async def test_subscribe_is_admin_only(router: CommandRouter, store: SqliteStorage) -> None:
    for name in ("subscribe", "unsubscribe"):
        reply = await router(command(name, admin=False))
        assert reply.is_error and reply.text.startswith("Only admins of this chat can")
    assert await store.get_subscription("test:1") is None


async def test_subscribe_settings_unsubscribe_flow(
    router: CommandRouter, store: SqliteStorage
) -> None:
    reply = await router(command("subscribe", "09:00 Europe/Berlin"))
    assert reply.title == "Subscribed: daily digest at 09:00 Europe/Berlin (every day)"
    # 2026-03-10 06:00 UTC is 07:00 in Berlin: the next post is today at 09:00 CET.
    assert "next post: Tue 10 Mar 2026, 09:00 CET" in reply.text
    sub = await store.get_subscription("test:1")
    assert sub is not None and sub.next_run_at == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)

    again = await router(command("subscribe", "Asia/Tokyo 07:30"))
    assert again.title is not None and again.title.startswith("Updated: daily digest at 07:30")

    shown = await router(command("settings", admin=False))
    assert "timezone: Asia/Tokyo" in shown.text and "next post:" in shown.text

    refused = await router(command("settings", "top 3", admin=False))
    assert refused.is_error and "Only admins" in refused.text

    changed = await router(command("settings", "top 3"))
    assert "top: 3" in changed.text
    days = await router(command("settings", "days mon-fri"))
    assert "days: Mon–Fri" in days.text
    include = await router(command("settings", "include diffusion, LLM"))
    assert "include: diffusion, llm" in include.text
    bad = await router(command("settings", "top 99"))
    assert bad.is_error and bad.text == "top takes a whole number from 1 to 10."
    unknown = await router(command("settings", "colour blue"))
    assert unknown.is_error and unknown.text.startswith("Unknown setting 'colour'")

    gone = await router(command("unsubscribe"))
    assert gone.text.startswith("Unsubscribed")
    assert (await router(command("unsubscribe"))).text == "This channel is not subscribed."
    assert (await router(command("settings"))).text.startswith("This channel is not subscribed")


async def test_subscribe_keeps_what_it_is_not_given(
    router: CommandRouter, store: SqliteStorage
) -> None:
    await router(command("subscribe", "10:30 Asia/Tokyo"))
    moved = await router(command("subscribe", "11:00"))
    assert moved.title is not None and "at 11:00 Asia/Tokyo" in moved.title
    zoned = await router(command("subscribe", "europe/berlin"))
    assert zoned.title is not None and "at 11:00 Europe/Berlin" in zoned.title
    await store.pause_subscription("test:1", "blocked")
    resumed = await router(command("subscribe"))
    assert resumed.title is not None and "at 11:00 Europe/Berlin" in resumed.title
    sub = await store.get_subscription("test:1")
    assert sub is not None and not sub.paused
    assert (sub.post_time.hour, sub.post_time.minute, sub.timezone) == (11, 0, "Europe/Berlin")
    two = await router(command("subscribe", "07:00 07:30"))
    assert two.is_error and two.text.startswith("Give one time, not two.")


async def test_settings_echo_the_canonical_key(router: CommandRouter) -> None:
    await router(command("subscribe"))
    for typed, key in (("min-upvotes 3", "min_upvotes"), ("tz utc", "timezone")):
        reply = await router(command("settings", typed))
        assert reply.title is not None and reply.title.startswith(f"Updated {key}. ")
    await router(command("settings", "cadence weekly"))
    weekly = await router(command("settings", "days thu"))
    assert "days: weekly on Thursdays" in weekly.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("25:00", "'25:00' is not a time like 09:00 (24-hour HH:MM)."),
        ("9am", "'9am' is not a time like 09:00 (24-hour HH:MM)."),
        (
            "09:00 Mars/Olympus",
            "Unknown timezone 'Mars/Olympus': use Area/City, e.g. Europe/Berlin.",
        ),
        (
            "09:00 ../../etc/passwd",
            "Unknown timezone '../../etc/passwd': use Area/City, e.g. Europe/Berlin.",
        ),
        (
            "09:00 UTC extra",
            "Usage: /subscribe [HH:MM] [Area/City] [source], e.g. /subscribe 09:00 Europe/Berlin"
            " or /subscribe 08:00 arxiv:cs.CL,cs.LG",
        ),
    ],
)
async def test_subscribe_bad_input(router: CommandRouter, args: str, message: str) -> None:
    reply = await router(command("subscribe", args))
    assert reply.is_error and reply.text == message


async def test_internal_failure_is_an_apology_not_a_crash(clock: FakeClock) -> None:
    class Exploding:
        def __getattr__(self, name: str):
            async def boom(*args, **kwargs):
                raise RuntimeError("disk on fire")

            return boom

    router = CommandRouter(Exploding(), clock)
    reply = await router(command("today"))
    assert reply.is_error and "something went wrong" in reply.text


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("https://arxiv.org/pdf/2401.00001v3.pdf", "2401.00001"),
        ("arxiv.org/abs/2401.00001", "2401.00001"),
        ("https://huggingface.co/papers/2305.14858?from=daily#top", "2305.14858"),
        ("2305.14858v2", "2305.14858"),
        ("arXiv:2305.14858", "2305.14858"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math.AG/0601001v2", "math.AG/0601001"),
        ("https://arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
        ("t:0123456789abcdef", "t:0123456789abcdef"),
        ("hello", None),
        # An id inside other text is not the id asked for.
        ("see https://arxiv.org/pdf/2401.00001v3.pdf", None),
        ("12305.148581", None),
        ("abc 2305.14858 def", None),
        ("https://example.com/2305.14858", None),
        ("https://arxiv.org/abs/2305.14858/extra", None),
    ],
)
def test_paper_key_from(text: str, key: str | None) -> None:
    assert paper_key_from(text) == key


async def test_paper_with_an_old_style_id(router: CommandRouter, store: SqliteStorage) -> None:
    await store.upsert_papers([Paper(title="Old string theory", arxiv_id="hep-th/9901001")])
    reply = await router(command("paper", "https://arxiv.org/abs/hep-th/9901001v2"))
    card = reply.cards[0]
    assert card.title == "Old string theory"
    # Hugging Face has no pages for pre-2007 ids; arXiv has.
    assert [(link.label, link.url) for link in card.links] == [
        ("arXiv", "https://arxiv.org/abs/hep-th/9901001")
    ]
    garbage = await router(command("paper", "abc 2305.14858 def"))
    assert garbage.is_error and "is not an arXiv id" in garbage.text


async def test_settings_match_topic_previews_papers_about_the_keyword(
    store: Storage, clock: FakeClock
) -> None:
    await store.upsert_papers(
        [
            make_paper("2603.00001", "Automatic speech recognition", day=DAY, upvotes=9),
            make_paper(
                "2603.00002",
                "Transcribing spoken audio in low-resource languages",
                summary="We turn spoken utterances into written text with little labeled audio.",
                day=DAY,
                upvotes=5,
            ),
            make_paper("2603.00003", "Sparse attention for long documents", day=DAY, upvotes=7),
        ]
    )
    semantic = await open_semantic(store, "wordllama")
    assert semantic is not None
    await semantic.embed_missing()
    router = CommandRouter(store, clock, semantic=semantic)
    await router(command("subscribe", "08:00"))
    await router(command("settings", "include speech"))
    literal = await router(command("preview"))
    assert [c.title for c in literal.cards] == ["Automatic speech recognition"]
    assert "match: keywords" in (await router(command("settings"))).text

    changed = await router(command("settings", "match topic"))
    assert changed.title is not None and changed.title.startswith("Updated match.")
    assert "match: topic" in changed.text
    topical = await router(command("preview"))
    assert "include speech (by topic)" in topical.text
    assert [c.title for c in topical.cards] == [
        "Automatic speech recognition",
        "Transcribing spoken audio in low-resource languages",
    ]
    bad = await router(command("settings", "match meaning"))
    assert bad.is_error and bad.text.startswith("match is keywords (as spelled) or topic")
    stored = await store.get_subscription("test:1")
    assert stored is not None and stored.match == "topic"
