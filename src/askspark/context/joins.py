"""Join keys between the selected tables, shown to the model as ``a.x = b.y`` lines.

Declared keys (``TableInfo.foreign_keys``) come first. Otherwise two columns are a key pair when their
names match after normalisation: camelCase and snake_case split into words, plural table names made
singular, a short table prefix dropped (``trTickerId`` ~ ``tickerId``, TPC-H's ``o_custkey`` ~
``c_custkey``), and ``<table>_id`` / ``<table>Id`` matched to the ``id`` of that table. The types must
be compatible, and when both columns' complete distinct values are known they must overlap.
Pure: no I/O, no Spark.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from askspark.catalog.base import Column, TableInfo

KEY_WORDS = ("id", "key", "code", "no", "num", "number", "sk")  # a name ending in one of these is key-like
_INT = re.compile(r"(tinyint|smallint|int|integer|bigint|long|short|byte)\b")
_NUM = re.compile(r"(float|double|decimal|numeric|real)\b")
_STR = re.compile(r"(string|varchar|char|text)\b")


@dataclass(frozen=True)
class JoinKey:
    """``left.left_column = right.right_column`` between two selected tables (by view name)."""

    left: str
    left_column: str
    right: str
    right_column: str
    declared: bool = False

    def sql(self) -> str:
        return f"{sql_name(self.left)}.{sql_name(self.left_column)} = {sql_name(self.right)}.{sql_name(self.right_column)}"

    def touches(self, view: str, column: str) -> bool:
        return (self.left, self.left_column) == (view, column) or (self.right, self.right_column) == (
            view,
            column,
        )


@lru_cache(maxsize=4096)
def words(name: str) -> tuple[str, ...]:
    """A name as lowercase words: ``trTickerId`` -> [tr, ticker, id]; ``ticker.id`` -> [ticker, id]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return tuple(w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w)


@lru_cache(maxsize=4096)
def singular(word: str) -> str:
    """A plural table word made singular (``stores`` -> ``store``, ``categories`` -> ``category``)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@lru_cache(maxsize=4096)
def core(name: str) -> tuple[str, ...]:
    """A column name's words without a short table prefix (``o_custkey`` -> (custkey,)), singular."""
    found = [singular(w) for w in words(name)]
    while len(found) > 1 and len(found[0]) <= 2 and found[0] not in KEY_WORDS:
        found = found[1:]
    return tuple(found)


@lru_cache(maxsize=4096)
def is_key_like(name: str) -> bool:
    last = core(name)[-1:] or ("",)
    return last[0] in KEY_WORDS or last[0].endswith(("key", "id")) and len(last[0]) > 4


@lru_cache(maxsize=4096)
def _entity(table_name: str) -> str:
    """What a table holds, as one word: ``order_items`` -> ``orderitem``, ``stores`` -> ``store``."""
    return "".join(singular(w) for w in words(table_name))


@lru_cache(maxsize=4096)
def _refers_to(name: str, table_name: str) -> bool:
    """True when ``name`` is the key of ``table_name`` spelled with the table: ``product_id`` of
    ``products``, ``custkey`` of ``customer`` (TPC-H abbreviates), ``storeId`` of ``stores``."""
    parts = core(name)
    if len(parts) < 2 and not (parts and parts[0].endswith("key") and len(parts[0]) > 3):
        return False
    stem = "".join(parts[:-1]) if len(parts) >= 2 else parts[0].removesuffix("key")
    entity = _entity(table_name)
    return bool(stem) and (stem == entity or (len(stem) >= 3 and entity.startswith(stem)))


def type_class(column_type: str) -> str:
    t = column_type.lower()
    if _INT.match(t):
        return "int"
    if _NUM.match(t):
        return "num"
    if _STR.match(t):
        return "str"
    return t


def compatible(a: Column, b: Column) -> bool:
    """Same type family, and (when both complete value lists are known) at least one shared value."""
    if type_class(a.type) != type_class(b.type):
        return False
    if a.values is not None and b.values is not None:
        return bool(set(a.values) & set(b.values))
    return True


