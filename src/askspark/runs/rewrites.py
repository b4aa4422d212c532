"""Rewrites: deterministic repairs of a query the small model gets wrong in a known, precise way.

Two kinds, both rules as data run in a loop (as results/checks.py):

- **Before the run** (:data:`BEFORE_RUN`, ``(sql, Schema) -> sql | None``): a query that cannot mean
  what its question says, whatever the data. A timestamp compared with a day (``ts = '2025-03-10'``
  keeps only midnight) is compared by its date; "when did each X reach its highest Y" answered with
  ``MAX(ts)`` beside ``MAX(y)`` (two different rows) takes ``max_by(ts, y)``; "how many ... include
  the X with none (count 0)" answered from the counted rows alone lists every X from X's own table.
- **After a suspect result** (:data:`REWRITES`, ``(question, sql, result) -> sql | None``): the
  commonest wrong answer to "for each X, which Y had the most ..." ranks *all* rows
  (``GROUP BY x, y ORDER BY n DESC LIMIT 1``, or every pair sorted). The checks see it; the model,
  told the pattern, still fails to write a window over an aggregate (issue 12, tune: 2/10). The
  query holds everything the answer needs (groups, measure, tie-break order), so askspark ranks it
  within each X: ``ROW_NUMBER() OVER (PARTITION BY x ORDER BY <the query's order>)``, top N kept.
  That is a new attempt with no model call.

Either way the attempt names the rules in ``Attempt.rewrite`` and the answer says what was changed;
the new code is validated, dry-run and checked like any code. A rule fires only on a query it can
rewrite exactly; anything else (``SELECT *``, an order on an expression not in the output, a UNION,
Python that is not one ``spark.sql`` query) is left to the model. Setting ``rewrites`` turns them off.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from askspark.catalog.base import TableInfo
from askspark.context.joins import JoinKey, join_keys
from askspark.llm.extract import wrap_sql
from askspark.record import ResultPreview
from askspark.results.checks import (
    RANKING,
    ROWS_PER_GROUP,
    asks_for_null,
    asks_to_include_none,
    grouped_columns,
    grouping_words,
    several,
    singular,
    top_n,
)

Rule = Callable[[str, ResultPreview, "Schema"], str | None]
RANK_COLUMN = "rank_in_group"  # the rewrite's own column, filtered on and not returned


def sole_query(code: str) -> str | None:
    """The query of code that is exactly ``def answer(spark, tables): return spark.sql("...")`` (the
    shape the SQL-writing models' replies are wrapped into), else None."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(func := tree.body[0], ast.FunctionDef):
        return None
    body = [s for s in func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(ret := body[0], ast.Return) or not isinstance(ret.value, ast.Call):
        return None
    call = ret.value
    is_sql = isinstance(call.func, ast.Attribute) and call.func.attr == "sql" and not call.keywords
    arg = call.args[0] if is_sql and len(call.args) == 1 else None
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def top_per_group(sql: str, result: ResultPreview, schema: Schema) -> str | None:
    """'For each X, which Y had the most' answered by ranking every row: rank within each X instead."""
    question = schema.question
    if not RANKING.search(question) or ROWS_PER_GROUP.search(question):
        return None
    grouped = grouped_columns(question, result).values()
    keys = list(dict.fromkeys(result.columns[cols[0]].name for cols in grouped))  # two words, one column
    select = _parse_select(sql)
    if not keys or select is None or not select.args.get("order"):
        return None
    names = [s.alias_or_name for s in select.expressions]
    order = _ordered_by_name(select, names)
    lowered = [n.lower() for n in names]
    if order is None or len(set(lowered)) < len(names) or RANK_COLUMN in lowered:
        return None
    n = top_n(question) or several(question) or 1
    if not all(k.lower() in lowered for k in keys) or not _ranks_all(select, result, keys, n):
        return None
    return _ranked(select, names, keys, order, n)


def _parse(sql: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read="spark")
    except SqlglotError:
        return None


def _parse_select(sql: str) -> exp.Select | None:
    """The query as one SELECT (a UNION or anything else: None)."""
    tree = _parse(sql)
    star = isinstance(tree, exp.Select) and any(isinstance(s, exp.Star) for s in tree.expressions)
    return tree if isinstance(tree, exp.Select) and not star else None


def _ordered_by_name(select: exp.Select, names: list[str]) -> list[exp.Ordered] | None:
    """The query's ORDER BY with each item written as an output column's name (``SUM(x) DESC`` becomes
    ``total DESC`` when the query selects ``SUM(x) AS total``). What it orders by but does not return is
    added to its output: a column in a query of rows (no GROUP BY, aggregate or DISTINCT: ``ORDER BY
    birth_date, patient_id``), an aggregate in a grouped one (``ORDER BY n DESC, MIN(id)``). None if an
    item is neither."""
    outputs = {s.unalias(): name for s, name in zip(select.expressions, names, strict=True)}
    ordered = []
    for item in select.args["order"].expressions:
        this = item.this
        name = this.name if isinstance(this, exp.Column) and this.name in names else outputs.get(this)
        rows, aggregate = _of_rows(select), this.find(exp.AggFunc) is not None
        if name is None and ((isinstance(this, exp.Column) and rows) or (aggregate and not rows)):
            name = f"order_by_{len(select.expressions) - len(names) + 1}"
            select.select(this.copy().as_(name), copy=False)
        if name is None:
            return None
        named = item.copy()
        named.set("this", exp.column(exp.to_identifier(name, quoted=True)))
        ordered.append(named)
    return ordered


def _of_rows(select: exp.Select) -> bool:
    """Whether the query returns rows of its input as they are: no GROUP BY, DISTINCT or aggregate
    (nor star, which :func:`_parse_select` has already refused)."""
    return not select.args.get("group") and _of_rows_but_group(select)


def _ranks_all(select: exp.Select, result: ResultPreview, keys: list[str], n: int) -> bool:
    """Whether the result shows the query ranked every row, not each group's: a LIMIT over all
    groups, or a group on more than ``n`` rows."""
    if select.args.get("limit") is not None:
        return True
    columns = [i for i, c in enumerate(result.columns) if c.name in keys]
    counts = Counter(tuple(str(row[i]) for i in columns) for row in result.rows)
    return bool(counts) and max(counts.values()) > n


def _ranked(select: exp.Select, names: list[str], keys: list[str], order: list[exp.Ordered], n: int) -> str:
    """The query without its ORDER BY and LIMIT, ranked within each key, the top ``n`` of each kept."""
    ctes, inner = _body(select)
    quoted = [_quoted(name) for name in names]
    partition = ", ".join(_quoted(k) for k in keys)
    by = ", ".join(item.sql("spark") for item in order)
    return (
        f"{ctes}SELECT {', '.join(quoted)}\nFROM (\n  SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} "
        f"ORDER BY {by}) AS {RANK_COLUMN}\n  FROM (\n{inner.sql('spark', pretty=True)}\n  ) AS answer\n) "
        f"AS ranked\nWHERE {RANK_COLUMN} <= {n}\nORDER BY {partition}, {by}"
    )


def zero_for_none(sql: str, schema: Schema) -> str | None:
    """'How many ... include the X with none (count 0)' answered by grouping the counted rows: list every
    X from X's own table and LEFT JOIN the query's groups, its counts and sums 0 where it found no row.
    Exact either way: when every X has rows the result is the query's own. Left alone: a query that
    already has an outer join, a LIMIT, a key that is an expression, or a filter on X's table (the X
    the question means are then fewer than the table's)."""
    select = _parse_select(sql)
    if not asks_to_include_none(schema.question) or select is None or not select.args.get("group"):
        return None
    if select.args.get("limit") or any(j.side for j in select.find_all(exp.Join)):
        return None
    names = [s.alias_or_name for s in select.expressions]
    keys = {n: s.unalias() for n, s in zip(names, select.expressions, strict=True) if not s.find(exp.AggFunc)}
    if not keys or not all(isinstance(k, exp.Column) for k in keys.values()) or len(keys) == len(names):
        return None
    table = _table_of(schema, [k.name for k in keys.values()])
    if table is None or _filters(select, table[1]):
        return None
    view, spelt = table
    return _with_every(select, names, {n: spelt[k.name.lower()] for n, k in keys.items()}, view)


def null_kept(sql: str, schema: Schema) -> str | None:
    """'The change from the previous month (null for January)' answered with the null replaced:
    ``COALESCE(x - LAG(x) OVER (...), 0)`` (IFNULL and NVL parse as COALESCE) or ``LAG(x, 1, 0)``.
    The question says the value is null there, so the replacement goes: the COALESCE's first argument
    alone, the LAG or LEAD without its default. Only when the question asks for the null, and only a
    COALESCE around a LAG or LEAD with a literal replacement (the model's habit; any other COALESCE
    may be the answer's own)."""
    if not asks_for_null(schema.question):  # before parsing: every candidate of every question comes here
        return None
    tree = _parse(sql)
    if tree is None:
        return None
    changed = False
    for coalesce in list(tree.find_all(exp.Coalesce)):
        rest = coalesce.expressions
        if coalesce.this.find(exp.Lag, exp.Lead) and rest and all(isinstance(e, exp.Literal) for e in rest):
            coalesce.replace(coalesce.this.copy())
            changed = True
    for shift in tree.find_all(exp.Lag, exp.Lead):
        if isinstance(shift.args.get("default"), exp.Literal):
            shift.set("default", None)
            changed = True
    return tree.sql("spark", pretty=True) if changed else None


def _filters(select: exp.Select, columns: dict[str, str]) -> bool:
    """Whether the query's WHERE reads a column of the table (by name: which table it came from is not
    always written)."""
    where = select.args.get("where")
    return where is not None and any(c.name.lower() in columns for c in where.find_all(exp.Column))


def _table_of(schema: Schema, columns: list[str]) -> tuple[str, dict[str, str]] | None:
    """The selected table the question groups by ('each user' -> users) holding every key column, with
    its spelling of each (lower-case name -> name); None when no table is named so."""
    words = {singular(w) for w in grouping_words(schema.question, by=False)}
    for view, names in schema.tables.items():
        spelling = {n.lower(): n for n in names}
        if singular(view.split(".")[-1]) in words and all(c.lower() in spelling for c in columns):
            return view, spelling
    return None


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("spark")


def _body(select: exp.Select) -> tuple[str, exp.Select]:
    """The query's WITH clause (with its line break; '' when none) and a copy of the rest without ORDER
    BY and LIMIT, for a rewrite that wraps it: WITH goes first, where Spark reads it."""
    inner = select.copy()
    inner.set("order", None)
    inner.set("limit", None)
    ctes = inner.args.get("with_")
    inner.set("with_", None)
    return (ctes.sql("spark") + "\n" if ctes else ""), inner


def _with_every(select: exp.Select, names: list[str], keys: dict[str, str], view: str) -> str:
    """``SELECT every key FROM view LEFT JOIN (the query)``: counts and sums that found no row read 0."""
    q = _quoted
    outputs = []
    for name, expression in zip(names, select.expressions, strict=True):
        if name in keys:
            outputs.append(f"every.{q(keys[name])} AS {q(name)}")
        elif isinstance(expression.unalias(), exp.Count | exp.Sum):
            outputs.append(f"COALESCE(answer.{q(name)}, 0) AS {q(name)}")
        else:
            outputs.append(f"answer.{q(name)}")
    on = " AND ".join(f"every.{q(c)} <=> answer.{q(n)}" for n, c in keys.items())
    ctes, inner = _body(select)  # no LIMIT to drop: zero_for_none leaves such a query alone
    distinct = ", ".join(q(c) for c in keys.values())
    return (
        f"{ctes}SELECT {', '.join(outputs)}\nFROM (SELECT DISTINCT {distinct} FROM {view}) AS every\n"
        f"LEFT JOIN (\n{inner.sql('spark', pretty=True)}\n) AS answer ON {on}{_outer_order(select, names)}"
    )


def _outer_order(select: exp.Select, names: list[str]) -> str:
    """The query's ORDER BY written on its output names, for the query around it ('' when it has none
    or orders by something it does not return)."""
    if not select.args.get("order"):
        return ""
    copy = select.copy()
    order = _ordered_by_name(copy, names)
    if order is None or len(copy.expressions) != len(names):
        return ""
    return "\nORDER BY " + ", ".join(item.sql("spark") for item in order)


REWRITES: tuple[tuple[str, Rule], ...] = (("top_per_group", top_per_group),)

# -- before running: a query that cannot mean what it says ------------------------------------------

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)


@dataclass(frozen=True)
class Schema:
    """What a rule before the run knows: the question, and the selected tables' column types by
    lower-case name (a name two tables give different types is left out: a query's column cannot be
    told apart by name alone)."""

    question: str
    types: dict[str, str]
    tables: dict[str, frozenset[str]] = field(default_factory=dict)  # view name (lower) -> columns
    keys: tuple[JoinKey, ...] = ()  # between the selected tables, as the prompt shows them

    @classmethod
    def of(cls, question: str, named: Sequence[tuple[TableInfo, str]]) -> Schema:
        """From the tables as the model sees them, each with the view name the query reads it by."""
        seen: dict[str, set[str]] = {}
        for table, _ in named:
            for column in table.columns:
                seen.setdefault(column.name.lower(), set()).add(column.type.lower())
        types = {name: next(iter(t)) for name, t in seen.items() if len(t) == 1}
        tables = {view.lower(): frozenset(c.name for c in t.columns) for t, view in named}
        return cls(question, types, tables, tuple(join_keys(named)) if len(named) > 1 else ())

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*self.tables.values())

    def has(self, column: exp.Column, *prefixes: str) -> bool:
        """Whether the column's type starts with one of ``prefixes`` ('timestamp', 'date')."""
        return self.types.get(column.name.lower(), "").startswith(prefixes)


