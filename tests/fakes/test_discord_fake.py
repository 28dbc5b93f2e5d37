"""Self-test of tests/fakes/discord.py against the real discord.py client.

Only two discord.py settings are touched (REST base URL and default gateway URL); everything
else goes over HTTP and the websocket, so whatever discord.py accepts here it will accept in
the adapter tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord import FakeDiscord
from tests.support import eventually

GUILD = 900_000_000_000_000_001
CHANNEL = 900_000_000_000_000_101
NEWS = 900_000_000_000_000_102
THREAD = 900_000_000_000_000_103
USER = 900_000_000_000_000_555


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild (text, announcement and thread channels), discord.py
    pointed at it, and the original URLs restored afterwards."""
    async with FakeDiscord() as fake:
        fake.add_guild(
            GUILD,
            "papers",
            channels=[
                {"id": CHANNEL, "name": "general"},
                {"id": NEWS, "name": "news", "type": 5},
                {"id": THREAD, "name": "paper-thread", "type": 11, "parent_id": CHANNEL},
            ],
            members=[{"id": USER, "name": "reader"}],
        )
        with fake.patch_discord():
            yield fake


class _Latest(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="More", custom_id="more")
    async def more(self, interaction: discord.Interaction, _: discord.ui.Button[_Latest]) -> None:
        await interaction.response.edit_message(content="more papers", view=None)


def make_client(**kwargs: Any) -> tuple[discord.Client, app_commands.CommandTree]:
    """The production shape: no mentions ever, short guild_ready_timeout for tests."""
    client = discord.Client(
        intents=discord.Intents.default(),
        allowed_mentions=discord.AllowedMentions.none(),
        guild_ready_timeout=0.2,
        **kwargs,
    )
    tree = app_commands.CommandTree(client)

    @tree.command(name="ping", description="Check that the bot is alive")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    @tree.command(name="latest", description="Latest papers")
    @app_commands.describe(count="How many papers")
    async def latest(interaction: discord.Interaction, count: int = 3) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"{count} papers", view=_Latest())
        await interaction.edit_original_response(content="done")

    @tree.command(name="card", description="A card with a button")
    async def card(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("card", view=_Latest())

    @tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.5)  # past the deadline the test sets: the lateness under test
        await interaction.response.send_message("late")

    @tree.command(name="ignore", description="Never answers")
    async def ignore(interaction: discord.Interaction) -> None:
        return None

    @tree.command(name="topic", description="Pick a topic")
    async def topic(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    @topic.autocomplete("name")
    async def topic_ac(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=t, value=t) for t in ("nlp", "vision") if current in t]

    return client, tree


@asynccontextmanager
async def running(client: discord.Client) -> AsyncIterator[discord.Client]:
    """Start the client inside the test loop and wait for on_ready (or its startup error)."""
    async with client:
        task = asyncio.create_task(client.start("token"))
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=10, return_when="FIRST_COMPLETED")
        if task in done:
            ready.cancel()
            task.result()
            raise AssertionError("client.start returned before ready")
        assert ready in done, "client did not become ready"
        try:
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(task, 5)


async def test_startup_sync_and_slash_command(fake: FakeDiscord) -> None:
    client, tree = make_client()
    async with running(client):
        paths = [(r.method, r.path) for r in fake.requests]
        assert paths[:2] == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
        assert fake.identifies[0]["shard"] == [0, 1]
        assert fake.identifies[0]["compress_query"] == "zlib-stream"
        guild = client.get_guild(GUILD)
        assert guild is not None and guild.name == "papers"
        assert isinstance(guild.get_channel(NEWS), discord.TextChannel)
        assert guild.get_channel(NEWS).is_news()  # type: ignore[union-attr]
        assert guild.get_thread(THREAD) is not None
        assert client.application_id == fake.application_id

        synced = await tree.sync()
        assert {c.name for c in synced} == {c["name"] for c in fake.command_sets[None]}
        assert "ping" in {c.name for c in synced}

        handle = await fake.push_interaction(GUILD, CHANNEL, USER, "ping")
        rec = await fake.wait_interaction_response(handle.id, timeout=3)
        assert rec.response_type == 4
        assert rec.response_data is not None and rec.response_data["content"] == "pong"
        assert rec.ephemeral and rec.response_delay is not None and rec.response_delay < 3.0
        assert fake.messages(CHANNEL) == []  # ephemeral replies are not channel history
        assert fake.messages(CHANNEL, include_ephemeral=True)[0]["content"] == "pong"
        assert fake.unanswered_interactions() == []
        assert fake.violations == []


