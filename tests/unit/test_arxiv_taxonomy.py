"""The bundled arXiv taxonomy: completeness, the arxiv: source spec, suggestions, search."""

from __future__ import annotations

import pytest

from bot.sources.arxiv_taxonomy import (
    AUTOCOMPLETE_LIMIT,
    MAX_CATEGORIES,
    InvalidSourceSpec,
    Taxonomy,
    UnknownCategory,
    format_arxiv_source,
    load_taxonomy,
    parse_arxiv_source,
)

ALIASES = {
    "math.IT": "cs.IT",
    "math.MP": "math-ph",
    "q-fin.EC": "econ.GN",
    "cs.SY": "eess.SY",
    "stat.TH": "math.ST",
    "cs.NA": "math.NA",
}


def test_every_current_category_is_there_with_its_name():
    taxonomy = load_taxonomy()
    subject_classes = [c.code for c in taxonomy if not c.is_archive]
    archives_with_subjects = {c.archive for c in taxonomy if not c.is_archive}
    standalone = [c.code for c in taxonomy if c.is_archive and c.code not in archives_with_subjects]

    # arXiv's taxonomy page lists 155 categories: 146 subject classes and 9 archives
    # without subject classes; the 11 other archives can be subscribed to whole.
    assert (len(subject_classes), len(standalone), len(archives_with_subjects)) == (146, 9, 11)
    assert sorted(standalone) == [
        "gr-qc",
        "hep-ex",
        "hep-lat",
        "hep-ph",
        "hep-th",
        "math-ph",
        "nucl-ex",
        "nucl-th",
        "quant-ph",
    ]
    names = {c.code: c.name for c in taxonomy}
    assert names["cs.CL"] == "Computation and Language"
    assert names["math.AG"] == "Algebraic Geometry"
    assert names["physics.optics"] == "Optics"
    assert names["q-bio.NC"] == "Neurons and Cognition"
    assert names["econ.EM"] == "Econometrics"
    assert names["eess.SP"] == "Signal Processing"
    assert names["hep-th"] == "High Energy Physics - Theory"
    assert names["gr-qc"] == "General Relativity and Quantum Cosmology"
    assert names["quant-ph"] == "Quantum Physics"
    assert {c.code for c in taxonomy if c.archive == "astro-ph" and not c.is_archive} == {
        "astro-ph.CO",
        "astro-ph.EP",
        "astro-ph.GA",
        "astro-ph.HE",
        "astro-ph.IM",
        "astro-ph.SR",
    }
    assert len([c for c in taxonomy if c.archive == "cond-mat" and not c.is_archive]) == 9
    assert len([c for c in taxonomy if c.archive == "nlin" and not c.is_archive]) == 5
    assert len([c for c in taxonomy if c.archive == "cs" and not c.is_archive]) == 40


def test_codes_are_unique_ignoring_case():
    codes = [c.code.casefold() for c in load_taxonomy()]

    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(("alias", "canonical"), sorted(ALIASES.items()))
def test_aliases_resolve_to_arxivs_canonical_code(alias: str, canonical: str):
    taxonomy = load_taxonomy()

    resolved = taxonomy.resolve(alias.upper())
    assert resolved is not None and resolved.code == canonical
    assert alias in resolved.aliases
    assert parse_arxiv_source(f"arxiv:{alias}") == (canonical,)


def test_spec_is_case_insensitive_canonical_and_deduplicated():
    codes = parse_arxiv_source("  ARXIV:CS.cl, cs.LG+Hep-Th  stat.th ;cs.cl")

    assert codes == ("cs.CL", "cs.LG", "hep-th", "math.ST")
    assert format_arxiv_source(codes) == "arxiv:cs.CL,cs.LG,hep-th,math.ST"


def test_whole_archives_and_defunct_archives():
    assert parse_arxiv_source("arxiv:math,astro-ph") == ("math", "astro-ph")
    assert parse_arxiv_source("arxiv:alg-geom") == ("math.AG",)


def test_unknown_category_is_refused_by_name_with_suggestions():
    with pytest.raises(UnknownCategory) as caught:
        parse_arxiv_source("arxiv:cs.CL,cs.NOPE")

    error = caught.value
    assert str(error).startswith("arXiv has no category cs.NOPE (did you mean cs.NE")
    assert list(error.unknown) == ["cs.NOPE"]
    assert "cs.CL" not in str(error)


def test_every_unknown_category_is_named():
    with pytest.raises(UnknownCategory) as caught:
        parse_arxiv_source("arxiv:quant-phh,cs.CL,machine")

    assert list(caught.value.unknown) == ["quant-phh", "machine"]
    assert caught.value.unknown["quant-phh"][0] == "quant-ph"
    assert set(caught.value.unknown["machine"]) == {"cs.LG", "stat.ML"}  # found by name
    assert str(caught.value).startswith("arXiv has no categories quant-phh")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hf", "starts with arxiv:"),
        ("cs.CL", "starts with arxiv:"),
        ("arxiv:", "at least one"),
        ("arxiv: , +", "at least one"),
    ],
)
def test_specs_without_categories_are_refused(spec: str, message: str):
    with pytest.raises(InvalidSourceSpec, match=message):
        parse_arxiv_source(spec)


def test_too_many_categories_are_refused():
    many = [c.code for c in load_taxonomy() if "." in c.code][: MAX_CATEGORIES + 1]

    with pytest.raises(InvalidSourceSpec, match=f"at most {MAX_CATEGORIES}"):
        parse_arxiv_source("arxiv:" + ",".join(many))


def test_search_by_code_prefix_and_by_name():
    taxonomy = load_taxonomy()

    assert [c.code for c in taxonomy.search("cs.c")][:7] == [
        "cs.CC",
        "cs.CE",
        "cs.CG",
        "cs.CL",
        "cs.CR",
        "cs.CV",
        "cs.CY",
    ]
    assert [c.code for c in taxonomy.search("machine learning")] == ["cs.LG", "stat.ML"]
    assert taxonomy.search("cs.CL")[0].label == "cs.CL — Computation and Language"
    assert [c.code for c in taxonomy.search("Neurons")] == ["q-bio.NC"]
    assert [c.code for c in taxonomy.search("math.it")] == ["cs.IT"]  # found through its alias
    assert taxonomy.search("zzzz") == []


def test_search_caps_results_for_autocomplete():
    taxonomy = load_taxonomy()

    assert len(taxonomy.search("")) == AUTOCOMPLETE_LIMIT
    assert len(taxonomy.search("physics")) == AUTOCOMPLETE_LIMIT
    assert len(taxonomy.search("physics", limit=5)) == 5
    codes = [c.code for c in taxonomy.search("systems", limit=100)]
    assert "cs.SY" not in codes and "eess.SY" in codes  # aliases are listed once


def test_inconsistent_data_is_rejected():
    data = {
        "archives": {"cs": {"name": "Computer Science", "group": "Computer Science"}},
        "categories": {"cs.CL": {"name": "Computation and Language", "archive": "cs"}},
        "aliases": {"cmp-lg": "cs.XX"},
    }

    with pytest.raises(ValueError, match="unknown categories"):
        Taxonomy(data)