def date_literal(sql: str, schema: Schema) -> str | None:
    """A timestamp column compared with a day (``ts = '2025-03-10'``, ``ts BETWEEN DATE'…' AND '…'``,
    ``ts IN (…)``) compares with that day's midnight: '=' keeps only midnight, and an upper bound drops
    the last day. Compare the column's date instead (``to_date(ts) = '2025-03-10'``): what the day
    means, and the same rows for the comparisons that were right (``>=``, ``<``). So is a timestamp
    equal to a day's midnight written out (``ts = '2025-03-10 00:00:00+00:00'``) when the question
    names that day and no time of day (issue 12, tune: ev-count-on-day answered 0)."""
    tree = _parse(sql)
    if tree is None:
        return None
    found = [c for c in _day_compared(tree) if schema.has(c, "timestamp")]
    for column in found:
        column.replace(exp.func("to_date", column.copy()))
    midnights = [(c, d) for c, d in _midnight_equal(tree, schema.question) if schema.has(c, "timestamp")]
    for column, literal in midnights:
        literal.replace(exp.Literal.string(literal.this[:10]))
        column.replace(exp.func("to_date", column.copy()))
    return tree.sql("spark", pretty=True) if found or midnights else None


_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?$")
_TIME_OF_DAY = re.compile(r"\b\d{1,2}:\d{2}\b|\bmidnight\b|\b\d{1,2}\s*(?:am|pm)\b", re.IGNORECASE)


