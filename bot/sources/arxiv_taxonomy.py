"""The arXiv category taxonomy, bundled with the bot, and the ``arxiv:`` source spec.

The data (``arxiv_categories.json``) lists every active arXiv category, the archives
that can be subscribed to whole, and the aliases arXiv defines (``math.MP`` is
``math-ph``, ``cs.SY`` is ``eess.SY``, ...) plus the defunct archives it folded into
categories (``alg-geom`` is ``math.AG``). Everything here is pure and offline:
validating ``/settings source arxiv:cs.CL,cs.LG`` must not need the network.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "ARXIV_PREFIX",
    "HF_SOURCE",
    "MAX_CATEGORIES",
    "ArxivCategory",
    "InvalidSourceSpec",
    "Taxonomy",
    "UnknownCategory",
    "complete_source",
    "format_arxiv_source",
    "load_taxonomy",
    "parse_arxiv_source",
]

ARXIV_PREFIX = "arxiv:"
# The source of a subscription without arXiv categories: Hugging Face Daily Papers.
HF_SOURCE = "hf"
# One feed request serves every category of a subscription; arXiv caps a combined
# feed at 2000 entries, which a handful of busy categories already reach.
MAX_CATEGORIES = 20
AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 choices
CHOICE_CHARS = 100  # Discord's limit for a choice's name and value
HF_CHOICE = ("hf — Hugging Face Daily Papers", "hf")

_SEPARATORS = re.compile(r"[\s,+;]+")
_LIST_SEPARATORS = re.compile(r"[,+;]")


@dataclass(frozen=True, slots=True)
class ArxivCategory:
    """One subscribable arXiv category, or a whole archive (``cs``, ``math``, ...)."""

    code: str
    name: str
    archive: str
    archive_name: str
    group: str
    is_archive: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``code — name``, as shown in help texts and autocomplete lists."""
        return f"{self.code} — {self.name}"


class InvalidSourceSpec(ValueError):
    """A source spec that cannot be used; the message is fit to show to the user."""


class UnknownCategory(InvalidSourceSpec):
    """One or more category codes arXiv does not have.

    ``unknown`` maps each code as the user typed it to a few close real codes.
    """

    def __init__(self, unknown: Mapping[str, tuple[str, ...]]) -> None:
        self.unknown = dict(unknown)
        parts = []
        for code, close in self.unknown.items():
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            parts.append(f"{code}{hint}")
        noun = "category" if len(parts) == 1 else "categories"
        super().__init__(f"arXiv has no {noun} {'; '.join(parts)}")


