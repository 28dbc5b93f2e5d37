"""Spelling variants of a search word: what a researcher means by the same word.

The index stores words as written (no stemming: "tokenizer" must not match
"token"), so a query word is widened here into the forms that mean the same:
singular and plural, British and American spelling, and a hyphenated
compound written joined or apart (pretraining = pre-training = pre training).
Backends turn each word's variants into an OR group; this module knows no
search engine.
"""

from __future__ import annotations

import functools
import re

# Words whose British and American forms differ beyond the regular rules below.
# fmt: off
_TABLE = {
    "dialogue": "dialog", "dialogues": "dialogs", "catalogue": "catalog",
    "analogue": "analog", "centre": "center", "centres": "centers", "centred": "centered",
    "metre": "meter", "litre": "liter", "fibre": "fiber", "grey": "gray",
    "programme": "program", "programmes": "programs", "defence": "defense",
    "licence": "license", "offence": "offense", "aluminium": "aluminum",
    "travelled": "traveled", "travelling": "traveling", "judgement": "judgment",
    "judgements": "judgments", "acknowledgement": "acknowledgment",
    "artefact": "artifact", "artefacts": "artifacts", "enrolment": "enrollment",
    "fulfil": "fulfill", "ageing": "aging", "plough": "plow", "sceptical": "skeptical",
    "manoeuvre": "maneuver", "oestrogen": "estrogen", "haemoglobin": "hemoglobin",
    "anaemia": "anemia", "paediatric": "pediatric", "oesophagus": "esophagus",
    "tumour": "tumor", "tumours": "tumors",
}
# Doubled "l" before a suffix is British (modelling, labelled, signalling).
_DOUBLE_L = re.compile(r"^(\w+?[aeiou])ll(ing|ed|er|ers)$")
_SINGLE_L = re.compile(r"^(\w+?[aeiou])l(ing|ed|er|ers)$")
# -ise/-isation and -yse: optimise, normalisation, analyse.
_ISE = re.compile(r"^(\w{3,})is(e|es|ed|ing|er|ers|ation|ations|able)$")
_IZE = re.compile(r"^(\w{3,})iz(e|es|ed|ing|er|ers|ation|ations|able)$")
_YSE = re.compile(r"^(\w{3,})ys(e|es|ed|ing|er|ers)$")
_YZE = re.compile(r"^(\w{3,})yz(e|es|ed|ing|er|ers)$")
_OUR = re.compile(r"^(\w*[^aeiou\W])our(s|ed|ing|ful|ite|ites|al)?$")
_OR = re.compile(r"^(\w*[^aeiou\W])or(s|ed|ing|ful|ite|ites|al)?$")
# The first part of compounds written joined, hyphenated or apart.
PREFIXES = (
    "pre", "post", "multi", "self", "non", "co", "re", "sub", "semi", "cross", "fine",
    "zero", "few", "inter", "intra", "over", "under", "meta", "hyper", "super", "auto",
    "bi", "tri", "uni", "mono", "single", "mid", "anti", "counter", "long", "short",
    "open", "real", "out", "down",
)
# fmt: on
_REVERSE_TABLE = {american: british for british, american in _TABLE.items()}
_MAX_VARIANTS = 8
_MIN_SINGULAR = 4


def _number_forms(word: str) -> set[str]:
    """``word`` with its singular or plural (English regular forms only)."""
    forms = {word}
    if not word.isalpha() or len(word) < 3:
        return forms
    if word.endswith("ies") and len(word) > _MIN_SINGULAR:
        forms.add(word[:-3] + "y")
    elif word.endswith(("sses", "xes", "ches", "shes")):
        forms.add(word[:-2])
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > _MIN_SINGULAR:
        forms.add(word[:-1])
    elif word.endswith("y") and len(word) > 3 and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    elif word.endswith(("s", "x", "ch", "sh")):
        forms.add(word + "es")
    else:
        forms.add(word + "s")
    return forms


def _regional_forms(word: str) -> set[str]:
    """British and American spellings of ``word`` (itself included)."""
    forms = {word}
    for table in (_TABLE, _REVERSE_TABLE):
        if word in table:
            forms.add(table[word])
    for pattern, infix in ((_ISE, "iz"), (_IZE, "is"), (_YSE, "yz"), (_YZE, "ys")):
        if match := pattern.match(word):
            forms.add(match.group(1) + infix + match.group(2))
    if match := _DOUBLE_L.match(word):
        forms.add(f"{match.group(1)}l{match.group(2)}")
    elif match := _SINGLE_L.match(word):
        forms.add(f"{match.group(1)}ll{match.group(2)}")
    if match := _OUR.match(word):
        forms.add(f"{match.group(1)}or{match.group(2) or ''}")
    elif match := _OR.match(word):
        forms.add(f"{match.group(1)}our{match.group(2) or ''}")
    return forms


def split_compound(word: str) -> str | None:
    """``"pre training"`` for ``"pretraining"``: a joined compound written apart, else None."""
    for prefix in PREFIXES:
        rest = word[len(prefix) :]
        if word.startswith(prefix) and len(rest) > _MIN_SINGULAR and rest.isalpha():
            return f"{prefix} {rest}"
    return None


def join_compound(first: str, second: str) -> str | None:
    """``"pretraining"`` for ``("pre", "training")`` when ``first`` is a compound's first part."""
    if first in PREFIXES and len(second) >= _MIN_SINGULAR and second.isalpha():
        return first + second
    return None


@functools.lru_cache(maxsize=4096)
def word_variants(word: str) -> tuple[str, ...]:
    """The forms of one search term that mean the same, ``word`` first.

    ``word`` is lower-case word characters, possibly several words separated
    by spaces (a hyphenated term as typed: "pre training"); a variant may be
    several words too. Forms differ in number (last word only), British or
    American spelling, and joined or separated compound.
    """
    tokens = word.split()
    spellings = {word}
    if len(tokens) == 2 and (joined := join_compound(*tokens)):
        spellings.add(joined)
    elif len(tokens) == 1 and (apart := split_compound(word)):
        spellings.add(apart)
    found: dict[str, None] = {word: None}
    for spelling in sorted(spellings, key=lambda s: s != word):
        *head, last = spelling.split()
        for regional in sorted(_regional_forms(last)):
            for form in sorted(_number_forms(regional)):
                found[" ".join((*head, form))] = None
    return tuple(found)[:_MAX_VARIANTS]


def compound_pairs(words: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """``words`` grouped for matching: a compound's parts typed apart become one pair.

    ``("pre", "training", "data")`` gives ``[("pre training", "pretraining"),
    ("data", None)]``: the pair's two words match anywhere, or joined as one.
    """
    groups: list[tuple[str, str | None]] = []
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        joined = (
            join_compound(word, following)
            if " " not in word and following and " " not in following
            else None
        )
        if joined:
            groups.append((f"{word} {following}", joined))
            index += 2
        else:
            groups.append((word, None))
            index += 1
    return groups