def _midnight_equal(tree: exp.Expr, question: str) -> Iterator[tuple[exp.Column, exp.Literal]]:
    """Each column '=' (or '!=') a midnight literal whose day the question names, in a question that
    names no time of day (then a midnight may be meant), with that literal."""
    if _TIME_OF_DAY.search(question):
        return
    for node in tree.find_all(exp.EQ, exp.NEQ):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if not (isinstance(side, exp.Column) and isinstance(other, exp.Literal) and other.is_string):
                continue
            day = _MIDNIGHT.match(other.this)
            if day and day.group(1) in question:
                yield side, other


# "when did each device reach its highest temperature", "on which day was the price lowest"
_WHEN = re.compile(
    r"\bwhen\b|\b(?:what|which|on which|at what)\s+(?:time|day|date|hour|month|year|moment)\b", re.IGNORECASE
)


def moment_of_extreme(sql: str, schema: Schema) -> str | None:
    """'When did each X reach its highest Y' answered with ``MAX(ts)`` beside ``MAX(y)``: the latest
    moment and the highest value, from different rows. The moment of the extreme is
    ``max_by(ts, y)`` (``min_by`` for the lowest); only for a question that asks when, and a query
    with one extreme of one measure."""
    if not _WHEN.search(schema.question) or not RANKING.search(schema.question):
        return None
    return _per_select(sql, lambda select: _moments_of_extreme(select, schema))


def _moments_of_extreme(select: exp.Select, schema: Schema) -> bool:
    extremes = [e for e in select.find_all(exp.Max, exp.Min) if e.parent_select is select]
    moments = [
        e for e in extremes if isinstance(e.this, exp.Column) and schema.has(e.this, "timestamp", "date")
    ]
    measures = [e for e in extremes if e not in moments]
    if len(measures) != 1 or not moments:
        return False
    by = "max_by" if isinstance(measures[0], exp.Max) else "min_by"
    for moment in moments:
        moment.replace(exp.Anonymous(this=by, expressions=[moment.this.copy(), measures[0].this.copy()]))
    return True


def value_at_extreme(sql: str, schema: Schema) -> str | None:
    """A grouped query whose one aggregate is a MAX or MIN, returning beside it a column it does not
    group by (``SELECT symbol, date, MAX(volume) FROM nasdaq GROUP BY symbol``): it cannot run, and
    the column it names is the extreme row's (the day of the highest volume), which is
    ``max_by(date, volume)`` (``min_by`` for MIN). Left alone with any other aggregate or a window:
    the bare column could then mean something else."""
    return _per_select(sql, _values_at_extreme)