def _name_pairs(ta: TableInfo, tb: TableInfo) -> list[tuple[Column, Column]]:
    """Column pairs of ``ta`` and ``tb`` that look like the two ends of one key, from their names: the
    same key-like core, or a bare ``id`` and a column naming its table (``products.id`` ~ ``product_id``)."""
    by_core: dict[tuple[str, ...], list[Column]] = {}
    for b in tb.columns:
        by_core.setdefault(core(b.name), []).append(b)
    pairs = [
        (a, b)
        for a in ta.columns
        if core(a.name) != ("id",) and is_key_like(a.name)
        for b in by_core.get(core(a.name), [])
    ]
    pairs += _bare_id_pairs(ta, tb)
    pairs += [(a, b) for b, a in _bare_id_pairs(tb, ta)]
    return pairs


def _bare_id_pairs(owner: TableInfo, other: TableInfo) -> list[tuple[Column, Column]]:
    """``owner``'s bare ``id`` with each column of ``other`` that names ``owner`` (``product_id``)."""
    return [
        (a, b)
        for a in owner.columns
        if core(a.name) == ("id",)
        for b in other.columns
        if _refers_to(b.name, owner.name)
    ]


def _home(key: JoinKey, tables: dict[str, TableInfo]) -> bool:
    """The key pairs a table with the table the key names (``nation.n_nationkey``), not two tables that
    both merely refer to a third (``customer.c_nationkey = supplier.s_nationkey``)."""
    left, right = tables[key.left], tables[key.right]
    return (
        _refers_to(key.left_column, left.name)
        or _refers_to(key.right_column, right.name)
        or core(key.left_column) == ("id",)
        or core(key.right_column) == ("id",)
    )


def _oriented(key: JoinKey, tables: dict[str, TableInfo]) -> JoinKey:
    """The key written referring side first: ``supplier.s_nationkey = nation.n_nationkey``."""
    owns = core(key.left_column) == ("id",) or _refers_to(key.left_column, tables[key.left].name)
    if owns and not _refers_to(key.right_column, tables[key.right].name):
        return JoinKey(key.right, key.right_column, key.left, key.left_column, key.declared)
    return key


def declared_keys(tables: Sequence[tuple[TableInfo, str]]) -> list[JoinKey]:
    """Keys a catalog declared, between two of the selected tables (matched by table or view name)."""
    by_name = {n: t for t, n in tables} | {t.name: t for t, _ in tables}
    view_of = {id(t): n for t, n in tables}
    found = []
    for table, view in tables:
        for column, target in table.foreign_keys.items():
            other_name, _, other_column = target.rpartition(".")
            other = by_name.get(other_name) or by_name.get(other_name.rpartition(".")[2])
            if other is not None and other is not table:
                found.append(JoinKey(view, column, view_of[id(other)], other_column, declared=True))
    return found


def inferred_keys(tables: Sequence[tuple[TableInfo, str]]) -> list[JoinKey]:
    """Column pairs whose names match as key ends, with compatible types and values."""
    found = []
    for i, (ta, va) in enumerate(tables):
        for tb, vb in tables[i + 1 :]:
            found += [JoinKey(va, a.name, vb, b.name) for a, b in _name_pairs(ta, tb) if compatible(a, b)]
    views = {v: t for t, v in tables}
    found = [_oriented(k, views) for k in found]
    homed = [k for k in found if _home(k, views)]
    pairs_with_home = {frozenset((k.left, k.right)) for k in homed}
    # Keep a pair of two referring tables only when nothing in the selection is the key's home table.
    homes = {core(k.left_column) for k in homed} | {core(k.right_column) for k in homed}
    return homed + [
        k
        for k in found
        if k not in homed
        and frozenset((k.left, k.right)) not in pairs_with_home
        and core(k.left_column) not in homes
    ]


def join_keys(tables: Sequence[tuple[TableInfo, str]]) -> list[JoinKey]:
    """Declared keys, then inferred ones for column pairs no declared key covers."""
    declared = declared_keys(tables)
    covered = {(k.left, k.left_column) for k in declared} | {(k.right, k.right_column) for k in declared}
    inferred = [
        k
        for k in inferred_keys(tables)
        if (k.left, k.left_column) not in covered and (k.right, k.right_column) not in covered
    ]
    return declared + inferred


def key_columns(keys: Sequence[JoinKey]) -> set[tuple[str, str]]:
    """The (view, column) ends of ``keys``."""
    return {(k.left, k.left_column) for k in keys} | {(k.right, k.right_column) for k in keys}


def sql_name(name: str) -> str:
    """A name as Spark SQL needs it written: bare when it is a plain identifier, else in backticks, and
    then JSON-quoted on one line, so a name holding newlines or fences cannot leave the data block."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return json.dumps("`" + name.replace("`", "``") + "`")
