"""Verified answers as context: the ones like a new question, and the one it asks again.

A person marks a run's answer as right (``askspark runs verify``). For a new question on the same
tables, the verified answers are ranked by BM25 (``context/selection.py``) over their questions; the best
``verified_examples`` go into the prompt as worked examples. A question that asks the same thing again
(:func:`same_question`) re-runs the verified code instead of asking the model.

"The same thing" is deliberately narrow, because a wrong replay is an answer nobody checked: the same
content words (filler words, word order, plurals and the synonym groups of table selection aside), at
least ``min_similarity`` of them shared (Jaccard; 1.0, the default, means all), and never a different
number, negation, direction word or quoted value ("top 5" is not "top 3", "most" is not "least").
Pure functions: the caller supplies the verified answers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from askspark.catalog.base import TableInfo
from askspark.context.selection import BM25, split_identifier, stem, terms


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that change nothing in what a question asks. Kept small on purpose: a word left out of it can
# only prevent a replay, never cause a wrong one.
FILLER = _words(
    "a an the what which who is are was were be show me give tell list please of for each every per by "
    "in on at do does did i we our my us can could you would like to see find get return display there "
    "how many much all number"
)
# Words whose difference always changes the answer, even in a long question that is otherwise the same.
DECISIVE = _words(
    "not no without never except excluding exclude only most least top bottom first last highest lowest "
    "largest smallest biggest max maximum min minimum more less fewer greater before after above below "
    "ascending descending asc desc average avg median sum total count distinct unique percent percentage "
    "share ratio rate"
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True)
class Worked:
    """A verified answer as the prompt shows it: its run, question and final code."""

    run_id: str
    question: str
    code: str


def content_words(question: str) -> list[str]:
    """The question's words that carry meaning, stemmed and folded to one synonym, filler dropped;
    numbers and single letters kept (``top 5``: the 5 matters)."""
    words = [w for w in split_identifier(question) if w not in FILLER]
    return [w if w.isdigit() else stem(w) for w in words]


def literals(question: str) -> list[str]:
    """Quoted values, in order: ``'North'`` and ``'South'`` swapped is another question."""
    return [q.strip("'\"").lower() for q in _QUOTED.findall(question)]


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of the two questions' content words (1.0: the same words)."""
    left, right = set(content_words(a)), set(content_words(b))
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def same_question(asked: str, verified: str, min_similarity: float = 1.0) -> bool:
    """Whether ``asked`` asks what ``verified`` asked: similar enough, and no decisive word, number or
    quoted value differs."""
    if similarity(asked, verified) < min_similarity or literals(asked) != literals(verified):
        return False
    differ = set(content_words(asked)) ^ set(content_words(verified))
    stems = {stem(w) for w in DECISIVE}
    return not any(w.isdigit() or len(w) == 1 or w in stems for w in differ)


def usable(tables: Sequence[str], verified_tables: Sequence[str]) -> bool:
    """A verified answer can serve a question whose tables include all of its own."""
    return bool(verified_tables) and set(verified_tables) <= set(tables)


def rank(question: str, answers: Sequence[Worked], top: int) -> list[Worked]:
    """The ``top`` verified answers whose questions share most words with ``question`` (BM25), best first."""
    if not answers or top <= 0:
        return []
    index = BM25([Counter(terms(a.question)) for a in answers])
    query = terms(question)
    scored = [(index.score(query, i)[0], i) for i in range(len(answers))]
    return [answers[i] for s, i in sorted(scored, key=lambda si: (-si[0], si[1])) if s > 0][:top]


def replayable(question: str, answers: Sequence[Worked], min_similarity: float = 1.0) -> Worked | None:
    """The verified answer that asks the same as ``question``, if one does (the most similar first)."""
    same = [a for a in answers if same_question(question, a.question, min_similarity)]
    return max(same, key=lambda a: similarity(question, a.question), default=None)


def fingerprint(tables: Sequence[TableInfo]) -> str:
    """A short hash of the tables' names, columns and types: it changes when a schema does."""
    shape = sorted((t.qualified_name, [(c.name, c.type) for c in t.columns]) for t in tables)
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]