def _values_at_extreme(select: exp.Select) -> bool:
    group = select.args.get("group")
    aggregates = [a for a in select.find_all(exp.AggFunc) if a.parent_select is select]
    extreme = aggregates[0] if len(aggregates) == 1 else None
    if not group or not isinstance(extreme, exp.Max | exp.Min) or select.find(exp.Window):
        return False
    grouped, by, changed = _grouped(group), "max_by" if isinstance(extreme, exp.Max) else "min_by", False
    for item in select.expressions:
        column = item.this if isinstance(item, exp.Alias) else item
        if (
            isinstance(column, exp.Column)
            and not {column.sql("spark").lower(), column.name.lower()} & grouped
        ):
            value = exp.Anonymous(this=by, expressions=[column.copy(), extreme.this.copy()])
            column.replace(value if isinstance(item, exp.Alias) else exp.alias_(value, column.name))
            changed = True
    return changed


def _day_compared(tree: exp.Expr) -> Iterator[exp.Column]:
    """The columns compared with a day literal (on either side), in a BETWEEN, or an IN list."""
    for node in tree.find_all(*_COMPARISONS):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, exp.Column) and _is_day(other):
                yield side
    for between in tree.find_all(exp.Between):
        low, high = between.args["low"], between.args["high"]
        if isinstance(between.this, exp.Column) and _is_day(low) and _is_day(high):
            yield between.this
    for within in tree.find_all(exp.In):
        days = within.expressions
        if isinstance(within.this, exp.Column) and days and all(_is_day(d) for d in days):
            yield within.this


def _is_day(node: exp.Expr) -> bool:
    """A day written as a literal: '2025-03-10', DATE '2025-03-10', to_date('2025-03-10')."""
    if isinstance(node, exp.Cast | exp.TsOrDsToDate) and (
        isinstance(node, exp.TsOrDsToDate) or node.to.is_type(exp.DataType.Type.DATE)
    ):
        node = node.this
    return isinstance(node, exp.Literal) and node.is_string and bool(_DAY.match(node.this))


def _spelling(name: str) -> str:
    return name.lower().replace("_", "")


def column_spelling(sql: str, schema: Schema) -> str | None:
    """A column its table does not have, spelt like exactly one column the table has but for case
    and underscores (``d.doctor_id`` for doctors' ``doctorId``): that column. An unqualified one is
    looked up in the tables the query reads, unless the query defines the name itself. Spark's "did you mean" lists
    the right name, yet the small model writes the name it expects again and again."""
    tree = _parse(sql)
    if tree is None:
        return None
    aliases = {t.alias_or_name.lower(): t.name.lower() for t in tree.find_all(exp.Table)}
    read = [schema.tables[t] for t in aliases.values() if t in schema.tables]
    unqualified = frozenset().union(*read) if read else schema.names  # the columns of what it reads
    defined = _defined(tree)
    changed = False
    for column in tree.find_all(exp.Column):
        name = column.name
        if not isinstance(column.this, exp.Identifier) or (not column.table and name.lower() in defined):
            continue
        own = schema.tables.get(aliases.get(column.table.lower(), "")) if column.table else unqualified
        if own is None or name.lower() in _lower(own):
            continue
        if len(found := [c for c in own if _spelling(c) == _spelling(name)]) == 1:
            column.set("this", exp.to_identifier(found[0], quoted=True))
            changed = True
    return tree.sql("spark", pretty=True) if changed else None


def duplicate_alias(sql: str, schema: Schema) -> str | None:
    """Two tables of one SELECT under one alias (``FROM sales AS s JOIN stores AS s``): every ``s.col``
    both tables have is ambiguous to Spark, and the small model, told so, writes the same aliases again
    (issue 12, tune: two retail questions on ``sales`` and ``stores`` failed every candidate of every
    attempt this way). The later table takes its own name as its alias; a column qualified by the
    shared alias goes to the one of those tables that has it, a join condition's two sides that both
    have it (``s.storeId = s.storeId``) to an earlier table and the joined one, and anything else both
    have to the first (the join made them equal). Left alone when a table under the shared alias is
    not a known table (its columns cannot be told apart)."""
    return _per_select(sql, lambda select: _split_alias(select, schema))


def _split_alias(select: exp.Select, schema: Schema) -> bool:
    sources = _sources(select)
    shared: dict[str, list[exp.Expr]] = {}
    for source in sources:
        shared.setdefault(source.alias_or_name.lower(), []).append(source)
    changed = False
    for alias, same in shared.items():
        known = all(isinstance(t, exp.Table) and t.name.lower() in schema.tables for t in same)
        if len(same) > 1 and known and alias:
            _give_own_aliases(select, alias, [t for t in same if isinstance(t, exp.Table)], sources, schema)
            changed = True
    return changed


def _give_own_aliases(
    select: exp.Select, alias: str, same: list[exp.Table], sources: list[exp.Expr], schema: Schema
) -> None:
    """Each table after the first of ``same`` renamed to its own name, and the columns qualified by
    ``alias`` re-qualified by the table that has them (join conditions first, side by side)."""
    taken = {s.alias_or_name.lower() for s in sources}
    names = [same[0].alias_or_name]
    for table in same[1:]:
        new = table.name if table.name.lower() not in taken else f"{table.name}_{len(names) + 1}"
        taken.add(new.lower())
        table.set("alias", exp.TableAlias(this=exp.to_identifier(new)))
        names.append(new)
    # Matched as spelt but for case and underscores: column_spelling, which runs next, corrects a
    # misspelt name only once its qualifier names the one table it belongs to.
    columns = {n: _spelt(schema.tables[t.name.lower()]) for n, t in zip(names, same, strict=True)}
    done: set[int] = set()
    for join in select.args.get("joins") or []:
        if join.this in same[1:] and (on := join.args.get("on")) is not None:
            own = names[same.index(join.this)]
            done |= _split_conditions(on, alias, own, names[: names.index(own)], columns)
    for column in select.find_all(exp.Column):
        ours = column.table.lower() == alias and column.find_ancestor(exp.Select) is select
        if id(column) in done or not ours:
            continue
        holders = [n for n in names if _spelling(column.name) in columns[n]]
        if holders:
            column.set("table", exp.to_identifier(holders[0]))


