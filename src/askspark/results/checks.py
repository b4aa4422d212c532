"""Checks of a result against the question: cheap, precise signs that an answer that ran is wrong.

Each check is a pure function ``(question, result) -> message | None`` and :data:`CHECKS` is the
tuple the loop runs (sqlglot's optimizer rules read the same way: a list of same-shaped functions).
A message goes back to the model as a ``suspect_result`` failure, so it says what looks wrong in a
few words. Precision matters more than recall: a false alarm costs an attempt and, if it survives,
tells the user a right answer may be wrong. Every check stays silent on the reference answers of
every shipped suite (tests/test_checks.py runs them all).

What a check may rely on: the question's words and the bounded result (column names, the rows of the
preview; ``row_count`` when it is known). Nothing reads the tables again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from askspark.record import ResultPreview

Check = Callable[[str, ResultPreview], str | None]

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "twenty": 20,
}  # fmt: skip
_NUMBER = r"(\d+|" + "|".join(NUMBER_WORDS) + r")"
_RANKED = r"(?:most|highest|largest|biggest|best|greatest|top|lowest|smallest|least|fewest|worst|cheapest|" \
    r"longest|shortest|oldest|newest|earliest|latest|busiest)"  # fmt: skip
RANKING = re.compile(rf"\btop\b|\b{_RANKED}\b|\brank", re.IGNORECASE)
# "top 5", "top-three", "the 3 most", "5 largest"; not "top 10%" (a share, not a count).
_TOP_N = re.compile(rf"\btop[- ]{_NUMBER}\b(?!\s*%)|\b{_NUMBER}\s+{_RANKED}\b", re.IGNORECASE)
# The grouping phrases: "for each X", "per X", "every X", "X by Y" (not "sorted by", "placed by").
_GROUPING = re.compile(r"\b(?:for each|for every|per|each|every|by)\s+", re.IGNORECASE)
_NOT_GROUPING_BEFORE_BY = {
    "sort", "sorted", "order", "ordered", "rank", "ranked", "followed", "placed", "made", "sold", "bought",
    "shipped", "handled", "served", "divided", "multiplied", "increased", "decreased", "grew", "rose", "fell",
    "dropped", "changed", "weighted", "filtered", "broken", "written", "taken", "owned", "reported", "then",
}  # fmt: skip
# Words that end a grouping phrase: "for each customer in Germany" groups by customer only.
_PHRASE_END = {
    "in", "of", "with", "and", "or", "the", "a", "an", "what", "which", "who", "how", "show", "list", "give",
    "return", "that", "where", "when", "during", "from", "to", "for", "on", "at", "is", "was", "were",
    "are", "has", "have", "had", "did", "do", "does", "their", "its", "his", "her", "sorted", "ordered",
    "as", "than", "whose", "per", "by", "each", "every", "including", "plus", "along",
}  # fmt: skip
_AGGREGATE = re.compile(
    r"\b(total|sum|average|avg|mean|median|count|number of|how many|highest|lowest|most|least|max|maximum|"
    r"min|minimum|latest|earliest|first|last|best|worst|share|percentage|percent|revenue)\b",
    re.IGNORECASE,
)
# Questions that ask for several rows per group: a listing, a ranking within groups, a running figure.
ROWS_PER_GROUP = re.compile(r"\b(list|rank\w*|within|running|cumulative|moving)\b", re.IGNORECASE)
_PERCENT_QUESTION = re.compile(r"\b(percent|percentage|pct)\b|%", re.IGNORECASE)
_PERCENT_COLUMN = {"pct", "percent", "percentage", "share"}
# The question asks for a share ("what percentage of", "the share of"), not "a discount of 10 percent".
_ASKS_PERCENT = re.compile(
    r"\b(?:what|which)\s+(?:percentage|percent|share|proportion|fraction)\b"
    r"|\b(?:percentage|share|proportion|fraction)\s+of\b",
    re.IGNORECASE,
)
# "Include doctors with no visits (count 0)", "including devices without readings", "with a count of 0".
_WITH_ZERO = re.compile(
    r"\binclud\w*\b[^.?;]*\b(?:no|without|zero|none)\b|\b(?:count|with)\s+(?:of\s+)?0\b", re.IGNORECASE
)
_COUNTS = re.compile(r"\b(?:how many|count|number of|sum|total)\b", re.IGNORECASE)  # a figure that can be 0
_TIME_UNIT = re.compile(r"\b(?:seconds?|minutes?|hours?|days?)\b", re.IGNORECASE)
# A percentage of change may be negative or above 100: not a share of a whole.
_CHANGE = re.compile(r"change|growth|grow|increase|decrease|diff|delta|drop|rise|gain|loss|margin|return")
# The same in a question's words ("Return the plan and ..." asks for output, not a financial return).
_CHANGE_QUESTION = re.compile(
    r"\b(?:change|growth|grow|grew|increase|decrease|diff|difference|delta|drop|rise|gain|loss|margin)\w*",
    re.IGNORECASE,
)
_MAYBE_NONE = re.compile(r"\b(any|are there|is there|were there|whether)\b", re.IGNORECASE)
# Words that make a column a measure, not a group key: "avg_order_value" does not name orders.
_MEASURE_TOKENS = {
    "per", "avg", "average", "sum", "total", "count", "cnt", "num", "number", "max", "min", "mean", "median",
    "pct", "percent", "percentage", "share", "ratio", "rate",
}  # fmt: skip
_SLACK = 1e-6  # rounding noise around 0 and 100


def singular(word: str) -> str:
    """A crude singular, enough to match 'customers' to a column 'customer' ('categories' -> 'category')."""
    word = word.lower()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def grouping_words(question: str, by: bool = True) -> list[str]:
    """The nouns the question groups by: 'revenue for each product category by year' -> [product,
    category, year]. Words after 'by' count only when ``by`` and when 'by' is not part of 'sorted by',
    'placed by'..., nor a ranking's measure ('the top 3 products by revenue')."""
    by = by and not RANKING.search(question)
    words: list[str] = []
    for match in _GROUPING.finditer(question):
        if match.group(0).lower().startswith("by") and (
            not by or _word_before(question, match.start()) in _NOT_GROUPING_BEFORE_BY
        ):
            continue
        words.extend(_phrase(question[match.end() :]))
    return list(dict.fromkeys(words))


