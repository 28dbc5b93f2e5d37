"""The embedding port, stored vectors, the in-memory index and hybrid search."""

from __future__ import annotations

import functools
import json
import logging
import subprocess
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from bot import semantic as semantic_module
from bot.config import ConfigError, Settings
from bot.hybrid import HybridSearch
from bot.plugins import load_embedder, open_semantic, vector_index_file
from bot.ports.embedder import Embedder, WordEmbedder
from bot.ports.storage import Storage, VectorChanges
from bot.query import parse_query
from bot.semantic import EMBED_BATCH, Semantic, VectorIndex, paper_text
from bot.sources.seeds import load_seed_papers
from tests.support import fill_up, make_paper, mount_tmpfs

PAPERS = [
    make_paper(
        "2601.00001",
        "Quantizing weights of large language models to four bits",
        summary="Low-precision integer weights and activations cut inference memory.",
        authors=("Ada Lovelace",),
        day=date(2025, 6, 1),
    ),
    make_paper(
        "2601.00002",
        "Protein structure prediction with deep learning",
        summary="Folding amino-acid chains into 3D structures.",
        authors=("Grace Hopper",),
        day=date(2024, 1, 1),
    ),
    make_paper(
        "2601.00003",
        "Speech recognition for low-resource languages",
        summary="Transcribing spoken audio with little labeled data.",
        authors=("Alan Turing",),
        day=date(2025, 3, 1),
    ),
    make_paper(
        "2601.00004",
        "Compressing neural networks with low-bit integer arithmetic",
        summary="Post-training quantization of model weights.",
        authors=("Barbara Liskov",),
        day=date(2023, 5, 1),
    ),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    loaded = load_embedder("wordllama")
    assert loaded is not None
    return loaded


@pytest.fixture
async def store(store: Storage) -> Storage:
    """The conftest's store on each backend, with the papers above."""
    await store.upsert_papers(PAPERS)
    return store


def test_wordllama_gives_unit_vectors_in_batches(embedder: Embedder) -> None:
    vectors = embedder.embed(["speech recognition", "protein folding", ""])
    assert vectors.shape == (3, embedder.dimensions) == (3, 256)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-3)
    assert not vectors[2].any()  # no words: a zero vector, similar to nothing (not NaN)
    assert embedder.embed([]).shape == (0, 256)
    similar = embedder.embed(["transcribing spoken audio", "folding amino acid chains"])
    assert float(similar[0] @ vectors[0]) > float(similar[0] @ vectors[1])


def test_wordllama_vectors_match_its_own_pooling(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Per-word tokens and count-matrix sums give WordLlama's own mean of token
    # embeddings (line breaks aside), also after the word memory starts over.
    from bot.embedders import wordllama

    texts = [paper_text(paper) for paper in load_seed_papers()[:40]]
    model = embedder._model  # type: ignore[attr-defined]
    own = model.embed(texts)
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    monkeypatch.setattr(wordllama, "WORD_CACHE", 500)
    monkeypatch.setattr(wordllama, "SUM_BATCH", 7)
    ours = embedder.embed(texts)
    assert (ours * own).sum(axis=1).min() > 0.99
    distinct = {word for text in texts for word in text.split()}
    assert len(embedder._word_ids) < len(distinct)  # type: ignore[attr-defined]


def test_embedder_choice() -> None:
    assert load_embedder("none") is None
    with pytest.raises(ConfigError, match=r"unknown embedder 'nope'.*wordllama"):
        load_embedder("nope")
    with pytest.raises(ConfigError, match="sentence-transformers:<directory"):
        load_embedder("sentence-transformers:/no/such/model")
    with pytest.raises(ConfigError, match="takes no argument"):
        load_embedder("wordllama:big")


def test_vector_index_nearest_and_replace() -> None:
    index = VectorIndex(2)
    index.add(["a", "b", "c"], np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32))
    assert [key for key, _ in index.nearest(np.array([1, 0], np.float32), 2)] == ["a", "c"]
    index.add(["a"], np.array([[0, 1]], np.float32))
    assert len(index) == 3
    assert index.nearest(np.array([1, 0], np.float32), 1)[0][0] == "c"
    assert VectorIndex(2).nearest(np.array([1, 0], np.float32), 3) == []