def _split_conditions(
    on: exp.Expr, alias: str, own: str, earlier: list[str], columns: dict[str, set[str]]
) -> set[int]:
    """In a join's condition, each ``alias.a = alias.b``: the side the joined table ``own`` has goes to
    it, the other to the first earlier table that has it. The ids of the columns so qualified."""
    done: set[int] = set()
    for eq in on.find_all(exp.EQ):
        sides = [eq.this, eq.expression]
        if not all(isinstance(c, exp.Column) and c.table.lower() == alias for c in sides):
            continue
        for mine, other in (
            sides[::-1],
            sides,
        ):  # the right side first: the joined table is written there most
            before = next((n for n in earlier if _spelling(other.name) in columns[n]), None)
            if _spelling(mine.name) in columns[own] and before is not None:
                mine.set("table", exp.to_identifier(own))
                other.set("table", exp.to_identifier(before))
                done |= {id(mine), id(other)}
                break
    return done


def wrong_qualifier(sql: str, schema: Schema) -> str | None:
    """A column qualified by a table of the query that does not have it (``p.plan`` where ``p`` is
    ``events`` and ``u`` is ``users``), or by a table's name where the query gave it an alias
    (``users.signup_ts`` beside ``users u``), or by a name the query defines nowhere (``p.page`` with
    no ``p``), when exactly one table the same SELECT reads has that column: qualified by that table. Spark's "did you mean" names it, yet the model writes the same
    qualifier again; a column only one read table has can mean nothing else."""
    tree = _parse(sql)
    if tree is None:
        return None
    changed, defined = False, _defined(tree)
    for column in tree.find_all(exp.Column):
        select = column.find_ancestor(exp.Select)
        if not column.table or not isinstance(column.this, exp.Identifier) or select is None:
            continue
        holder = _sole_holder(column, _sources(select), schema, defined)
        if holder is not None:
            column.set("table", exp.to_identifier(holder))
            changed = True
    return tree.sql("spark", pretty=True) if changed else None


def missing_join(sql: str, schema: Schema) -> str | None:
    """A query on one table that uses columns only another selected table has (``SELECT country,
    median(revenue) FROM events GROUP BY country`` where ``users`` has ``country``), when one join key
    reaches that table by its own id (``events.user_id = users.user_id``: one row of it per row read,
    so no row is counted twice): that table joined. Spark's error names the column, the feedback the
    join, and the small model still writes the query on the one table."""
    return _per_select(sql, lambda select: _join_holder(select, schema)) if schema.keys else None


def _join_holder(select: exp.Select, schema: Schema) -> bool:
    sources = _sources(select)
    read = sources[0] if len(sources) == 1 else None
    if not isinstance(read, exp.Table) or (view := read.name.lower()) not in schema.tables:
        return False
    own = _lower(schema.tables[view])
    outputs = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
    columns = [c for c in select.find_all(exp.Column) if c.find_ancestor(exp.Select) is select]
    mine = {"", read.alias_or_name.lower(), view}
    missing = {
        c.name.lower() for c in columns if c.table.lower() in mine and c.name.lower() not in own | outputs
    }
    holder = _only_holder(view, missing, schema) if missing else None
    if holder is None:
        return False
    other, key = holder
    here, there = (
        (key.left_column, key.right_column)
        if key.left.lower() == view
        else (key.right_column, key.left_column)
    )
    for column in (c for c in columns if c.table.lower() in mine):
        if (name := column.name.lower()) in missing | own:  # qualified: after the join a name may be in both
            column.set("table", exp.to_identifier(other if name in missing else read.alias_or_name))
    on = exp.EQ(this=exp.column(here, table=read.alias_or_name), expression=exp.column(there, table=other))
    select.set("joins", [exp.Join(this=exp.to_table(other), on=on)])
    return True


def _only_holder(view: str, missing: set[str], schema: Schema) -> tuple[str, JoinKey] | None:
    """The one other table that has every missing column, with the one key from ``view`` to its own id."""
    holders = [v for v, cols in schema.tables.items() if v != view and missing <= _lower(cols)]
    if len(holders) != 1:
        return None
    other = holders[0]
    ids = {"id", f"{singular(other)}_id", f"{singular(other)}id"}
    keys = [
        k
        for k in schema.keys
        if {k.left.lower(), k.right.lower()} == {view, other}
        and (k.right_column if k.right.lower() == other else k.left_column).lower() in ids
    ]
    return (other, keys[0]) if len(keys) == 1 else None


def lateral_alias(sql: str, schema: Schema) -> str | None:
    """An output named earlier in the same SELECT and used inside a window or an aggregate
    (``COUNT(*) AS views, RANK() OVER (ORDER BY views DESC)``): Spark refuses a lateral alias there,
    so the alias is replaced by what it names (``ORDER BY COUNT(*) DESC``), which is what it meant.
    Left alone when a read table has a column of that name (it is then that column) or the tables
    read are not all known, and inside an aggregate when the alias is an aggregate itself (an
    aggregate of an aggregate is wrong either way)."""
    return _per_select(sql, lambda select: _inline_lateral(select, schema))


def _inline_lateral(select: exp.Select, schema: Schema) -> bool:
    sources = _sources(select)
    if not sources or not all(isinstance(s, exp.Table) and s.name.lower() in schema.tables for s in sources):
        return False
    columns = set().union(*(_lower(schema.tables[s.name.lower()]) for s in sources))
    named: dict[str, exp.Expr] = {}
    changed = False
    for item in select.expressions:
        changed |= _inline_aliases(item, named, columns)
        if isinstance(item, exp.Alias):
            named[item.alias.lower()] = item.this
    return changed


