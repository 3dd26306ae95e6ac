"""Splits text into lowercase, accent-free, stop-word-free, Snowball-stemmed terms for BM25 and highlighting."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

# Words of letters/digits; inner hyphens and apostrophes split, as most users type "covid 19" or "covid-19".
_WORD = re.compile(r"\w+", re.UNICODE)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=8192)
def _folded(char: str) -> str:
    """One character's compatibility decomposition without its combining marks (é -> e, ﬁ -> fi, a mark -> "")."""
    return "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=8192)
def _folded_in_place(char: str) -> str:
    """`_folded(char)` where that is one character, else `char` itself: folding keeps every offset."""
    folded = _folded(char)
    return folded if len(folded) == 1 else char


def fold(text: str) -> str:
    """`text` without accents, as most people type it: naïve -> naive, Erdős -> Erdos. ASCII is returned as is.

    Only the non-ASCII characters are looked at, one at a time (the same as decomposing the whole text:
    the marks are dropped either way): a page's abstracts are ASCII but for a dash or the "…" that ends
    a shortened one, and folding them character by character in Python took 0.2 ms of every search.
    """
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: _folded(m.group()), text)


def fold_in_place(text: str) -> str:
    """`fold(text)` where a character folds to exactly one, leaving the others (… ﬁ) as they are: the
    result has `text`'s length, so a match in it is at the same offsets in `text`."""
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: _folded_in_place(m.group()), text)


class Tokenizer:
    """Lowercases, drops English stop words, folds accents and stems with Snowball English; caches stems per word."""

    def __init__(self, stopwords: Iterable[str] = STOPWORDS_EN, stem: bool = True) -> None:
        self.stopwords = frozenset(w.lower() for w in stopwords)
        self._stemmer = Stemmer.Stemmer("english") if stem else None
        self._cache: dict[str, str] = {}
        self._patterns: dict[tuple[frozenset[str], bool], re.Pattern[str]] = {}
        # What decides the terms of a text, so an index saved under other rules is never read back.
        rules = [_WORD.pattern, "accents folded", Stemmer.version() if stem else "unstemmed", *sorted(self.stopwords)]
        self.fingerprint = hashlib.sha256("\n".join(rules).encode()).hexdigest()[:16]

    def _stem_all(self, words: list[str]) -> list[str]:
        cache = self._cache
        missing = [w for w in set(words) if w not in cache]
        if missing:
            folded = [fold(w) for w in missing]
            stems = self._stemmer.stemWords(folded) if self._stemmer else folded
            cache.update(zip(missing, stems, strict=True))
            if len(cache) > 2_000_000:  # bound memory on odd inputs; the hot vocabulary refills fast
                cache.clear()
                cache.update(zip(missing, stems, strict=True))
        return [cache[w] for w in words]

    def words(self, text: str) -> list[str]:
        """Return the lowercase non-stop-words of `text`, unstemmed, in order."""
        stop = self.stopwords
        return [w for w in _WORD.findall(text.lower()) if w not in stop]

    def tokens(self, text: str) -> list[str]:
        """Return the stemmed terms of `text` in order (repeats kept, for term frequencies)."""
        return self._stem_all(self.words(text))

    def query_terms(self, text: str) -> dict[str, str]:
        """Return each distinct stemmed term of a query mapped to the first word typed for it."""
        words = self.words(text)
        terms: dict[str, str] = {}
        for word, term in zip(words, self._stem_all(words), strict=True):
            terms.setdefault(term, word)
        return terms

    def spans(self, text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
        """Return (start, end) character spans of the words in `text` whose stem is one of `terms`.

        This is what a page uses to highlight the matched terms of a hit. Only words that begin like
        one of the stems are stemmed (one regex pass), not every word of the text.
        """
        return self.spans_of_each([text], terms)[0]

    def spans_of_each(self, texts: Sequence[str], terms: Iterable[str]) -> list[list[tuple[int, int]]]:
        """`spans` for several texts with the same terms (a page of hits): one stemming call for all."""
        wanted = frozenset(terms)
        if not wanted or not texts:  # nothing to mark: don't build a pattern (JSON results, similar papers)
            return [[] for _ in texts]
        in_lowered = self._candidates(wanted, fold_case=False).finditer
        found: list[list[tuple[int, int, str]]] = []
        for text in texts:
            # Matching a lowercased copy is a quarter faster than matching ignoring case, and its
            # offsets are the text's when lowercasing kept the length (it can change: "İ" -> "i̇").
            # Accents are folded in place (école -> ecole), so that never changes it.
            lowered = fold_in_place(text.lower())
            if len(lowered) == len(text):
                found.append([(m.start(), m.end(), m.group()) for m in in_lowered(lowered)])
            else:
                in_text = self._candidates(wanted).finditer
                found.append([(m.start(), m.end(), m.group().lower()) for m in in_text(text)])
        stems = iter(self._stem_all([w for spans in found for _, _, w in spans]))
        stop = self.stopwords
        return [[(s, e) for s, e, w in spans if next(stems) in wanted and w not in stop] for spans in found]

    def _candidates(self, stems: frozenset[str], fold_case: bool = True) -> re.Pattern[str]:
        """Words starting with the first letters of a stem: Snowball rewrites at most the last two of
        them (happy -> happi, possibility -> possibl), so every word with that stem is among these.
        Without `fold_case` the pattern only finds lowercase words (stems are lowercase)."""
        key = (stems, fold_case)
        pattern = self._patterns.get(key)
        if pattern is None:
            prefixes = sorted({stem[: max(1, len(stem) - 2)] for stem in stems}, key=len, reverse=True)
            flags = re.IGNORECASE if fold_case else 0
            pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, prefixes)) + r")\w*", flags)
            if len(self._patterns) > 4096:
                self._patterns.clear()
            self._patterns[key] = pattern
        return pattern