def test_vector_index_graph_search_finds_the_exact_neighbours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Past EXACT_BELOW the HNSW graph answers; it must find what a full scan finds.
    monkeypatch.setattr(semantic_module, "EXACT_BELOW", 500)
    # Built on one thread, the graph is the same every run: with two, the
    # order of insertion varies, and about one build in fifteen leaves a
    # paper its own vector does not reach (approximate search allows it).
    monkeypatch.setattr(semantic_module, "THREADS", 1)
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((40, 32))
    vectors = (centres[rng.integers(0, 40, 3000)] + 0.5 * rng.standard_normal((3000, 32))).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(32)
    index.add([f"p{row}" for row in range(3000)], vectors)
    overlaps = []
    for row in rng.integers(0, 3000, 50):
        exact = {f"p{other}" for other in np.argsort(-(vectors @ vectors[row]))[:10]}
        found = index.nearest(vectors[row], 10)
        assert found[0][0] == f"p{row}" and found[0][1] > 0.99
        overlaps.append(len(exact & {key for key, _ in found}) / 10)
    assert np.mean(overlaps) >= 0.95
    # Stored as int8: a vector read back is within quantisation error of the original.
    stored = index.vector("p7")
    assert stored is not None and float(stored @ vectors[7]) > 0.99
    # A replaced vector leaves the graph: the paper is found by its new vector only.
    index.add(["p7"], vectors[8:9])
    assert len(index) == 3000
    near_old = [key for key, _ in index.nearest(vectors[7], 3)]
    assert "p7" not in near_old
    assert {key for key, _ in index.nearest(vectors[8], 2)} == {"p7", "p8"}


async def test_vectors_are_stored_resumed_and_reloaded(store: Storage, embedder: Embedder) -> None:
    model = embedder.name
    assert len(await store.papers_without_vectors(model, 10)) == 4
    first = await store.papers_without_vectors(model, 1)
    await store.save_vectors(model, [first[0].key], embedder.embed([first[0].title]))
    # An interrupted backfill resumes: only the three others are embedded.
    semantic = Semantic(store, embedder)
    seen: list[int] = []
    assert await semantic.embed_missing(seen.append) == 3
    assert seen == [3] and await store.count_vectors(model) == 4
    assert await store.papers_without_vectors(model, 10) == []
    reloaded = Semantic(store, embedder)
    assert await reloaded.load() == 4
    page = await store.vector_changes(model, 0, 2)
    assert len(page.keys) == 2 and page.vectors.shape == (2, 256)
    rest = await store.vector_changes(model, page.cursor, 10)
    assert len(rest.keys) == 2 and not set(rest.keys) & set(page.keys)
    # Another model's vectors are separate.
    assert await store.count_vectors("other/model") == 0


async def test_changed_text_is_embedded_again(store: Storage, embedder: Embedder) -> None:
    semantic = Semantic(store, embedder)
    await semantic.embed_missing()
    changed = make_paper("2601.00002", "Protein structure", summary="A new abstract.")
    await store.upsert_papers([changed])
    assert [p.key for p in await store.papers_without_vectors(embedder.name, 10)] == [changed.key]
    # An upvote refresh (same text) keeps the vector.
    await semantic.embed_missing()
    await store.upsert_papers([changed])
    assert await store.papers_without_vectors(embedder.name, 10) == []
    assert EMBED_BATCH >= 100


async def test_open_semantic_loads_stored_vectors(store: Storage) -> None:
    assert await open_semantic(store, "none") is None
    semantic = await open_semantic(store, "wordllama")
    assert semantic is not None and len(semantic.index) == 0
    await semantic.embed_missing()
    again = await open_semantic(store, "wordllama")
    assert again is not None and len(again.index) == 4
    # As `paperbot run` opens it: nothing loaded until the first embedding run,
    # which loads the stored vectors before embedding what has none.
    lazy = await open_semantic(store, "wordllama", load=False)
    assert lazy is not None and len(lazy.index) == 0
    assert await lazy.embed_missing() == 0
    assert len(lazy.index) == 4
    assert await lazy.load() == 4  # once only


@pytest.fixture
async def hybrid(store: Storage, embedder: Embedder) -> HybridSearch:
    semantic = Semantic(store, embedder)
    await semantic.embed_missing()
    return HybridSearch(store, semantic)


async def keys(search: HybridSearch, text: str, limit: int = 4) -> list[str | None]:
    page = await search.search(parse_query(text), 0, limit)
    return [paper.arxiv_id for paper in page.papers]


async def test_a_question_without_the_titles_words_finds_the_paper(hybrid: HybridSearch) -> None:
    keyword_only = HybridSearch(hybrid.storage, None)
    text = "how do I transcribe spoken recordings"
    assert await keys(keyword_only, text) == []
    assert (await keys(hybrid, text))[0] == "2601.00003"