def _inline_aliases(item: exp.Expr, named: dict[str, exp.Expr], columns: set[str]) -> bool:
    """Replace, in one SELECT item, the earlier outputs it uses inside a window or an aggregate."""
    changed = False
    for column in list(item.find_all(exp.Column)):
        value = named.get(column.name.lower())
        if value is None or column.table or column.name.lower() in columns:
            continue
        window = isinstance(column.find_ancestor(exp.Window, exp.Select), exp.Window)
        aggregate = isinstance(column.find_ancestor(exp.AggFunc, exp.Select), exp.AggFunc)
        if window or (aggregate and not value.find(exp.AggFunc)):
            column.replace(value.copy())
            changed = True
    return changed


# Functions of other SQL dialects the model writes, that Spark does not have, by Spark's name for
# them (same arguments). sqlglot reads STDEV, IIF and CHARINDEX as Spark's own already; the others
# are renamed. ISNULL is Spark's with one argument (a test), SQL Server's with two (a default).
FOREIGN_FUNCTIONS = {
    "stdev": "stddev_samp",
    "stdevp": "stddev_pop",
    "var": "var_samp",
    "varp": "var_pop",
    "getdate": "current_timestamp",
    "isnull": "coalesce",
    "iif": "if",
    "charindex": "locate",
}
_FOREIGN = re.compile(rf"\b({'|'.join(FOREIGN_FUNCTIONS)})\s*\(", re.IGNORECASE)


def foreign_function(sql: str, schema: Schema) -> str | None:
    """A function of another SQL dialect (``STDEV``, ``ISNULL(x, 0)``, ``IIF``, ``GETDATE()``) written
    as Spark's (``stddev_samp``, ``coalesce``, ``if``, ``current_timestamp()``): Spark cannot resolve
    it, and the model, told so, writes it again."""
    found = {name.lower() for name in _FOREIGN.findall(sql)}
    tree = _parse(sql) if found else None
    if tree is None:
        return None
    renamed = False
    for call in tree.find_all(exp.Anonymous):
        name = str(call.this).lower()
        if name in FOREIGN_FUNCTIONS and (name != "isnull" or len(call.expressions) == 2):
            call.set("this", FOREIGN_FUNCTIONS[name])
            renamed = True
    # sqlglot read the others as Spark's functions already: writing the query out renames them
    return tree.sql("spark", pretty=True) if renamed or found - {"isnull"} else None


def _sources(select: exp.Select) -> list[exp.Expr]:
    """What a SELECT reads: its FROM and its JOINs (tables, subqueries, CTE names)."""
    start = select.args.get("from_")
    return ([start.this] if start else []) + [j.this for j in select.args.get("joins") or []]


def _sole_holder(
    column: exp.Column, sources: list[exp.Expr], schema: Schema, defined: set[str]
) -> str | None:
    """The alias of the one read table that has the column, when its qualifier names a read table
    lacking it, a read table's name hidden by its alias, or nothing the query defines; None when
    anything is unknown (a subquery's or CTE's columns, an outer query's alias)."""
    qualifier, name = column.table.lower(), column.name.lower()
    tables = [s for s in sources if isinstance(s, exp.Table) and s.name.lower() in schema.tables]
    own = next((s for s in sources if s.alias_or_name.lower() == qualifier), None)
    if own is None and qualifier in defined and not any(t.name.lower() == qualifier for t in tables):
        return None  # an outer scope's alias, or another SELECT's
    if own is not None and (own not in tables or name in _lower(schema.tables[own.name.lower()])):
        return None  # it resolves, or its columns are not known here
    holders = [t for t in tables if name in _lower(schema.tables[t.name.lower()])]
    return holders[0].alias_or_name if len(holders) == 1 else None


def _defined(tree: exp.Expr) -> set[str]:
    """The names a query defines itself: column aliases, table and CTE aliases, CTE column lists."""
    names = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    names |= {t.alias_or_name.lower() for t in tree.find_all(exp.TableAlias, exp.Table)}
    names |= {i.name.lower() for t in tree.find_all(exp.TableAlias) for i in t.columns}
    return names


# "the month number (1 to 12)", "the number of the month", "month (1-12)"
_MONTH_NUMBER = re.compile(
    r"\bmonth\s+numbers?\b|\bnumber of the month\b|\bmonths?\s*\(\s*1\s*(?:to|-|–)\s*1?\d\s*\)", re.IGNORECASE
)
_MONTH_FORMATS = {"yyyy-mm", "yyyy-m", "yyyymm", "yy-mm", "mm", "m"}
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")


def month_number(sql: str, schema: Schema) -> str | None:
    """The question asks for the month number (1 to 12) and the query formats the month as text
    (``DATE_FORMAT(ts, 'yyyy-MM')`` or ``'MM'``): the number is ``month(ts)``. Only when the
    months are of one year or kept apart by it (the question names one year, or the query filters
    ``year(x) = N``, groups by or returns ``year(x)``), so no two years' months are merged (issue 12,
    tune: rt-monthly-change and ev-monthly-revenue-change returned '2024-01')."""
    if not _MONTH_NUMBER.search(schema.question):
        return None
    tree = _parse(sql)
    one_year = len(set(_YEAR.findall(schema.question))) == 1
    if tree is None or not (one_year or _years_apart(tree)):
        return None
    found = [f for f in tree.find_all(exp.TimeToStr) if _month_format(f)]
    for formatted in found:
        moment = formatted.this  # sqlglot reads DATE_FORMAT's argument as a cast to a timestamp: x itself
        moment = moment.this if isinstance(moment, exp.TimeStrToTime) else moment
        formatted.replace(exp.Month(this=moment.copy()))
    return tree.sql("spark", pretty=True) if found else None


def _years_apart(tree: exp.Expr) -> bool:
    """Whether the query uses ``year(x)`` as one year's filter (``= N``), a group key or an output,
    not only in a range (``year(x) >= 2024`` keeps several years, whose months a number merges)."""
    for year in tree.find_all(exp.Year):
        holder = year.find_ancestor(exp.EQ, exp.Group, exp.Where, exp.Having, exp.Select)
        if isinstance(holder, exp.EQ | exp.Group | exp.Select):
            return True
    return False


