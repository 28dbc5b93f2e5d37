"""Reading the paper a user names: a whole arXiv id, an arXiv or Hugging Face URL, a title key."""

from __future__ import annotations

import re

from bot.cards import shorten
from bot.errors import UserError
from bot.models import bare_arxiv_id

# An arXiv or Hugging Face paper URL; the id after it must be the whole rest of
# the path (an optional ".pdf", "/", query or fragment aside).
_PAPER_URL_RE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:arxiv\.org/(?:abs|pdf)|huggingface\.co/papers)/"
    r"(?P<id>[^?#\s]+?)(?:\.pdf)?/?(?:[?#]\S*)?",
    re.IGNORECASE,
)


def paper_key_from(text: str) -> str | None:
    """The paper key in a whole arXiv id, an arXiv/Hugging Face URL, or a ``t:`` title key.

    Old-style ids (``hep-th/9901001``) count; an id inside other text does not,
    so ``/paper 12305.148581`` or ``/paper abc 2305.14858`` open nothing.
    """
    text = text.strip()
    if re.fullmatch(r"t:[0-9a-f]{16}", text):
        return text
    url = _PAPER_URL_RE.fullmatch(text)
    candidate = url.group("id") if url else text.removeprefix("arXiv:").removeprefix("arxiv:")
    return bare_arxiv_id(candidate)


def key_argument(command: str, args: str) -> str:
    """The paper key in ``args`` of /paper or /similar, else a ``UserError`` saying why."""
    if not args:
        raise UserError(f"Usage: /{command} <arXiv id or URL>, e.g. /{command} 2305.14858")
    key = paper_key_from(args)
    if key is None:
        raise UserError(
            f"{shorten(args, 60)!r} is not an arXiv id like 2305.14858 or hep-th/9901001,"
            " nor an arXiv or Hugging Face paper URL."
        )
    return key