async def test_send_embed_is_recorded_with_no_mentions(fake: FakeDiscord) -> None:
    client, _ = make_client()
    async with running(client):
        channel = client.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        msg = await channel.send(embed=discord.Embed(title="Attention", description="paper"))
        assert msg.embeds[0].title == "Attention"
        [stored] = fake.messages(CHANNEL)
        assert stored["id"] == msg.id
        assert stored["allowed_mentions"] == {"parse": []}
        assert stored["embeds"][0]["title"] == "Attention"

        # Edits and thread posts go through the same checks.
        await msg.edit(content="edited")
        assert fake.message(msg.id)["content"] == "edited"  # type: ignore[index]
        thread = client.get_channel(THREAD)
        assert isinstance(thread, discord.Thread)
        await thread.send("in thread")
        assert fake.messages(THREAD)[0]["content"] == "in thread"
        assert fake.violations == []


async def test_channel_and_guild_removal_reach_the_client(fake: FakeDiscord) -> None:
    client, _ = make_client()
    async with running(client):
        news = client.get_channel(NEWS)
        assert isinstance(news, discord.TextChannel)
        deleted = asyncio.ensure_future(client.wait_for("guild_channel_delete", timeout=3))
        await fake.delete_channel(NEWS)
        assert (await deleted).id == NEWS
        with pytest.raises(discord.NotFound) as exc:
            await news.send("gone")
        assert exc.value.code == 10003
        removed = asyncio.ensure_future(client.wait_for("guild_remove", timeout=3))
        await fake.remove_guild(GUILD)
        assert (await removed).id == GUILD
        assert client.get_guild(GUILD) is None


async def test_invalid_payloads_are_rejected_and_recorded(fake: FakeDiscord) -> None:
    client, _ = make_client()
    async with running(client):
        channel = client.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as exc:
            await channel.send(embed=discord.Embed(title="x" * 257))
        assert exc.value.status == 400 and exc.value.code == 50035
        assert fake.violations[-1].fields == ["embeds.0.title"]

        with pytest.raises(discord.HTTPException):
            await channel.send("hi @everyone", allowed_mentions=discord.AllowedMentions.all())
        assert "allowed_mentions.parse" in fake.violations[-1].fields

        embeds = [discord.Embed(description="d" * 4000) for _ in range(2)]
        with pytest.raises(discord.HTTPException):
            await channel.send(embeds=embeds)
        assert fake.violations[-1].fields == ["embeds"]
        assert fake.messages(CHANNEL) == []


async def test_error_injection_raises_discord_errors(fake: FakeDiscord) -> None:
    client, _ = make_client()
    async with running(client):
        channel = client.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        fake.set_channel_error(CHANNEL, "missing_permissions", times=1)
        with pytest.raises(discord.Forbidden) as forbidden:
            await channel.send("x")
        assert forbidden.value.code == 50013
        fake.set_channel_error(CHANNEL, "unknown_channel")
        with pytest.raises(discord.NotFound) as not_found:
            await channel.send("x")
        assert not_found.value.code == 10003
        fake.clear_channel_error(CHANNEL)
        fake.set_channel_error(CHANNEL, 429, times=1, retry_after=0.05)
        await channel.send("after retry")
        assert [m["content"] for m in fake.messages(CHANNEL)] == ["after retry"]
        assert fake.count_429 == 1

        # Real permission model: no SEND_MESSAGES on the bot's role -> 50013.
        fake.set_bot_permissions(GUILD, 1 << 10)
        fake.guilds[GUILD].roles[GUILD]["permissions"] = str(1 << 10)
        with pytest.raises(discord.Forbidden) as denied:
            await channel.send("x")
        assert denied.value.code == 50013