def _month_format(node: exp.TimeToStr) -> bool:
    """Whether the format, as Spark writes it, is a month with or without its year (sqlglot keeps
    the pattern in a form of its own, so it is read back from the Spark SQL)."""
    written = re.search(r"'([^']*)'\)$", node.sql("spark"))
    return written is not None and written.group(1).lower() in _MONTH_FORMATS


def count_except(sql: str, schema: Schema) -> str | None:
    """A count set against the values of another query (``SELECT COUNT(user_id) FROM users EXCEPT
    SELECT user_id FROM events``): EXCEPT (or INTERSECT) then compares the number with the ids and
    returns it or nothing, never how many ids are left. What it means is the count of what the set
    operation leaves: ``SELECT COUNT(*) FROM (SELECT user_id FROM users EXCEPT SELECT user_id FROM
    events)``. A ``COUNT(*)`` counts the other query's column, when the counted table has it
    (issue 12, tune: ev-users-without-events answered with no row, three times)."""
    tree = _parse(sql)
    if not isinstance(tree, exp.Except | exp.Intersect) or tree.args.get("order") or tree.args.get("limit"):
        return None
    left, right = tree.this, tree.expression
    other = _sole_plain(right) if isinstance(right, exp.Select) else None
    counted = _sole_count(left, other, schema) if isinstance(left, exp.Select) and other else None
    if counted is None:
        return None
    count, value = counted
    left.set("expressions", [value])
    name = count.alias if isinstance(count, exp.Alias) else "count"
    outer = exp.select(exp.alias_(exp.Count(this=exp.Star()), name)).from_(
        exp.Subquery(this=tree.copy(), alias=exp.TableAlias(this=exp.to_identifier("counted")))
    )
    return outer.sql("spark", pretty=True)


def _sole_count(select: exp.Select, other: exp.Column, schema: Schema) -> tuple[exp.Expr, exp.Expr] | None:
    """The SELECT's one output when it is a COUNT of an ungrouped query, with what to set against
    ``other``: the counted column (``COUNT([DISTINCT] col)``), or for ``COUNT(*)`` ``other``'s column
    when the one table the SELECT reads has it."""
    if len(select.expressions) != 1 or select.args.get("group") or select.args.get("having"):
        return None
    item = select.expressions[0]
    count = item.this if isinstance(item, exp.Alias) else item
    value = count.this if isinstance(count, exp.Count) else None
    if isinstance(value, exp.Distinct) and len(value.expressions) == 1:
        value = value.expressions[0]
    if isinstance(value, exp.Star):
        sources = _sources(select)
        table = sources[0] if len(sources) == 1 and isinstance(sources[0], exp.Table) else None
        own = schema.tables.get(table.name.lower()) if table is not None else None
        value = exp.column(other.name) if own and other.name.lower() in _lower(own) else None
    return (item, value.copy()) if isinstance(value, exp.Column) else None


def _sole_plain(select: exp.Select) -> exp.Column | None:
    """The one output when it is a column (maybe aliased), with no aggregate or grouping."""
    if len(select.expressions) != 1 or select.args.get("group") or select.find(exp.AggFunc):
        return None
    item = select.expressions[0]
    column = item.this if isinstance(item, exp.Alias) else item
    return column if isinstance(column, exp.Column) else None


def order_by_ungrouped(sql: str, schema: Schema) -> str | None:
    """A grouped query ordered by a column it neither groups by nor returns (``GROUP BY tier, name
    ORDER BY total DESC, cust_key``) fails to resolve; a tie-break on such a column means the group's
    smallest value (``MIN(cust_key)``; ``MAX`` for a descending order)."""
    return _per_select(sql, lambda select: _order_by_extremes(select, schema))


def _order_by_extremes(select: exp.Select, schema: Schema) -> bool:
    group, order = select.args.get("group"), select.args.get("order")
    if not group or not order:
        return False
    known = _grouped(group) | {s.alias_or_name.lower() for s in select.expressions}
    changed = False
    for item in order.expressions:
        column = item.this
        if isinstance(column, exp.Column) and not {column.name.lower(), column.sql("spark").lower()} & known:
            extreme = exp.Max if item.args.get("desc") else exp.Min
            column.replace(extreme(this=_qualified(column, select, schema)))
            changed = True
    return changed


def group_without_aggregate(sql: str, schema: Schema) -> str | None:
    """A GROUP BY in a query that aggregates nothing, with columns it does not group (``SELECT city,
    name, born FROM p GROUP BY city ORDER BY born LIMIT 1``), cannot run: the model wrote GROUP BY for
    "for each". Without it the query returns the rows, and a per-group top is then ranked by
    :func:`top_per_group` if the checks find it was asked."""
    return _per_select(sql, _drop_idle_group)


def _drop_idle_group(select: exp.Select) -> bool:
    group = select.args.get("group")
    if not group or select.args.get("having") or not _of_rows_but_group(select):
        return False
    outputs = [s.unalias().sql("spark").lower() for s in select.expressions]
    grouped = {_position(g.sql("spark").lower(), outputs) for g in group.expressions}
    if grouped <= set(outputs) and not set(outputs) <= grouped:
        select.set("group", None)
        return True
    return False


def _per_select(sql: str, fix: Callable[[exp.Select], bool]) -> str | None:
    """The query with ``fix`` applied to each of its SELECTs (it says whether it changed one), or None
    when it changed none or the query does not parse."""
    tree = _parse(sql)
    if tree is None:
        return None
    changed = [fix(select) for select in list(tree.find_all(exp.Select))]
    return tree.sql("spark", pretty=True) if any(changed) else None


def _grouped(group: exp.Group) -> set[str]:
    """A GROUP BY's items as written (lower case), and the names of its columns."""
    return {g.sql("spark").lower() for g in group.expressions} | {
        g.name.lower() for g in group.expressions if isinstance(g, exp.Column)
    }


