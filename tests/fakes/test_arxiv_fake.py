"""The arXiv fake itself: its documents, its scenarios and its policing of arXiv's terms.

A fake that could not fail would prove nothing, so these tests drive it with a
plain httpx client, including deliberately rude ones.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from tests.fakes.arxiv import FakeArxiv, weekday_papers

SCALE = 0.01
GAP = 3.0 * SCALE * 1.5  # comfortably above the fake's scaled 3-second rule
TUESDAY = date(2026, 3, 10)
NS = {
    "arxiv": "http://arxiv.org/schemas/atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
    "os": "http://a9.com/-/spec/opensearch/1.1/",
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeArxiv]:
    """A fake with the Tuesday announcement loaded and a 30 ms request interval."""
    async with FakeArxiv(time_scale=SCALE) as server:
        server.announce(TUESDAY, weekday_papers())
        yield server


async def pace() -> None:
    """Leave the gap the fake's terms demand: pacing the next request, not waiting on a state."""
    await asyncio.sleep(GAP)


async def get(fake: FakeArxiv, path: str, **params: str) -> httpx.Response:
    """One polite request on a fresh connection."""
    async with httpx.AsyncClient(headers={"User-Agent": "fake-test/1"}) as client:
        return await client.get(fake.endpoint + path, params=params)


async def test_feed_lists_announce_types_in_arxiv_order(fake: FakeArxiv):
    response = await get(fake, "/rss/cs.CL+cs.LG")

    channel = ET.fromstring(response.content).find("channel")
    assert channel is not None
    assert channel.findtext("title") == "cs.CL+cs.LG updates on arXiv.org"
    assert channel.findtext("pubDate") == "Tue, 10 Mar 2026 00:00:00 -0400"
    items = channel.findall("item")
    kinds = [(i.findtext("guid"), i.findtext("arxiv:announce_type", namespaces=NS)) for i in items]
    assert kinds == [
        ("oai:arXiv.org:2603.10001v1", "new"),
        ("oai:arXiv.org:2603.10002v1", "new"),
        ("oai:arXiv.org:2603.10003v1", "new"),
        ("oai:arXiv.org:2603.10004v1", "cross"),
        ("oai:arXiv.org:2511.04321v3", "replace"),
        ("oai:arXiv.org:2512.00777v2", "replace-cross"),
    ]
    first = items[0]
    assert first.findtext("link") == "https://arxiv.org/abs/2603.10001"
    description = first.findtext("description") or ""
    assert description.startswith("arXiv:2603.10001v1 Announce Type: new \nAbstract: We make")
    assert first.findtext("dc:creator", namespaces=NS) == "Ada Lovelace, Alan Turing, Grace Hopper"
    assert [c.text for c in first.findall("category")] == ["cs.CL", "cs.LG"]
    assert first.findtext("dc:rights", namespaces=NS, default="").startswith("http://creative")


async def test_one_category_and_a_whole_archive(fake: FakeArxiv):
    only_stat = ET.fromstring((await get(fake, "/rss/stat.ML")).content)
    await pace()  # the fake polices pacing, so this test must pace too
    physics = ET.fromstring((await get(fake, "/rss/hep-th")).content)
    await pace()
    whole_cs = ET.fromstring((await get(fake, "/rss/cs")).content)

    def types(root: ET.Element) -> list[str | None]:
        return [i.findtext("arxiv:announce_type", namespaces=NS) for i in root.iter("item")]

    assert types(only_stat) == ["new", "cross"]  # 2603.10004 is stat.ML's own, 10003 crosses
    assert types(physics) == ["new"]
    assert len(types(whole_cs)) == 6
    assert fake.violations == []


async def test_weekend_feed_is_an_empty_channel_with_skip_days(fake: FakeArxiv):
    fake.no_announcement(date(2026, 3, 14))

    channel = ET.fromstring((await get(fake, "/rss/cs.CL")).content).find("channel")

    assert channel is not None
    assert channel.findall("item") == []
    assert [d.text for d in channel.iter("day")] == ["Saturday", "Sunday"]


async def test_unknown_category_gives_the_feed_error(fake: FakeArxiv):
    response = await get(fake, "/rss/cs.CL+cs.NOPE")

    assert response.status_code == 200
    title = ET.fromstring(response.content).findtext("channel/title") or ""
    assert title.startswith("Feed error for query")


async def test_api_answers_atom_with_all_fields_and_honours_max_results(fake: FakeArxiv):
    response = await get(fake, "/api/query", id_list="2511.04321,2603.10004", max_results="1")

    root = ET.fromstring(response.content)
    assert root.findtext("os:totalResults", namespaces=NS) == "2"
    entries = root.findall("atom:entry", NS)
    assert len(entries) == 1  # max_results is obeyed, like arXiv's default of 10 is
    entry = entries[0]
    assert entry.findtext("atom:id", namespaces=NS) == "http://arxiv.org/abs/2511.04321v3"
    assert entry.findtext("atom:published", namespaces=NS) == "2025-11-06T09:00:00Z"
    assert entry.findtext("arxiv:journal_ref", namespaces=NS) == "ACL 2026"
    primary = entry.find("arxiv:primary_category", NS)
    assert primary is not None and primary.get("term") == "cs.CL"
    rels = {link.get("title") or link.get("rel") for link in entry.findall("atom:link", NS)}
    assert rels == {"alternate", "pdf"}


async def test_api_rejects_a_malformed_id(fake: FakeArxiv):
    response = await get(fake, "/api/query", id_list="not-an-id")

    assert response.status_code == 400
    assert b"incorrect id format" in response.content


async def test_requests_are_recorded_with_their_user_agent(fake: FakeArxiv):
    await get(fake, "/rss/cs.CL")

    assert [(r.path, r.user_agent) for r in fake.requests] == [("/rss/cs.CL", "fake-test/1")]


async def test_back_to_back_requests_are_violations_and_refused(fake: FakeArxiv):
    async with httpx.AsyncClient() as client:
        first = await client.get(fake.endpoint + "/rss/cs.CL")
        second = await client.get(fake.endpoint + "/rss/cs.CL")

    assert first.status_code == 200
    assert second.status_code == 503
    assert len(fake.violations) == 1
    assert "after the previous request" in fake.violations[0]


async def test_two_connections_at_once_are_a_violation(fake: FakeArxiv):
    fake.fail("rss", "slow", delay=0.3)  # keep the first connection busy
    async with httpx.AsyncClient() as client:
        first = asyncio.create_task(client.get(fake.endpoint + "/rss/cs.CL"))
        await pace()
        second = await client.get(fake.endpoint + "/rss/cs.LG")
        await first

    assert second.status_code == 503
    assert any("connections at once" in v for v in fake.violations)


async def test_failures_are_played_once_each(fake: FakeArxiv):
    fake.fail("api", "502")
    fake.fail("api", "garbage")

    statuses = []
    for _ in range(3):
        response = await get(fake, "/api/query", id_list="2603.10001")
        statuses.append((response.status_code, response.headers["content-type"].split(";")[0]))
        await pace()

    assert statuses == [
        (502, "text/plain"),
        (200, "text/html"),
        (200, "application/atom+xml"),
    ]
    assert fake.violations == []