async def test_nonce_with_enforce_nonce_creates_one_message(fake: FakeDiscord) -> None:
    client, _ = make_client()
    async with running(client):
        channel = client.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        first = await channel.send("paper of the day", nonce="daily-2024-06-01")
        second = await channel.send("paper of the day", nonce="daily-2024-06-01")
        assert first.id == second.id
        assert len(fake.messages(CHANNEL)) == 1
        assert fake.nonce_dedupes == 1


async def test_rate_limit_headers_make_discordpy_wait(fake: FakeDiscord) -> None:
    fake.configure_rate_limits(enabled=True, channel_limit=2, channel_window=1.0, time_scale=0.25)
    client, _ = make_client()
    async with running(client):
        channel = client.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        start = time.monotonic()
        await asyncio.gather(*(channel.send(f"paper {i}") for i in range(10)))
        elapsed = time.monotonic() - start
        assert len(fake.messages(CHANNEL)) == 10
        assert fake.count_429 <= 1
        # 10 messages at 2 per 0.25 s need at least 4 full windows.
        assert elapsed >= 0.9
        posts = [r for r in fake.requests if r.method == "POST" and r.status == 200]
        assert len(posts) == 10


async def test_global_limit_429_is_retried(fake: FakeDiscord) -> None:
    fake.configure_rate_limits(
        enabled=True, global_limit=3, global_window=1.0, channel_limit=100, time_scale=0.2
    )
    client, _ = make_client()
    async with running(client):
        channel = client.get_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel)
        for i in range(6):
            await channel.send(f"m{i}")
        assert len(fake.messages(CHANNEL)) == 6
        assert fake.count_429 >= 1


async def test_interaction_rules(fake: FakeDiscord) -> None:
    fake.interaction_deadline = 0.3
    client, tree = make_client()
    async with running(client):
        await tree.sync()
        late = await fake.push_interaction(GUILD, CHANNEL, USER, "slow")
        ignored = await fake.push_interaction(GUILD, CHANNEL, USER, "ignore")

        def kinds() -> set[str]:
            return {v.kind for v in fake.violations}

        await eventually(
            lambda: late.callbacks and {"interaction_late", "interaction_unanswered"} <= kinds(),
            message="the late answer refused and the ignored one reported",
        )
        assert late.late and not late.acknowledged
        assert late.callbacks[0]["status"] == 404
        assert {r.id for r in fake.unanswered_interactions()} == {late.id, ignored.id}

        # discord.py refuses a second response locally, so send the duplicate by hand.
        fake.interaction_deadline = 3.0
        ping = await fake.push_interaction(GUILD, CHANNEL, USER, "ping")
        await ping.wait_response(3)
        url = f"{fake.api_url}/interactions/{ping.id}/{ping.token}/callback"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={"type": 4, "data": {"content": "again"}}) as resp,
        ):
            assert resp.status == 400
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["code"] == 40060
        assert fake.violations[-1].kind == "interaction_already_acknowledged"