async def test_keyword_matches_stay_first(hybrid: HybridSearch) -> None:
    found = await keys(hybrid, "quantization")
    assert found[0] == "2601.00004"  # the only literal match
    assert "2601.00001" in found  # about the same thing, in other words


async def test_explicit_syntax_filters_semantic_results(hybrid: HybridSearch) -> None:
    assert "2601.00004" not in await keys(hybrid, "low precision weights -arithmetic")
    assert await keys(hybrid, "low precision weights author:Lovelace") == ["2601.00001"]
    recent = await keys(hybrid, "low precision weights since:2025-01-01")
    assert "2601.00001" in recent and set(recent) <= {"2601.00001", "2601.00003"}
    assert await keys(hybrid, 'low precision weights "integer arithmetic"') == ["2601.00004"]
    page = await hybrid.search(parse_query("low precision weights sort:recent"), 0, 4)
    days = [paper.published_at or date.min for paper in page.papers]
    assert len(days) >= 2 and days == sorted(days, reverse=True)


async def test_off_topic_query_finds_nothing(hybrid: HybridSearch) -> None:
    assert await keys(hybrid, "pizza recipe") == []


class CountingWords:
    """The embedder, counting word-by-word matches (each asks for the query's word vectors)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.matches = 0
        self.dimensions = embedder.dimensions
        self.name = embedder.name

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        return self.embedder.embed(texts)

    def embed_words(self, words: Sequence[str]) -> np.ndarray[Any, Any]:
        self.matches += 1
        return cast(WordEmbedder, self.embedder).embed_words(words)


async def test_the_word_match_is_skipped_only_where_it_cannot_change_the_page(
    store: Storage, embedder: Embedder
) -> None:
    lattices = [
        make_paper(
            f"2602.{n:05d}",
            f"Lattice study {n}",
            summary="Lattice proofs on integer weights.",
            upvotes=n,
        )
        for n in range(1, 36)
    ]
    await store.upsert_papers(lattices)
    counting = CountingWords(embedder)
    semantic = Semantic(store, cast(Embedder, counting))
    # Only the four papers of the fixture have vectors, so no lattice paper is
    # found by meaning: the 35 keyword matches rank alone down to the 44th.
    semantic.index.add([paper.key for paper in PAPERS], embedder.embed([p.summary for p in PAPERS]))
    hybrid = HybridSearch(store, semantic)
    keyword_only = HybridSearch(store, None)

    for offset in (0, 25):
        query = parse_query("lattice weights")
        fused = await hybrid.search(query, offset, 5)
        alone = await keyword_only.search(query, offset, 5)
        assert fused.papers == alone.papers and len(fused.papers) == 5
    assert counting.matches == 0
    # The whole ranking is still there: the papers found by meaning follow.
    last = await hybrid.search(parse_query("lattice weights"), 35, 5)
    assert {paper.key for paper in last.papers} & {paper.key for paper in PAPERS}
    assert counting.matches > 0

    # Once a keyword match is found by meaning too, its place may change: matched.
    counting.matches = 0
    semantic.index.add([lattices[-1].key], embedder.embed([lattices[-1].summary]))
    await hybrid.search(parse_query("lattice"), 0, 5)
    assert counting.matches > 0


# the saved index ---------------------------------------------------------------
class CountingStorage:
    """The test's storage, counting the vector changes read through the port."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    async def vector_changes(self, model: str, after: int, limit: int) -> VectorChanges:
        page = await self.storage.vector_changes(model, after, limit)
        self.read += len(page.keys) + len(page.removed)
        return page


def restarted(store: Storage, embedder: Embedder, file: Path) -> tuple[Semantic, CountingStorage]:
    """A new Semantic over the same database and index file, as after a restart."""
    counting = CountingStorage(store)
    return Semantic(cast(Storage, counting), embedder, file), counting


QUERIES = ["how do I transcribe spoken recordings", "fewer bits for weights", "protein folding"]


def answers(semantic: Semantic) -> list[list[tuple[str, float]]]:
    return [semantic._nearest_to_text(text, 4) for text in QUERIES]