class Taxonomy:
    """Lookup, validation and search over the arXiv categories.

    ``data`` has the shape of ``arxiv_categories.json``: ``archives`` (code → name,
    group), ``categories`` (code → name, archive) and ``aliases`` (code → canonical).
    """

    def __init__(self, data: Mapping[str, object]) -> None:
        archives = _mapping(data, "archives")
        categories = _mapping(data, "categories")
        aliases = {str(k): str(v) for k, v in _mapping(data, "aliases").items()}
        alias_of: dict[str, list[str]] = {}
        for alias, canonical in aliases.items():
            alias_of.setdefault(canonical, []).append(alias)
        self._entries: dict[str, ArxivCategory] = {}
        for code, info in categories.items():
            archive = str(_field(info, "archive"))
            archive_info = _mapping(archives, archive)
            self._entries[code] = ArxivCategory(
                code=code,
                name=str(_field(info, "name")),
                archive=archive,
                archive_name=str(_field(archive_info, "name")),
                group=str(_field(archive_info, "group")),
                is_archive=code == archive,
                aliases=tuple(alias_of.get(code, ())),
            )
        for code, info in archives.items():
            if code not in self._entries:  # hep-th & co. are archive and category at once
                name = str(_field(info, "name"))
                group = str(_field(info, "group"))
                self._entries[code] = ArxivCategory(code, name, code, name, group, True)
        missing = sorted(c for c in aliases.values() if c not in self._entries)
        if missing:
            raise ValueError(f"aliases point at unknown categories: {missing}")
        # Lower-cased lookup; an alias resolves to its canonical code.
        self._lookup = {code.casefold(): code for code in self._entries}
        for alias, canonical in aliases.items():
            self._lookup[alias.casefold()] = canonical
        self._canonical = sorted(c for c in self._entries if c not in aliases)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ArxivCategory]:
        return iter(self._entries.values())

    def resolve(self, code: str) -> ArxivCategory | None:
        """The canonical category for ``code`` (any case, aliases followed), or ``None``."""
        canonical = self._lookup.get(code.strip().casefold())
        return self._entries[canonical] if canonical is not None else None

    def get(self, code: str) -> ArxivCategory:
        """Like :meth:`resolve`, but raises :class:`UnknownCategory` naming ``code``."""
        found = self.resolve(code)
        if found is None:
            raise UnknownCategory({code: self.suggest(code)})
        return found

    def suggest(self, code: str, limit: int = 3) -> tuple[str, ...]:
        """Real canonical codes that look like ``code`` (by spelling, then by name)."""
        typed = code.strip().casefold()
        close = difflib.get_close_matches(typed, list(self._lookup), n=limit * 2, cutoff=0.6)
        found: list[str] = []
        for key in close:
            canonical = self._lookup[key]
            if canonical not in found:
                found.append(canonical)
        if not found:
            found = [c.code for c in self.search(code.replace(".", " "), limit)]
        return tuple(found[:limit])

    def search(self, text: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[ArxivCategory]:
        """Categories matching ``text`` by code or name, best first, at most ``limit``.

        Every word must match the code, an alias, the name, the archive or the group.
        An exact code comes first, then codes starting with the text, then names with
        a word starting with it, then other matches. Empty text lists all, by code.
        """
        words = text.casefold().split()
        if not words:
            return [self._entries[c] for c in self._canonical[:limit]]
        whole = " ".join(words)
        ranked: list[tuple[int, str]] = []
        for code in self._canonical:
            entry = self._entries[code]
            codes = [code.casefold(), *(a.casefold() for a in entry.aliases)]
            haystack = " ".join([*codes, entry.name, entry.archive_name, entry.group]).casefold()
            if not all(word in haystack for word in words):
                continue
            name_words = entry.name.casefold().split()
            if whole in codes:
                rank = 0
            elif any(c.startswith(whole) for c in codes):
                rank = 1
            elif any(w.startswith(words[0]) for w in name_words):
                rank = 2
            else:
                rank = 3
            ranked.append((rank, code))
        ranked.sort()
        return [self._entries[code] for _, code in ranked[:limit]]


@cache
def load_taxonomy() -> Taxonomy:
    """The taxonomy bundled with the bot (read once)."""
    raw = resources.files("bot.sources").joinpath("arxiv_categories.json").read_text("utf-8")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("arxiv_categories.json must hold an object")
    return Taxonomy(data)


def parse_arxiv_source(spec: str, taxonomy: Taxonomy | None = None) -> tuple[str, ...]:
    """The canonical category codes of an ``arxiv:cs.CL,cs.LG`` source spec.

    Case does not matter, codes may be separated by commas, spaces or ``+``,
    aliases become their canonical code and repeats are dropped (order kept).
    Raises :class:`UnknownCategory` naming every unknown code with suggestions,
    or :class:`InvalidSourceSpec` for a spec without the prefix or categories.
    """
    taxonomy = taxonomy or load_taxonomy()
    text = spec.strip()
    if not text.casefold().startswith(ARXIV_PREFIX):
        raise InvalidSourceSpec(f"an arXiv source starts with {ARXIV_PREFIX} (e.g. arxiv:cs.CL)")
    typed = [code for code in _SEPARATORS.split(text[len(ARXIV_PREFIX) :]) if code]
    if not typed:
        raise InvalidSourceSpec("name at least one arXiv category, e.g. arxiv:cs.CL,cs.LG")
    codes: list[str] = []
    unknown: dict[str, tuple[str, ...]] = {}
    for code in typed:
        found = taxonomy.resolve(code)
        if found is None:
            unknown[code[:40]] = taxonomy.suggest(code[:40])
        elif found.code not in codes:
            codes.append(found.code)
    if unknown:
        raise UnknownCategory(unknown)
    if len(codes) > MAX_CATEGORIES:
        raise InvalidSourceSpec(
            f"at most {MAX_CATEGORIES} arXiv categories per subscription ({len(codes)} given)"
        )
    return tuple(codes)


def format_arxiv_source(codes: tuple[str, ...]) -> str:
    """The canonical spec for ``codes``: ``arxiv:cs.CL,cs.LG``."""
    return ARXIV_PREFIX + ",".join(codes)


def complete_source(typed: str, taxonomy: Taxonomy | None = None) -> list[tuple[str, str]]:
    """(label, value) suggestions for a source being typed, for autocomplete menus.

    The last code of a list is completed (``cs.CL,mach`` offers
    ``arxiv:cs.CL,cs.LG — Machine Learning``); the codes before it are kept as
    typed, canonicalised when known. ``hf`` is offered while it fits what was
    typed. Values longer than a menu can carry are left out.
    """
    taxonomy = taxonomy or load_taxonomy()
    text = typed.strip()
    prefixed = text.casefold().startswith(ARXIV_PREFIX)
    body = text[len(ARXIV_PREFIX) :] if prefixed else text
    # Spaces may separate codes or the words of a name being searched for.
    parts = _LIST_SEPARATORS.split(body)
    words = parts[-1].split()
    typed_codes = [code for part in parts[:-1] for code in part.split()]
    while len(words) > 1 and taxonomy.resolve(words[0]) is not None:
        typed_codes.append(words.pop(0))
    last = " ".join(words)
    kept: list[str] = []
    for code in typed_codes:
        found = taxonomy.resolve(code)
        kept.append(found.code if found else code)
    choices: list[tuple[str, str]] = []
    if not prefixed and not kept and HF_SOURCE.startswith(text.casefold()):
        choices.append(HF_CHOICE)
    for entry in taxonomy.search(last, AUTOCOMPLETE_LIMIT + len(kept)):
        if entry.code in kept:
            continue
        value = format_arxiv_source((*kept, entry.code))
        if len(value) <= CHOICE_CHARS:
            choices.append((f"{value} — {entry.name}"[:CHOICE_CHARS], value))
    return choices[:AUTOCOMPLETE_LIMIT]


def _mapping(data: Mapping[str, object], key: str) -> Mapping[str, object]:
    """``data[key]`` as a mapping, or a ``ValueError`` naming the key."""
    value = data.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"taxonomy data: {key!r} must be an object")
    return value


def _field(info: object, key: str) -> object:
    """``info[key]`` of one taxonomy record, or a ``ValueError`` naming the key."""
    if not isinstance(info, dict) or key not in info:
        raise ValueError(f"taxonomy data: a record lacks {key!r}")
    return info[key]