async def test_defer_followup_component_and_autocomplete(fake: FakeDiscord) -> None:
    client, tree = make_client()
    async with running(client):
        await tree.sync()
        rec = await fake.push_interaction(GUILD, CHANNEL, USER, "latest", {"count": 5})
        await rec.wait_response(3)
        assert rec.response_type == 5
        await eventually(lambda: rec.edits, message="the original response edited")
        assert rec.followups[0]["content"] == "5 papers"
        assert rec.original is not None and rec.original["content"] == "done"

        followup_id = rec.followups[0]["id"]
        click = await fake.push_component(GUILD, CHANNEL, USER, followup_id, "more")
        await click.wait_response(3)
        assert click.response_type == 7
        assert fake.message(followup_id)["content"] == "more papers"  # type: ignore[index]

        ac = await fake.push_autocomplete(
            GUILD, CHANNEL, USER, "topic", {"name": "vis"}, focused="name"
        )
        await ac.wait_response(3)
        assert ac.response_type == 8
        assert ac.response_data == {"choices": [{"name": "vision", "value": "vision"}]}
        assert fake.violations == []


async def test_gateway_resume_replays_missed_events(fake: FakeDiscord) -> None:
    client, tree = make_client()
    async with running(client):
        await tree.sync()
        await fake.disconnect(code=4000)
        # Sent while the client is away: buffered and replayed on RESUME.
        rec = await fake.push_interaction(GUILD, CHANNEL, USER, "ping")
        await rec.wait_response(3)
        assert fake.resumes and fake.resumes[0]["path"] == "/resume"
        assert len(fake.identifies) == 1


async def test_autosharded_clients_see_only_their_guilds(fake: FakeDiscord) -> None:
    g0 = FakeDiscord.snowflake_for_shard(0, 2)
    g1 = FakeDiscord.snowflake_for_shard(1, 2)
    fake.add_guild(g0, "shard0", channels=[{"id": g0 + 10, "name": "a"}])
    fake.add_guild(g1, "shard1", channels=[{"id": g1 + 10, "name": "b"}])

    def sharded(shard_id: int) -> discord.AutoShardedClient:
        return discord.AutoShardedClient(
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=2,
            shard_ids=[shard_id],
            guild_ready_timeout=0.2,
        )

    c0, c1 = sharded(0), sharded(1)
    tree = app_commands.CommandTree(c1)

    @tree.command(name="ping", description="Check that the bot is alive")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong from shard 1")

    async with running(c0), running(c1):
        for shard_id, client in ((0, c0), (1, c1)):
            expected = {g for g in fake.guilds if FakeDiscord.shard_of(g, 2) == shard_id}
            assert {g.id for g in client.guilds} == expected
        assert g0 in {g.id for g in c0.guilds} and g1 in {g.id for g in c1.guilds}
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        await tree.sync()
        rec = await fake.push_interaction(g1, g1 + 10, USER, "ping")
        await rec.wait_response(3)
        assert rec.response_data is not None
        assert rec.response_data["content"] == "pong from shard 1"


async def test_raw_wire_contract(fake: FakeDiscord) -> None:
    headers = {"Authorization": "Bot token"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{fake.api_url}/users/@me") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            for h in ("Limit", "Remaining", "Reset", "Reset-After", "Bucket"):
                assert f"X-RateLimit-{h}" in resp.headers
        async with http.get(f"{fake.api_url}/nope") as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 0
        assert fake.violations[-1].kind == "unknown_route"

        bad = [{"name": "Bad Name", "description": "", "type": 1}]
        url = f"{fake.api_url}/applications/{fake.application_id}/commands"
        async with http.put(url, json=bad) as resp:
            body = await resp.json()
            assert resp.status == 400 and body["code"] == 50035
            assert set(body["errors"]["0"]) == {"name", "description"}

        # Cheap per request: a few thousand messages must not dominate a test run.
        sem = asyncio.Semaphore(32)
        payload = {"content": "paper", "allowed_mentions": {"parse": []}}

        async def post(i: int) -> int:
            async with (
                sem,
                http.post(f"{fake.api_url}/channels/{CHANNEL}/messages", json=payload) as r,
            ):
                await r.read()
                return r.status

        start = time.monotonic()
        statuses = await asyncio.gather(*(post(i) for i in range(2000)))
        assert set(statuses) == {200}
        assert len(fake.messages(CHANNEL)) == 2000
        assert time.monotonic() - start < 10