def _word_before(text: str, index: int) -> str:
    before = re.findall(r"[a-z]+", text[:index].lower())
    return before[-1] if before else ""


def _phrase(text: str) -> Iterator[str]:
    """The words of the noun phrase that starts ``text``: two at most, and two more after an 'and'
    ('customer and year'); it ends at punctuation or a word that ends it ('customer in Germany')."""
    taken = 0
    for word in re.findall(r"[A-Za-z][A-Za-z0-9_]*(?:'s)?|[^\sA-Za-z]", text)[:6]:
        if word.lower() == "and" and taken:
            taken = 0
            continue
        if taken == 2 or not word[0].isalpha() or word.lower() in _PHRASE_END:
            return
        taken += 1
        yield singular(word.removesuffix("'s"))
        if word.endswith("'s"):  # "each supplier's revenue" groups by supplier
            return


def _tokens(column: str) -> list[str]:
    """A column name's words: 'customerName' and 'customer_name' both give [customer, name]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def matching_columns(word: str, result: ResultPreview) -> list[int]:
    """Indexes of the result columns named after ``word`` ('customer' -> customer, customer_id), but not
    a measure named after it ('items_per_order', 'avg_order_revenue' are not order columns); for 'day'
    with no column named so, the first date column ('for each day' answered with ``to_date(ts) AS d``)."""
    found = []
    for index, column in enumerate(result.columns):
        tokens = [singular(t) for t in _tokens(column.name)]
        if _names(word, tokens) and not _MEASURE_TOKENS & set(tokens):
            found.append(index)
    if not found and word.lower() == "day":  # "for each day" is keyed by a date, whatever its name
        found = [i for i, c in enumerate(result.columns) if c.type.lower() == "date"][:1]
    return found


def _names(word: str, tokens: list[str]) -> bool:
    """Whether a column's tokens name ``word``: one of them, or a run of them for a word written as a
    column name itself ('for each event_type' names the column event_type)."""
    parts = [singular(t) for t in _tokens(word)]
    return any(tokens[i : i + len(parts)] == parts for i in range(len(tokens) - len(parts) + 1))


def grouped_columns(question: str, result: ResultPreview) -> dict[str, list[int]]:
    """Each grouping word of the question that names a result column, with those columns."""
    words = {w: matching_columns(w, result) for w in grouping_words(question)}
    return {w: cols for w, cols in words.items() if cols}


def top_n(question: str) -> int | None:
    """The N of 'top N' / 'the N most ...', or None."""
    match = _TOP_N.search(question)
    if match is None:
        return None
    text = (match.group(1) or match.group(2)).lower()
    return NUMBER_WORDS.get(text) or int(text)


# "which 2 pages", "the three products": several rows per group were asked for, not one.
_SEVERAL = re.compile(rf"\b(?:which|what|the)\s+{_NUMBER}\b", re.IGNORECASE)


def several(question: str) -> int | None:
    """The count of two or more items the question names ('which 2 pages have the most ...'), or None."""
    for match in _SEVERAL.finditer(question):
        text = match.group(1).lower()
        if (count := NUMBER_WORDS.get(text) or int(text)) >= 2:
            return count
    return None


def asks_for_several(question: str) -> bool:
    """Whether the question names a count of two or more items ('which 2 pages have the most ...')."""
    return several(question) is not None


# -- the checks -------------------------------------------------------------------------------------


def empty_result(question: str, result: ResultPreview) -> str | None:
    """No rows, unless the question allows none ('are there any ...?')."""
    if result.rows or result.truncated or _MAYBE_NONE.search(question):
        return None
    return "the result is empty: check the filters (literal values, date formats, spelling and case)"


def one_row_for_each(question: str, result: ResultPreview) -> str | None:
    """'For each X' answered with a single row that has an X column (e.g. ORDER BY ... LIMIT 1)."""
    if len(result.rows) != 1 or result.truncated:
        return None
    grouped = grouped_columns(question, result)
    if not grouped:
        return None
    word = next(iter(grouped))
    if RANKING.search(question):  # "for each X, which Y had the most": the top row of every group
        return (
            f"the question asks for each {word} but the result has 1 row, the top of all rows: for the top "
            f"row of each {word} number the rows with ROW_NUMBER() OVER (PARTITION BY {word} ORDER BY the "
            f"measure DESC) AS rn in a subquery and keep WHERE rn = 1, not ORDER BY ... LIMIT 1"
        )
    return (
        f"the question asks for each {word} but the result has 1 row (group by {word} and keep every group)"
    )


def duplicate_groups(question: str, result: ResultPreview) -> str | None:
    """'For each X, the total/highest ...' with an X value on several rows: one row per X was asked.

    Only for a question asking for one value per group (an aggregate word, no 'top N', no listing,
    ranking within groups or running figure), and over all grouping words together ('per customer
    and year' may repeat a customer)."""
    if top_n(question) is not None or asks_for_several(question):
        return None
    if not _AGGREGATE.search(question) or ROWS_PER_GROUP.search(question):
        return None
    grouped = grouped_columns(question, result)
    if not grouped:
        return None
    columns = sorted({cols[0] for cols in grouped.values()})
    keys = [tuple(_hashable(row[i]) for i in columns) for row in result.rows]
    if len(set(keys)) == len(keys):
        return None
    names = ", ".join(result.columns[i].name for i in columns)
    return f"the question asks for one row per {' and '.join(grouped)} but {names} repeats across rows"


def more_than_top_n_per_group(question: str, result: ResultPreview) -> str | None:
    """'The top N Y for each X' with an X value on more than N rows (every Y listed, not the top N)."""
    n = top_n(question) or several(question)
    grouped = grouped_columns(question, result) if n is not None else {}
    if not grouped or n is None or ROWS_PER_GROUP.search(question):
        return None
    columns = sorted({cols[0] for cols in grouped.values()})
    counts = Counter(tuple(_hashable(row[i]) for i in columns) for row in result.rows)
    key, most = counts.most_common(1)[0] if counts else ((), 0)
    if most <= n:
        return None
    names = ", ".join(result.columns[i].name for i in columns)
    shown = ", ".join(map(str, key))
    return (
        f"the question asks for the top {n} per {' and '.join(grouped)} but {names} {shown} has {most} rows"
    )


def top_n_of_all_rows(question: str, result: ResultPreview) -> str | None:
    """'For each X, which N Y had the most' answered with N rows or fewer in all: the top N of all
    rows (``ORDER BY ... LIMIT N``), not of each X. (One row is :func:`one_row_for_each`'s.)"""
    n = top_n(question) or several(question)
    if n is None or n < 2 or result.truncated or not 2 <= len(result.rows) <= n:
        return None
    if not RANKING.search(question) or ROWS_PER_GROUP.search(question):
        return None
    grouped = grouped_columns(question, result)
    if not grouped:
        return None
    word = next(iter(grouped))
    return (
        f"the question asks for the top {n} of each {word} but the result has {len(result.rows)} rows in "
        f"all, the top of all rows: number the rows of each {word} with ROW_NUMBER() OVER (PARTITION BY "
        f"{word} ORDER BY the measure DESC) AS rn in a subquery and keep WHERE rn <= {n}, not ORDER BY ... "
        f"LIMIT {n}"
    )


def null_column(question: str, result: ResultPreview) -> str | None:
    """A column whose every value is null (a join on the wrong key, a misspelt literal in CASE ...)."""
    if not result.rows:
        return None
    for index, column in enumerate(result.columns):
        if all(row[index] is None for row in result.rows):
            return f"column {column.name!r} is null on every row (check the join keys and the expressions)"
    return None


def more_than_top_n(question: str, result: ResultPreview) -> str | None:
    """'Top N' answered with more than N rows (a per-group top N asks for more: not checked then)."""
    n = top_n(question)
    if n is None or grouping_words(question, by=False):
        return None
    rows = result.row_count if result.row_count is not None else len(result.rows)
    if rows <= n and not result.truncated:
        return None
    return (
        f"the question asks for the top {n} but the result has {rows}{'+' if result.truncated else ''} rows"
    )


def percentage_out_of_range(question: str, result: ResultPreview) -> str | None:
    """A share of a whole outside 0-100 (a fraction 0-1 is fine too); changes and margins may be."""
    if _CHANGE_QUESTION.search(question):
        return None
    for index in _percentage_columns(question, result):
        values = [
            v for row in result.rows if isinstance(v := row[index], int | float) and not isinstance(v, bool)
        ]
        bad = [v for v in values if v < -_SLACK or v > 100 + _SLACK]
        if bad:
            name = result.columns[index].name
            return (
                f"{name!r} should be a percentage but holds {bad[0]!r} (check the numerator and denominator)"
            )
    return None


def count_for_a_percentage(question: str, result: ResultPreview) -> str | None:
    """'What percentage of X ...' answered with whole numbers only: a count where a share was asked
    (Spark's ``/`` always gives a fraction, so a computed percentage is a double or a decimal)."""
    if not result.rows or not _ASKS_PERCENT.search(question) or _CHANGE_QUESTION.search(question):
        return None
    if any(_is_number_type(c.type) for c in result.columns):
        return None
    counts = [v for row in result.rows for v in row if isinstance(v, int) and not isinstance(v, bool)]
    if not counts:  # nothing numeric to judge (a null column has its own check)
        return None
    return "the question asks for a percentage but the result holds only whole counts: compute 100.0 * part / whole"


def hundred_on_every_row(question: str, result: ResultPreview) -> str | None:
    """A share that is 100 on every one of several rows: the part and the whole count the same rows."""
    for index in _percentage_columns(question, result):
        values = [row[index] for row in result.rows]
        if len(values) >= 2 and all(isinstance(v, int | float) and abs(v - 100) <= _SLACK for v in values):
            name = result.columns[index].name
            return (
                f"{name!r} is 100 on every row: the part and the whole count the same rows "
                "(divide by the whole, not by the part)"
            )
    return None


def asks_to_include_none(question: str) -> bool:
    """'How many ... include the X with no Y (count 0)': a count or sum that must list the X with none.
    Not a check of the result (the data may hold no such X: then no row has 0 and the answer is right),
    but the cue of a rewrite before the run (runs/rewrites.py ``zero_for_none``)."""
    return bool(_WITH_ZERO.search(question) and _COUNTS.search(question))


_NULL_ASKED = re.compile(r"\bnull\s+(?:for|when|if|on)\b", re.IGNORECASE)


def asks_for_null(question: str) -> bool:
    """'... the change from the previous month (null for January)': the question says where a value is
    null. The cue of the check below and of a rewrite before the run (runs/rewrites.py ``null_kept``)."""
    return bool(_NULL_ASKED.search(question))


def no_null_where_asked(question: str, result: ResultPreview) -> str | None:
    """The question says a value is null ('null for January') and no value of the result is: a null
    replaced with 0 (``COALESCE(change, 0)``, ``LAG(x, 1, 0)``), or the row that holds it left out."""
    if not asks_for_null(question) or not result.rows or result.truncated:
        return None
    if any(value is None for row in result.rows for value in row):
        return None
    return (
        "the question says a value is null (e.g. for the first row) but no value of the result is null: "
        "keep the null, with no COALESCE, IFNULL or default around LAG, and keep that row"
    )


# "the change from the previous month", "difference from the prior day's total"
_FROM_PREVIOUS = re.compile(
    r"\b(?:change|difference|diff|increase|decrease|growth|delta)\b[^.?;]*\b(?:previous|prior|preceding|last)\b",
    re.IGNORECASE,
)
_SHIFT_ROWS = 3  # rows needed before a shifted copy is more than chance


def previous_value_for_a_change(question: str, result: ResultPreview) -> str | None:
    """The question asks for the change from the previous row and a column holds the previous row's
    value of another column (``LAG(total)`` where ``total - LAG(total)`` was meant), while no column
    holds the change itself (a result may show the previous value beside the change)."""
    rows = result.rows
    if not _FROM_PREVIOUS.search(question) or len(rows) < _SHIFT_ROWS:
        return None
    numeric = [i for i, c in enumerate(result.columns) if _is_numeric(rows, i)]
    for measure in numeric:
        values = [row[measure] for row in rows]
        if len(set(values)) < 2 or _holds_change(rows, numeric, values):
            continue
        for column in numeric:
            if column != measure and all(rows[k][column] == values[k - 1] for k in range(1, len(rows))):
                return (
                    f"column {result.columns[column].name!r} holds the previous row's "
                    f"{result.columns[measure].name!r}, not the change: subtract it "
                    "(x - LAG(x) OVER (ORDER BY ...))"
                )
    return None


def _holds_change(rows: list[list[Any]], numeric: list[int], values: list[Any]) -> bool:
    """Whether a column holds ``values``' change from the previous row (a difference or a ratio)."""
    steps = [k for k in range(1, len(rows)) if values[k] is not None and values[k - 1] is not None]
    changes = {
        "difference": [values[k] - values[k - 1] for k in steps],
        "ratio": [(values[k] - values[k - 1]) / values[k - 1] if values[k - 1] else None for k in steps],
        "factor": [values[k] / values[k - 1] if values[k - 1] else None for k in steps],
    }
    changes["backwards"] = [-d for d in changes["difference"]]  # previous minus current
    changes["percent"] = [None if r is None else 100 * r for r in changes["ratio"]]
    return any(
        _close([rows[k][column] for k in steps], want) for column in numeric for want in changes.values()
    )


def _close(got: list[Any], want: list[float | None]) -> bool:
    """Equal within rounding noise, value by value (a null wanted matches anything: a ratio over 0)."""
    return bool(got) and all(
        w is None or (isinstance(g, int | float) and abs(g - w) <= 1e-6 * max(1.0, abs(w)))
        for g, w in zip(got, want, strict=True)
    )


def _is_numeric(rows: list[list[Any]], index: int) -> bool:
    """Every value of the column is a number or null (a bool is not a number here)."""
    values = [row[index] for row in rows if index < len(row)]
    return len(values) == len(rows) and all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
    )


