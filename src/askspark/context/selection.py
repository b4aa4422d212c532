"""Picking tables by the question, when the user names none.

Each table is a small weighted document: its name (weight 3), its table comment (2), its column names
(1.5), its column comments and database name (1). Identifiers are split (``customerId``,
``order_items`` -> customer id, order item), words are lowercased and lightly stemmed, and a few common
business synonyms are folded together. Tables are ranked by BM25 against the question; the best
``auto_tables`` that score at least ``auto_min_score`` of the best one are chosen, each with the words
that matched, so the user can see why; a table with exactly the columns of a better one (a staging
copy, an archive) is skipped, and names marking a working copy (``stg_``, ``tmp_``, ``_backup`` ...)
score 0.8 of their match. The whole catalog never reaches the prompt.

``benchmarks/table_selection.py`` measures recall on a generated catalog of 236 tables.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from askspark.catalog.base import TableInfo

K1, B = 1.2, 0.75
WEIGHTS = {"name": 3.0, "table_comment": 2.0, "column": 1.5, "column_comment": 1.0, "database": 1.0}

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "did",
        "do",
        "does",
        "each",
        "for",
        "from",
        "give",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "list",
        "me",
        "most",
        "my",
        "of",
        "on",
        "or",
        "our",
        "per",
        "show",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "this",
        "those",
        "to",
        "top",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "all",
        "any",
        "many",
        "much",
        "number",
        "there",
        "than",
        "least",
        "more",
        "fewer",
        "less",
        "between",
        "during",
        "over",
        "under",
        "into",
        "across",
        "among",
        "every",
        "both",
    ]
)

# Words people use for the same thing; each group is folded to its first word.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("customer", "client", "buyer", "shopper", "consumer"),
    ("employee", "staff", "worker", "personnel", "headcount"),
    ("product", "item", "sku", "article", "merchandise"),
    ("order", "purchase"),
    ("revenue", "sale", "turnover", "income"),
    ("salary", "pay", "wage", "compensation", "payroll"),
    ("supplier", "vendor"),
    ("ticket", "incident"),
    ("shipment", "delivery", "parcel"),
)
_CANONICAL = {word: group[0] for group in SYNONYMS for word in group}
# Working copies rank below the table they copy: a staging load or a backup is rarely what a question
# means, and its name and comment repeat the original's words.
_COPY_NAME = re.compile(
    r"^(stg|staging|tmp|temp|raw|bak|backup|old|test)_|_(stg|staging|tmp|temp|raw|bak|backup|old|archive|copy)$"
)
COPY_PENALTY = 0.8


@dataclass
class TableChoice:
    """One chosen table: its qualified name, its BM25 score and the question words it matched."""

    table: TableInfo
    score: float
    matched: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return f"matched {', '.join(self.matched)} (score {self.score:.2f})"


def split_identifier(text: str) -> list[str]:
    """``customerID_total`` -> ``customer id total``: camelCase, digits and punctuation split words."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", text.lower()) if w]


def stem(word: str) -> str:
    """A light English stemmer: plurals and -ing/-ed endings, enough to match ``orders`` with ``order``."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        word = word[:-2]
    elif word == "daily":
        word = "day"
    elif len(word) > 5 and word.endswith("ly"):  # monthly, weekly, yearly
        word = word[:-2]
    return _CANONICAL.get(word, word)


def terms(text: str) -> list[str]:
    """The index terms of ``text``: split identifiers, stop words dropped, stemmed."""
    return [stem(w) for w in split_identifier(text) if w not in STOPWORDS and len(w) > 1]


def table_terms(table: TableInfo) -> Counter[str]:
    """The table's weighted term frequencies."""
    tf: Counter[str] = Counter()
    parts = [
        ("name", table.name),
        ("database", table.database),
        ("table_comment", table.comment or ""),
        *(("column", c.name) for c in table.columns),
        *(("column_comment", c.comment or "") for c in table.columns),
    ]
    for kind, text in parts:
        for term in terms(text):
            tf[term] += WEIGHTS[kind]  # type: ignore[assignment]
    return tf


class Bm25:
    """BM25 over weighted term-frequency documents (tables here, knowledge entries in context/knowledge.py)."""

    def __init__(self, docs: Sequence[Counter[str]]) -> None:
        self.docs = list(docs)
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 1.0
        df: Counter[str] = Counter(term for d in self.docs for term in d)
        n = len(self.docs)
        self.idf = {term: math.log(1 + (n - k + 0.5) / (k + 0.5)) for term, k in df.items()}

    def score(self, query: list[str], i: int) -> tuple[float, list[str]]:
        """BM25 of document ``i`` for the query terms, and the terms that matched."""
        doc, norm = self.docs[i], K1 * (1 - B + B * self.lengths[i] / self.avg_length)
        total, matched = 0.0, []
        for term in dict.fromkeys(query):
            tf = doc.get(term, 0)
            if tf:
                total += self.idf[term] * tf * (K1 + 1) / (tf + norm)
                matched.append(term)
        return total, matched


class TableIndex:
    """A BM25 index over a catalog's tables, built once per catalog listing."""

    def __init__(self, tables: Sequence[TableInfo]) -> None:
        self.tables = list(tables)
        self.bm25 = Bm25([table_terms(t) for t in self.tables])

    def score(self, query: list[str], i: int) -> tuple[float, list[str]]:
        """BM25 of table ``i`` for the query terms (working copies marked down), and the terms that matched."""
        total, matched = self.bm25.score(query, i)
        if _COPY_NAME.search(self.tables[i].name.lower()):
            total *= COPY_PENALTY
        return total, matched

    def rank(self, question: str) -> list[TableChoice]:
        """Every table that matches at least one question term, best first."""
        query = terms(question)
        scored = [(*self.score(query, i), t) for i, t in enumerate(self.tables)]
        return sorted(
            (TableChoice(t, s, m) for s, m, t in scored if s > 0),
            key=lambda c: (-c.score, c.table.full_name),
        )

    def choose(self, question: str, top: int, min_fraction: float) -> list[TableChoice]:
        """The best ``top`` tables scoring at least ``min_fraction`` of the best one's score."""
        ranked = self.rank(question)
        if not ranked:
            return []
        floor = ranked[0].score * min_fraction
        chosen: list[TableChoice] = []
        seen: list[frozenset[str]] = []
        for choice in ranked:
            if len(chosen) == top or choice.score < floor:
                break
            columns = frozenset(c.name.lower() for c in choice.table.columns)
            if columns in seen:
                continue  # a copy of a better table (staging, archive): it would add nothing but tokens
            seen.append(columns)
            chosen.append(choice)
        return chosen