async def test_a_restart_loads_the_saved_index_and_reads_only_what_changed(
    store: Storage, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "index" / "papers.vectors"
    first, reads = restarted(store, embedder, file)
    await first.embed_missing()
    assert reads.read == 4  # each batch read back after it is stored
    assert await first.save() is True
    assert await first.save() is False  # nothing changed since
    before = answers(first)

    second, reads = restarted(store, embedder, file)
    assert await second.load() == 4
    assert reads.read == 0  # nothing stored since the save
    assert answers(second) == before
    assert second.nearest_to_paper("2601.00001", 1) == first.nearest_to_paper("2601.00001", 1)

    # While the file is stale: one paper added, one vector replaced, one removed.
    added = make_paper("2601.00005", "Speech synthesis from text", summary="Spoken audio.")
    await store.upsert_papers([added])
    await store.save_vectors(embedder.name, [added.key], embedder.embed([paper_text(added)]))
    await store.save_vectors(embedder.name, ["2601.00004"], embedder.embed(["protein folding"]))
    await store.upsert_papers([make_paper("2601.00002", "Protein folding", summary="New text.")])
    caplog.set_level(logging.INFO, "paperbot.semantic")
    third, reads = restarted(store, embedder, file)
    assert await third.load() == 4
    assert reads.read == 3  # the three changes, not every vector again
    assert "saved index and 3 changes since" in caplog.text
    assert "2601.00002" not in third.index and "2601.00005" in third.index
    # Exactly what an index built from the database now answers.
    rebuilt = Semantic(store, embedder)
    await rebuilt.load()
    for text in [*QUERIES, "text to speech"]:
        ours = third._nearest_to_text(text, 4)
        theirs = rebuilt._nearest_to_text(text, 4)
        assert [key for key, _ in ours] == [key for key, _ in theirs]
        assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-6)
    # The paper whose text changed is embedded again, and that is caught up too.
    assert await third.embed_missing() == 1 and "2601.00002" in third.index
    assert await third.save()
    fourth, reads = restarted(store, embedder, file)
    assert await fourth.load() == 5 and reads.read == 0
    assert answers(fourth) == answers(third)


async def test_vectors_stored_by_another_process_are_caught_up(
    store: Storage, embedder: Embedder, tmp_path: Path
) -> None:
    ours = Semantic(store, embedder)
    await ours.embed_missing()
    theirs = Semantic(store, embedder)
    await theirs.load()
    await store.upsert_papers([make_paper("2601.00002", "Protein folding", summary="New.")])
    await theirs.embed_missing()
    replaced = theirs.index.vector("2601.00002")
    await ours.embed_missing()  # embeds nothing: the other process did
    found = ours.index.vector("2601.00002")
    assert found is not None and replaced is not None and float(found @ replaced) > 0.999


def damage_truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def damage_flip_a_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[len(data) // 3] ^= 0xFF
    file.write_bytes(bytes(data))


def damage_garbage(file: Path) -> None:
    file.write_bytes(b"not an index at all, and longer than its trailer would be" * 3)


def damage_empty(file: Path) -> None:
    file.write_bytes(b"")


def rewrite_header(file: Path, **changes: object) -> None:
    """Give the saved file another header (its CRC covers the rest, not the header)."""
    replace_header(file, lambda header: header | changes)


def replace_header(file: Path, change: Callable[[dict[str, Any]], object]) -> None:
    data = file.read_bytes()
    index_bytes, keys_bytes, meta_bytes, magic = semantic_module.TRAILER.unpack(
        data[-semantic_module.TRAILER.size :]
    )
    start = index_bytes + keys_bytes
    meta = json.dumps(change(json.loads(data[start : start + meta_bytes]))).encode()
    trailer = semantic_module.TRAILER.pack(index_bytes, keys_bytes, len(meta), magic)
    file.write_bytes(data[:start] + meta + trailer)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (damage_truncate, "truncated"),
        (damage_flip_a_byte, "checksum"),
        (damage_garbage, "truncated or not a saved index"),
        (damage_empty, "truncated"),
        (functools.partial(rewrite_header, model="another/model"), "another/model"),
        (functools.partial(rewrite_header, format=99), "format 99"),
        (functools.partial(rewrite_header, dimensions=3), "dimensions is 3"),
        (functools.partial(rewrite_header, cursor="x"), "cursor is 'x'"),
        (functools.partial(replace_header, change=lambda header: [header]), "not a JSON object"),
    ],
)
async def test_an_unusable_file_is_rebuilt_from_the_database_with_one_warning(
    store: Storage,
    embedder: Embedder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
    reason: str,
) -> None:
    file = tmp_path / "papers.vectors"
    await Semantic(store, embedder).embed_missing()
    await Semantic(store, embedder, file).load()
    expected = answers(Semantic(store, embedder))
    damage(file)
    caplog.set_level(logging.INFO, "paperbot.semantic")
    semantic, reads = restarted(store, embedder, file)
    assert await semantic.load() == 4
    assert reads.read == 4  # every stored vector: built from the database
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    assert "rebuilding it from the database" in warnings[0].getMessage()
    assert answers(semantic) == expected or len(expected[0]) == 0
    # The rebuilt index was saved again: the next start uses it.
    again, reads = restarted(store, embedder, file)
    assert await again.load() == 4 and reads.read == 0


