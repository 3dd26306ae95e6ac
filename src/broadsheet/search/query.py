"""What a search box query means: words, quoted phrases, `author:` and `cat:` terms, or a paper to go to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from broadsheet.errors import InvalidInput
from broadsheet.sources.records import InvalidArxivId, is_arxiv_category, split_arxiv_id

MAX_QUERY_CHARS = 500
_PAPER_URL = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)|huggingface\.co/papers|hf\.co/papers)/"
    r"(?P<id>[^?#\s]+?)(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_AUTHOR = re.compile(r'\bauthor:(?:"(?P<quoted>[^"]*)"|(?P<word>\S*))', re.IGNORECASE)
# `cat:cs.CL` as on arXiv, or `category:cs.CL`; the value is checked by `category_key`.
_CATEGORY = re.compile(r"\b(?:cat|category):(?P<value>\S*)", re.IGNORECASE)
_PHRASE = re.compile(r'"([^"]+)"')
_WORDLIKE = re.compile(r"\w", re.UNICODE)


@dataclass
class ParsedQuery:
    """The ranking text, the exact phrases and author names it must contain, the categories it is
    limited to (any of them), or a paper id to open."""

    text: str = ""
    phrases: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    paper_id: str | None = None
    categories: list[str] = field(default_factory=list)


def category_key(value: str, field_name: str = "category") -> str:
    """A requested category, lowercased for matching in any case (cs.cl finds cs.CL); a clear error
    when it cannot be an arXiv category or archive."""
    value = value.strip()
    if not is_arxiv_category(value):
        raise InvalidInput(
            f"{field_name}: {value!r} is not an arXiv category; "
            "use one such as cs.CL or math.OC, or a whole archive such as cs"
        )
    return value.lower()


def paper_id_of(raw: str) -> str | None:
    """The arXiv id that `raw` names (an id, arXiv:id, or an arXiv or Hugging Face paper URL), or None."""
    candidate = raw
    match = _PAPER_URL.match(raw)
    if match:
        candidate = match.group("id")
    elif raw.lower().startswith("arxiv:"):
        candidate = raw[6:]
    try:
        return split_arxiv_id(candidate)[0]
    except InvalidArxivId:
        if match:
            raise InvalidInput(f"that link does not name an arXiv paper: {raw!r}") from None
        return None


def parse_query(raw: str) -> ParsedQuery:
    query = (raw or "").strip()
    if not query:
        raise InvalidInput("q: type some words to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q: a query can have at most {MAX_QUERY_CHARS} characters, this one has {len(query)}")
    paper_id = paper_id_of(query)
    if paper_id:
        return ParsedQuery(paper_id=paper_id)
    authors = [m.group("quoted") or m.group("word") or "" for m in _AUTHOR.finditer(query)]
    if any(not _WORDLIKE.search(author) for author in authors):
        raise InvalidInput('q: author: needs a name, as in author:Hinton or author:"Geoffrey Hinton"')
    rest = _AUTHOR.sub(" ", query)
    typed = [m.group("value") for m in _CATEGORY.finditer(rest)]
    if any(not value for value in typed):
        raise InvalidInput("q: cat: needs an arXiv category, as in cat:cs.CL, or an archive, as in cat:cs")
    for value in typed:
        category_key(value, "q")  # refused here, naming the query, when it cannot be a category
    rest = _CATEGORY.sub(" ", rest)
    phrases = [p.strip() for p in _PHRASE.findall(rest) if p.strip()]
    text = " ".join(rest.replace('"', " ").split())
    if not _WORDLIKE.search(text) and not authors:
        if typed:
            raise InvalidInput(
                f"q: add words to search for in {', '.join(typed)}, as in cat:{typed[0]} speech "
                f"(/category/{typed[0]} lists its newest papers)"
            )
        raise InvalidInput("q: the query has no letters or digits to search for")
    return ParsedQuery(text=text, phrases=phrases, authors=[a.strip() for a in authors], categories=typed)
