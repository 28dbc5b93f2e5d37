"""GET /healthz and GET /metrics of a bot built in-process, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import SystemClock
from bot.commands import CommandRouter
from bot.config import Settings
from bot.http_server import Health, HttpServer
from bot.jobs import Jobs
from bot.metrics import Metrics
from bot.models import Paper, Subscription
from bot.ports.chat import ChannelGone, TemporaryFailure
from bot.roles import Roles
from storage.sqlite import SqliteStorage
from tests.support import FakeClock, RecordingAdapter, command, lease_of, make_paper

DAY = date(2026, 3, 9)


@dataclass
class LinkAdapter(RecordingAdapter):
    """A recording adapter that reports its connection state."""

    connected: bool = True

    def is_connected(self) -> bool:
        return self.connected


class FlakySource:
    """Hugging Face stand-in: ``failing`` days raise."""

    def __init__(self) -> None:
        self.failing: set[date] = set()

    async def fetch_day(self, day: date) -> list[Paper]:
        if day in self.failing:
            raise ConnectionError("down")
        return [make_paper(f"2603.{day.day:05d}", f"Paper of {day}", day=day)]


@dataclass
class App:
    """The pieces run_bot wires together, around an HTTP server on a free port."""

    store: SqliteStorage
    clock: FakeClock
    adapters: list[LinkAdapter]
    jobs: Jobs
    metrics: Metrics
    router: CommandRouter
    http: HttpServer
    client: httpx.AsyncClient

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"http://127.0.0.1:{self.http.port}{path}")

    async def health(self) -> tuple[int, dict[str, Any]]:
        response = await self.get("/healthz")
        return response.status_code, response.json()

    async def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await self.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


def lease_from_now(seconds: float = 60) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now, now + timedelta(seconds=seconds)


async def build(
    tmp_path: Path, source: FlakySource | None, monotonic: Callable[[], float] = time.monotonic
) -> App:
    """The bot of process "this:1:a"; another process, "other:2:b", holds the tick."""
    path = tmp_path / f"{id(source)}.db"
    store = await SqliteStorage.open(path)
    other_process = await SqliteStorage.open(path)
    try:
        await other_process.acquire_lease("tick", "other:2:b", *lease_from_now())
    finally:
        await other_process.close()
    clock = FakeClock()
    adapters = [LinkAdapter(platform="telegram"), LinkAdapter(platform="discord")]
    router = CommandRouter(store, clock)
    metrics = Metrics(commands=[*router.command_names, "page"])
    metrics.add_platforms(a.platform for a in adapters)
    jobs = Jobs(
        Settings(_env_file=None, ingest_interval_minutes=30),  # type: ignore[call-arg]
        store,
        adapters,
        source=source,
        clock=clock,
        on_delivery=metrics.count_delivery,
        on_ingest=metrics.count_ingest,
        roles=Roles(store, SystemClock(), owner="this:1:a", monotonic=monotonic),
    )
    await jobs.roles.renew()  # what jobs.start() does first
    http = HttpServer("127.0.0.1", 0, Health(adapters, store, jobs, clock), metrics, store)
    await http.start()
    return App(store, clock, adapters, jobs, metrics, router, http, httpx.AsyncClient())


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    app = await build(tmp_path, FlakySource())
    yield app
    await app.client.aclose()
    await app.http.stop()
    await app.store.close()


async def test_healthy_bot_answers_200_with_every_check(app: App) -> None:
    status, body = await app.health()
    assert status == 200
    roles = body["checks"].pop("roles")
    assert (roles["owner"], roles["renewing"]) == ("this:1:a", True)
    assert roles["held"] == ["ingest", "sender:discord", "sender:telegram", "upkeep"]
    holders = {row["name"]: (row["owner"], row["live"]) for row in roles["leases"]}
    assert holders == {
        "ingest": ("this:1:a", True),
        "sender:discord": ("this:1:a", True),
        "sender:telegram": ("this:1:a", True),
        "tick": ("other:2:b", True),
        "upkeep": ("this:1:a", True),
    }
    assert all(
        9 < row["expires_in_seconds"] <= 10 for row in roles["leases"] if row["name"] != "tick"
    )
    assert body == {
        "status": "ok",
        "checks": {
            "adapters": {"telegram": True, "discord": True},
            "database": True,
            "last_ingest_age_seconds": None,  # none yet, but start-up was just now
            "outbox_depth": 0,
        },
        "problems": [],
    }


async def test_disconnected_adapter_makes_it_503(app: App) -> None:
    app.adapters[1].connected = False
    status, body = await app.health()
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["adapters"] == {"telegram": True, "discord": False}
    assert body["problems"] == ["discord adapter is disconnected"]


async def test_read_only_database_makes_it_503(app: App) -> None:
    await app.store._db.execute(
        "PRAGMA query_only = ON"
    )  # writes now fail like on a read-only file
    status, body = await app.health()
    assert status == 503
    assert body["checks"]["database"] is False
    assert body["problems"] == ["database is not writable"]


async def test_leases_it_cannot_renew_make_it_503(tmp_path: Path) -> None:
    now = [1000.0]
    app = await build(tmp_path, FlakySource(), monotonic=lambda: now[0])
    try:
        await app.store._db.execute("PRAGMA query_only = ON")  # the database refuses writes
        await app.jobs.roles.renew()
        now[0] += 7.9  # within the share of the lease this process trusts itself
        assert app.jobs.roles.held() == ["ingest", "sender:discord", "sender:telegram", "upkeep"]
        now[0] += 0.2  # beyond it: it stops acting before another process may start
        assert app.jobs.roles.held() == []
        now[0] += 2  # and a whole lease without a renewal: unhealthy, and why
        status, body = await app.health()
        assert status == 503 and body["checks"]["roles"]["renewing"] is False
        [problem] = [p for p in body["problems"] if "role leases" in p]
        assert problem.startswith("cannot renew role leases: ") and "readonly" in problem
        await app.store._db.execute("PRAGMA query_only = OFF")
        await app.jobs.roles.renew()
        assert (await app.health())[0] == 200
        assert len(app.jobs.roles.held()) == 4
    finally:
        await app.client.aclose()
        await app.http.stop()
        await app.store.close()


async def test_stale_ingest_makes_it_503_until_an_ingest_succeeds(app: App) -> None:
    app.clock.advance(minutes=89)
    assert (await app.health())[0] == 200  # within 3 x the 30-minute interval of start-up
    app.clock.advance(minutes=2)
    status, body = await app.health()
    assert status == 503
    assert body["problems"] == ["no successful ingest in the last 90 minutes"]
    await app.jobs.ingest()
    app.clock.advance(seconds=12)
    status, body = await app.health()
    assert status == 200 and body["checks"]["last_ingest_age_seconds"] == 12.0


async def test_a_partly_failed_ingest_does_not_count_as_fresh(app: App) -> None:
    await app.jobs.ingest()
    assert isinstance(app.jobs.source, FlakySource)
    app.jobs.source.failing.add(app.clock.now().date())
    app.clock.advance(minutes=60)
    await app.jobs.ingest()
    app.clock.advance(minutes=31)
    assert (await app.health())[0] == 503


async def test_without_a_live_source_ingest_age_does_not_apply(tmp_path: Path) -> None:
    app = await build(tmp_path, None)
    try:
        app.clock.advance(days=3)
        status, body = await app.health()
        assert status == 200 and body["checks"]["last_ingest_age_seconds"] is None
    finally:
        await app.client.aclose()
        await app.http.stop()
        await app.store.close()


async def test_metrics_expose_every_family_from_the_start(app: App) -> None:
    samples = await app.samples()
    names = {name for name, _ in samples}
    assert {
        "paperbot_deliveries_total",
        "paperbot_outbox_depth",
        "paperbot_ingest_runs_total",
        "paperbot_ingest_failures_total",
        "paperbot_search_seconds_count",
        "paperbot_commands_total",
    } <= names
    assert samples["paperbot_deliveries_total", (("outcome", "gone"), ("platform", "discord"))] == 0
    assert samples["paperbot_commands_total", (("command", "search"),)] == 0


async def test_commands_are_counted_and_searches_timed(app: App) -> None:
    await app.store.upsert_papers([make_paper("2603.00001", "Diffusion models", day=DAY)])
    handler = app.metrics.instrument(app.router)
    await handler(command("search", "diffusion"))
    await handler(command("SEARCH", "models"))
    await handler(command("help"))
    await handler(command("page", "nosuchkey 2"))
    await handler(command("whatever-a-user-typed"))
    samples = await app.samples()
    assert samples["paperbot_commands_total", (("command", "search"),)] == 2
    assert samples["paperbot_commands_total", (("command", "help"),)] == 1
    assert samples["paperbot_commands_total", (("command", "page"),)] == 1
    assert samples["paperbot_commands_total", (("command", "other"),)] == 1
    assert samples["paperbot_search_seconds_count", ()] == 3  # search, search, page
    assert samples["paperbot_search_seconds_sum", ()] > 0


async def test_delivery_outcomes_and_outbox_depth(app: App) -> None:
    await app.store.upsert_papers([make_paper("2603.00001", "A paper", day=DAY)])
    telegram = app.adapters[0]
    telegram.failures["telegram:2"] = lambda: ChannelGone("blocked")
    telegram.failures["telegram:3"] = lambda: TemporaryFailure("timeout")
    for channel in ("telegram:1", "telegram:2", "telegram:3", "telegram:4"):
        await app.store.save_subscription(Subscription(channel=channel))
        sub_id = await app.store.subscription_id(channel)
        assert sub_id is not None
        await app.store.create_delivery(
            sub_id, channel, "2026-03-10", app.clock.now(), ["2603.00001"]
        )
    worker = app.jobs.workers["telegram"]
    await app.jobs.roles.renew()  # take the sender role, as a started process does
    claimed = await app.store.claim_deliveries(
        "telegram", app.clock.now(), 3, lease_of(worker.owner)
    )
    for delivery in claimed:
        await worker.deliver(delivery)
    samples = await app.samples()

    def delivered(outcome: str) -> float:
        return samples[
            "paperbot_deliveries_total", (("outcome", outcome), ("platform", "telegram"))
        ]

    assert (delivered("sent"), delivered("gone"), delivered("retry")) == (1, 1, 1)
    assert delivered("failed") == 0
    # telegram:3 is pending again and telegram:4 was never claimed.
    assert samples["paperbot_outbox_depth", ()] == 2


async def test_ingest_runs_and_failures_are_counted(app: App) -> None:
    await app.jobs.ingest()
    assert isinstance(app.jobs.source, FlakySource)
    app.jobs.source.failing.add(app.clock.now().date() - timedelta(days=1))
    await app.jobs.ingest()
    samples = await app.samples()
    assert samples["paperbot_ingest_runs_total", ()] == 2
    assert samples["paperbot_ingest_failures_total", ()] == 1


async def test_two_apps_in_one_process_keep_separate_metrics(app: App, tmp_path: Path) -> None:
    other = await build(tmp_path, None)
    try:
        app.metrics.count_ingest(False)
        assert (await other.samples())["paperbot_ingest_failures_total", ()] == 0
        assert (await app.samples())["paperbot_ingest_failures_total", ()] == 1
    finally:
        await other.client.aclose()
        await other.http.stop()
        await other.store.close()


async def test_unknown_paths_are_404(app: App) -> None:
    assert (await app.get("/")).status_code == 404