def interval_for_a_number(question: str, result: ResultPreview) -> str | None:
    """A timestamp minus a timestamp (an interval) where the question asks for a number of seconds,
    minutes, hours or days."""
    if not _TIME_UNIT.search(question):
        return None
    for column in result.columns:
        if column.type.lower().startswith("interval"):
            return (
                f"column {column.name!r} is an interval, not a number: for seconds use "
                "unix_timestamp(later) - unix_timestamp(earlier), for days datediff(later, earlier)"
            )
    return None


def _percentage_columns(question: str, result: ResultPreview) -> list[int]:
    """Columns named as a percentage or share; or, when the question asks for a percentage, the only
    numeric column whose name is not a count or a key."""
    named = [
        i for i, c in enumerate(result.columns)
        if _PERCENT_COLUMN & set(_tokens(c.name)) and not _CHANGE.search(c.name.lower())
    ]  # fmt: skip
    if named or not _PERCENT_QUESTION.search(question):
        return named
    numeric = [i for i, c in enumerate(result.columns) if _is_number_type(c.type)]
    return (
        numeric if len(numeric) == 1 and not _CHANGE.search(result.columns[numeric[0]].name.lower()) else []
    )


def _is_number_type(spark_type: str) -> bool:
    return spark_type.lower().startswith(("double", "float", "decimal"))


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


CHECKS: tuple[Check, ...] = (
    empty_result,
    one_row_for_each,
    duplicate_groups,
    more_than_top_n_per_group,
    top_n_of_all_rows,
    null_column,
    more_than_top_n,
    percentage_out_of_range,
    count_for_a_percentage,
    hundred_on_every_row,
    interval_for_a_number,
    no_null_where_asked,
    previous_value_for_a_change,
)


def check_result(question: str, result: ResultPreview, checks: Sequence[Check] = CHECKS) -> list[str]:
    """Every alarm the checks raise on ``result`` for ``question``, in check order (empty: none).
    Messages hold no '; ': the loop joins several into one failure message with it."""
    return [message for check in checks if (message := check(question, result)) is not None]