async def test_a_file_of_another_copy_of_the_database_is_rebuilt(
    store: Storage, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "papers.vectors"
    await Semantic(store, embedder).embed_missing()
    await Semantic(store, embedder, file).load()
    # The database loses a vector without a recorded change (restored from an older copy).
    await store.upsert_papers([make_paper("2601.00003", "Speech", summary="Other text.")])
    stale = file.read_bytes()
    await Semantic(store, embedder, file).load()
    file.write_bytes(stale)
    rewrite_header(file, cursor=10**9)  # as if saved after every change the database has
    semantic = Semantic(store, embedder, file)
    assert await semantic.load() == 3
    assert "2601.00003" not in semantic.index
    assert "disagrees with the database" in caplog.text


async def test_a_missing_file_is_built_without_a_warning(
    store: Storage, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "papers.vectors"
    await Semantic(store, embedder).embed_missing()
    semantic = Semantic(store, embedder, file)
    assert await semantic.load() == 4
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert file.exists()


async def test_a_failed_save_is_logged_and_the_index_keeps_serving(
    store: Storage, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should be")
    semantic = Semantic(store, embedder, blocker / "papers.vectors")
    await semantic.embed_missing()
    assert "cannot save the vector index" in caplog.text
    assert semantic._nearest_to_text("protein folding", 1)[0][0] == "2601.00002"
    assert not temporary_files(tmp_path)


def temporary_files(folder: Path) -> list[Path]:
    """Temporary index files left in ``folder`` or below."""
    return list(folder.glob("**/*.tmp"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 256 kB tmpfs of its own (root on Linux; skipped elsewhere)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if not mount_tmpfs(folder, "256k"):
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_full_disk_keeps_the_old_file_and_serves(
    store: Storage, embedder: Embedder, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = small_disk / "papers.vectors"
    semantic = Semantic(store, embedder, file)
    await semantic.embed_missing()
    assert await semantic.save()
    saved = file.read_bytes()
    fill_up(small_disk / "filler")
    await store.upsert_papers([make_paper("2601.00009", "Graph neural networks")])
    assert await semantic.embed_missing() == 1
    assert await semantic.save() is False
    assert "cannot save the vector index" in caplog.text
    assert file.read_bytes() == saved and not temporary_files(small_disk)
    assert "2601.00009" in semantic.index
    assert semantic._nearest_to_text("graph neural networks", 1)[0][0] == "2601.00009"


async def test_saves_wait_until_due(
    store: Storage, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "papers.vectors"
    semantic = Semantic(store, embedder, file)
    await semantic.embed_missing()  # saved at its first load, before embedding
    assert await semantic.save(when_due=True) is False  # four changes, just saved
    monkeypatch.setattr(semantic_module, "SAVE_CHANGES", 1)
    assert await semantic.save(when_due=True) is True
    assert await semantic.save() is False  # nothing new


def test_the_index_file_follows_the_configured_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def file_of(**settings: Any) -> Path:
        chosen = Settings(_env_file=None, **settings)  # type: ignore[call-arg]
        return vector_index_file(chosen, "wordllama/l2_256")

    # SQLite: beside the database file, named after it and the model.
    beside = file_of(db=tmp_path / "data" / "bot.db")
    assert beside == tmp_path / "data" / "bot.db.wordllama-l2_256.vectors"
    # PostgreSQL: the user's cache folder, one name per database (not per password).
    server = file_of(database_url="postgresql://bot:secret@db.example:5432/papers")
    assert server.parent == tmp_path / "cache" / "paperbot"
    assert server.name.startswith("postgresql-") and "secret" not in str(server)
    assert server == file_of(database_url="postgresql://bot:new@db.example:5432/papers")
    assert server != file_of(database_url="postgresql://bot:secret@db.example:5432/other")
    # PAPERBOT_INDEX_DIR wins on either.
    assert file_of(database_url="postgresql://db/papers", index_dir=tmp_path / "i").parent == (
        tmp_path / "i"
    )
    assert file_of(db=tmp_path / "bot.db", index_dir=tmp_path / "i").name.startswith("bot.db.")