def _position(item: str, outputs: list[str]) -> str:
    """A GROUP BY item, a position (``GROUP BY 1``) read as the output it names."""
    index = int(item) - 1 if item.isdigit() else -1
    return outputs[index] if 0 <= index < len(outputs) else item


def _of_rows_but_group(select: exp.Select) -> bool:
    """No aggregate, DISTINCT or star in the SELECT itself (only its GROUP BY makes it grouped)."""
    aggregates = [a for a in select.find_all(exp.AggFunc) if a.parent_select is select]
    stars = any(isinstance(s, exp.Star) for s in select.expressions)
    return not (aggregates or select.args.get("distinct") or stars)


def _qualified(column: exp.Column, select: exp.Select, schema: Schema) -> exp.Column:
    """The column, qualified by the first table the query reads that has it when it is unqualified and
    two read tables have it (``cust_key`` of ``sales JOIN customers ON ... cust_key``: the join makes
    them equal; the first is the one a LEFT JOIN keeps)."""
    if column.table:
        return column.copy()
    tables = [t for t in _sources(select) if isinstance(t, exp.Table)]
    holders = [t for t in tables if column.name.lower() in _lower(schema.tables.get(t.name.lower()))]
    if len(holders) < 2:
        return column.copy()
    return exp.column(column.name, table=holders[0].alias_or_name)


def _lower(names: frozenset[str] | None) -> set[str]:
    return {n.lower() for n in names or ()}


def _spelt(names: frozenset[str]) -> set[str]:
    return {_spelling(n) for n in names}


BEFORE_RUN: tuple[tuple[str, Callable[[str, Schema], str | None]], ...] = (
    ("duplicate_alias", duplicate_alias),  # first: the rules after it read a qualifier as one table
    ("column_spelling", column_spelling),
    ("foreign_function", foreign_function),
    ("wrong_qualifier", wrong_qualifier),
    ("missing_join", missing_join),
    ("lateral_alias", lateral_alias),
    ("date_literal", date_literal),
    ("moment_of_extreme", moment_of_extreme),
    ("value_at_extreme", value_at_extreme),
    ("group_without_aggregate", group_without_aggregate),
    ("order_by_ungrouped", order_by_ungrouped),
    ("count_except", count_except),
    ("month_number", month_number),
    ("zero_for_none", zero_for_none),
    ("null_kept", null_kept),
)


def fix_before_run(
    code: str, question: str, named: Sequence[tuple[TableInfo, str]]
) -> tuple[str, str] | None:
    """The code's query with every rule of :data:`BEFORE_RUN` applied, as ``(rule names, new code)``,
    or None when no rule changed it (or the code is not one ``spark.sql`` query)."""
    sql = sole_query(code)
    if sql is None:
        return None
    names: list[str] = []
    schema = Schema.of(question, named)
    for name, rule in BEFORE_RUN:
        new = rule(sql, schema)
        if new is not None:
            sql, names = new, [*names, name]
    return (",".join(names), wrap_sql(sql)) if names else None


NOTICES = {
    "duplicate_alias": "askspark gave a table its own alias where the query used one alias for two tables "
    "(FROM sales AS s JOIN stores AS s) and qualified each column by the table that has it",
    "column_spelling": "askspark wrote a column as the table spells it (the query had its case or "
    "underscores wrong)",
    "foreign_function": "askspark wrote a function of another SQL dialect as Spark's (STDEV as stddev_samp, "
    "ISNULL(x, y) as coalesce, IIF as if)",
    "wrong_qualifier": "askspark qualified a column by the one table of the query that has it (the query "
    "named it from another table)",
    "missing_join": "askspark joined the table that holds a column the query used but its one table "
    "lacks, by that table's own id (the query could not run as written)",
    "lateral_alias": "askspark wrote out an output the query named earlier where it used it inside a window "
    "or an aggregate (Spark does not allow that name there)",
    "date_literal": "askspark compared a timestamp column's date with the day the query named "
    "(to_date(ts) = '2025-03-10'): a timestamp compared with a day means that day's midnight",
    "moment_of_extreme": "askspark took the moment of the extreme value (max_by/min_by), not the latest "
    "or earliest moment of all rows: the query's MAX/MIN of a time beside the MAX/MIN of a value came "
    "from different rows",
    "value_at_extreme": "askspark took the value of a column the query did not group by from the row of the "
    "extreme (max_by/min_by): beside one MAX or MIN it could not run as written",
    "group_without_aggregate": "askspark removed a GROUP BY from a query that aggregates nothing and "
    "returns columns it did not group (it could not run as written)",
    "order_by_ungrouped": "askspark ordered the groups by the smallest (or, descending, largest) value of "
    "a column the query neither grouped by nor returned (MIN(col) in ORDER BY): it could not run as written",
    "count_except": "askspark counted what the query's EXCEPT (or INTERSECT) leaves (the query set a count "
    "against the other query's values, which compares the number with them)",
    "month_number": "askspark returned the month as its number (month(col)) where the question asks for the "
    "month number and the query wrote the month as text (DATE_FORMAT 'yyyy-MM')",
    "zero_for_none": "askspark listed every one of the groups the question asks about from its own table "
    "and gave those the query found no rows for a count of 0 (the query counted from the other table only)",
    "null_kept": "askspark left the value the question says is null as null (the query replaced it: "
    "COALESCE around LAG, or a LAG default)",
    "top_per_group": "askspark rewrote the model's query to keep the top rows of each group (ROW_NUMBER() "
    "OVER (PARTITION BY ...) on the query's own order): it ranked all rows, not each group's",
}  # what the answer says when a rewritten query answers


def rewrite(
    code: str, result: ResultPreview | None, question: str, named: Sequence[tuple[TableInfo, str]] = ()
) -> tuple[str, str] | None:
    """The first rule that rewrites the code's query, as ``(rule name, new code)``, or None."""
    sql = sole_query(code)
    if sql is None or result is None:
        return None
    schema = Schema.of(question, named)
    for name, rule in REWRITES:
        new = rule(sql, result, schema)
        if new is not None:
            return name, wrap_sql(new)
    return None
