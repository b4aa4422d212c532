"""Pull the code out of a model's reply.

Models wrap code in many ways: fenced blocks (```python, ```py, ```sql, bare ```, ~~~), no fences at
all, prose before and after, several blocks, or a reply cut off inside a fence when it hit the token
limit. :func:`extract_code` copes with all of these and returns ``None`` only when nothing code-like
is there, so the harness can tell the model "no code found" instead of running prose.

For ``style="sql"`` (small models write one SQL query more reliably than a PySpark function) the
query is wrapped into the ``answer`` contract by :func:`wrap_sql`.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from typing import Literal

Style = Literal["python", "sql"]

_PYTHON_LANGS = frozenset({"python", "py", "python3", "py3", "pyspark", "ipython"})
_SQL_LANGS = frozenset({"sql", "sparksql", "spark-sql", "spark_sql", "hive", "hiveql", "ansi-sql"})
# Info strings that say nothing about the language: guess from the content, as for a bare fence.
_UNLABELED = frozenset({"", "text", "txt", "plaintext", "code"})

# Names generated code commonly uses without importing them, and the import that binds each.
STANDARD_IMPORTS: dict[str, str] = {
    "F": "from pyspark.sql import functions as F",
    "Window": "from pyspark.sql import Window",
    "T": "from pyspark.sql import types as T",
    "DataFrame": "from pyspark.sql import DataFrame",
    "SparkSession": "from pyspark.sql import SparkSession",
}

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*?)[ \t]*$")
_DEF_ANSWER = re.compile(r"^[ \t]*def[ \t]+answer[ \t]*\(", re.M)
_THINK = re.compile(r"<(think|thinking)>.*?</\1>", re.S | re.I)
# A line that can start a Python statement; anything else at the code's indentation is prose.
_CODE_START = re.compile(
    r"""^(?:
        (?:async\s+)?def\s+\w+\s*\( | class\s+\w+ | import\s+\w | from\s+[\w.]+\s+import\s
        | @\w | \# | (?:return|raise|pass|assert|del|global|nonlocal|yield)\b
        | (?:if|elif|for|while|with|try|except|finally|else)\b.*:\s*(?:\#.*)?$
        | [A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*,\s*[A-Za-z_]\w*)*\s*[-+*/%|&]?=(?!=)
        | [A-Za-z_][\w.]*\(
        | [)\]}]
    )""",
    re.X,
)
_SQL_QUERY_START = re.compile(r"^\s*(?:SELECT|WITH)\b", re.I)
# Unfenced SQL must look unmistakably like SQL: prose starts sentences with "Select" and "With" too.
_BARE_SQL_START = re.compile(r"^\s*(?:SELECT\s|WITH\s+(?:RECURSIVE\s+)?\w+\s+AS\s*\()")
_SQL_CONTINUATION = re.compile(
    r"^\s*(?:\)|,|--|(?:FROM|WHERE|GROUP|ORDER|HAVING|LIMIT|JOIN|LEFT|RIGHT|INNER|FULL|CROSS|OUTER|ON|AND|"
    r"OR|UNION|EXCEPT|INTERSECT|SELECT|WINDOW|QUALIFY|CASE|WHEN|THEN|ELSE|END|LATERAL|SORT|DISTRIBUTE|"
    r"CLUSTER)\b|\w+\s+AS\s*\()",
    re.I,
)


@dataclass
class _Block:
    """One fenced block: its kind ("python", "sql" or "other"), its text and whether its fence closed."""

    kind: str
    code: str
    closed: bool = True


def extract_code(text: str, style: Style = "python") -> str | None:
    """The code in a model reply, ready to validate and run, or None when there is none.

    Preference: a block defining ``def answer`` (missing standard imports added); else a SQL query,
    wrapped with :func:`wrap_sql`; else, for ``style="python"`` only, the largest Python block.
    With ``style="sql"`` a Python ``def answer`` therefore still wins over the query.
    """
    text = _normalize(text)
    blocks, prose = _split_fences(text)
    runs = [_Block("python", run) for segment in prose for run in _python_runs(segment)]
    python = [b for b in blocks if b.kind == "python"]
    code = _pick_answer(python) or _pick_answer(runs)
    if code is None:
        # A whole query runs as an answer; a Python fragment without ``answer`` cannot.
        sql = _pick_sql(blocks, prose)
        if sql:
            return wrap_sql(sql)
        if style == "sql":
            return None
        code = _largest(python) or _largest(runs)
    return _finish(add_missing_imports(code)) if code else None


_CLARIFY = re.compile(r"^[ \t>*`_]*NEEDS[_ ]CLARIFICATION\b[*`_]*[ \t]*:?[ \t]*(?P<missing>.*)$", re.M | re.I)


def clarification_of(text: str) -> str | None:
    """What is missing, when the reply says ``NEEDS_CLARIFICATION: ...`` and holds no code block.

    The prompt allows this line instead of code when the data cannot answer (setting ``clarify``);
    a reply with a fenced block is code, whatever its prose says.
    """
    text = _normalize(text)
    match = _CLARIFY.search(text)
    if match is None or _split_fences(text)[0]:
        return None
    missing = match.group("missing").strip().strip("`*_").strip()
    return missing or "the question needs something the selected data does not hold"


def wrap_sql(sql: str) -> str:
    """Wrap one Spark SQL query into the ``answer(spark, tables)`` contract.

    Backslashes and triple quotes are escaped so the query reaches Spark exactly as written.
    """
    body = _strip_semicolons(textwrap.dedent(_unix_newlines(sql)).strip())
    body = body.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'def answer(spark, tables):\n    return spark.sql("""\n{body}\n""")\n'


def add_missing_imports(code: str) -> str:
    """Add the standard PySpark imports (``F``, ``Window``, ``T``, ...) the code uses but never binds."""
    used, bound = _names(code)
    missing = [line for name, line in STANDARD_IMPORTS.items() if name in used and name not in bound]
    if not missing:
        return code
    lines = code.split("\n")
    # ``from __future__`` imports must stay first, so the new imports go after them.
    at = 0
    while at < len(lines) and lines[at].startswith("from __future__ import"):
        at += 1
    rest = lines[at:]
    gap = [""] if rest and rest[0].strip() and not re.match(r"(?:from|import)\s", rest[0]) else []
    return "\n".join(lines[:at] + missing + gap + rest)


# -- reading the reply ------------------------------------------------------------------------------


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _normalize(text: str) -> str:
    """Unix newlines, no BOM, no reasoning sections, CodeLlama's [PYTHON] tags turned into fences."""
    text = _unix_newlines(text.replace("\ufeff", ""))
    text = _THINK.sub("", text)
    return re.sub(r"\[/?PYTHON\]", lambda m: "\n```\n" if "/" in m.group() else "\n```python\n", text)


def _split_fences(text: str) -> tuple[list[_Block], list[str]]:
    """The fenced blocks of ``text`` and the prose segments between them."""
    blocks: list[_Block] = []
    prose: list[str] = []
    outside: list[str] = []
    inside: list[str] | None = None
    fence = info = ""
    for line in text.split("\n"):
        if inside is None:
            opened = _open_fence(line)
            if opened is None:
                outside.append(line)
                continue
            prefix, fence, info = opened
            outside.append(prefix)
            prose.append("\n".join(outside))
            outside, inside = [], []
        elif re.fullmatch(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*", line):
            blocks.append(_block(info, inside, closed=True))
            inside = None
        elif fence[0] == "`" and line.rstrip().endswith("```"):
            # Some models glue the closing fence to the last code line: ``    return df```.
            inside.append(line.rstrip().rstrip("`"))
            blocks.append(_block(info, inside, closed=True))
            inside = None
        else:
            inside.append(line)
    if inside is not None:
        # Cut off inside a fence (token limit): keep what arrived, minus a half-written closing fence.
        while inside and re.fullmatch(r"\s*[`~]{0,2}\s*", inside[-1]):
            inside.pop()
        blocks.append(_block(info, inside, closed=False))
    prose.append("\n".join(outside))
    return blocks, prose


def _open_fence(line: str) -> tuple[str, str, str] | None:
    """(prose before the fence, the fence, its language) when ``line`` opens a fenced block."""
    match = _FENCE_OPEN.match(line)
    prefix = ""
    if match is None and "```" in line:
        # "Here is the code: ```python" -- an opening fence after prose on the same line.
        cut = line.index("```")
        prefix, match = line[:cut], _FENCE_OPEN.match(line[cut:])
    if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
        return None  # inline code such as ```x``` is not a block
    words = match["info"].strip("{}. ").lower().split()
    return prefix, match["fence"], words[0] if words else ""


def _block(info: str, lines: list[str], *, closed: bool) -> _Block:
    code = textwrap.dedent("\n".join(lines))
    if info in _PYTHON_LANGS:
        kind = "python"
    elif info in _SQL_LANGS:
        kind = "sql"
    elif info in _UNLABELED:
        kind = _guess_kind(code)
    else:
        kind = "other"
    # Labels lie now and then: a ```python block holding a bare query, a ```sql block holding answer().
    if _DEF_ANSWER.search(code):
        kind = "python"
    elif kind == "python" and not _parses(code) and _guess_kind(code) == "sql":
        kind = "sql"
    return _Block(kind, code, closed)


def _guess_kind(code: str) -> str:
    """Language of an unlabeled block: SQL if it starts like a query, Python if it looks like code."""
    first = next((ln for ln in code.split("\n") if ln.strip() and not ln.lstrip().startswith("--")), "")
    if _SQL_QUERY_START.match(first):
        return "sql"
    if (_parses(code) and _is_code(code)) or re.search(
        r"^\s*(?:def|import|from|return)\s|\bspark\.", code, re.M
    ):
        return "python"
    return "other"


def _python_runs(segment: str) -> list[str]:
    """Runs of unfenced Python in a prose segment, each starting at a line that starts a statement."""
    lines = segment.split("\n")
    runs: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if not line.strip() or not _CODE_START.match(line[indent:]):
            i += 1
            continue
        end = _run_end(lines, i, indent)
        run = _trim_run(lines[i:end])
        if run and _is_code(run):
            runs.append(run)
        i = max(end, i + 1)
    return runs


def _run_end(lines: list[str], start: int, base: int) -> int:
    """Index after the last line of the run starting at ``start`` with indentation ``base``."""
    quote: str | None = None
    depth = 0
    i = start
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        continues = (
            quote is not None
            or depth > 0
            or not line.strip()
            or indent > base
            or (indent == base and _CODE_START.match(line[base:]) is not None)
        )
        if not continues:
            break
        quote, depth = _scan_line(line, quote, depth)
        i += 1
    return i


def _scan_line(line: str, quote: str | None, depth: int) -> tuple[str | None, int]:
    """Carry open triple-quoted strings and bracket depth across a line, so SQL inside a
    ``spark.sql(\"\"\"...\"\"\")`` at column 0 is not mistaken for prose."""
    i = 0
    while i < len(line):
        if quote is not None:
            end = line.find(quote, i)
            if end < 0:
                return quote, depth
            i, quote = end + 3, None
            continue
        ch = line[i]
        if ch == "#":
            break
        if line.startswith(('"""', "'''"), i):
            quote, i = line[i : i + 3], i + 3
            continue
        if ch in "\"'":
            i += 1
            while i < len(line) and line[i] != ch:
                i += 2 if line[i] == "\\" else 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    return quote, depth


def _trim_run(lines: list[str]) -> str:
    """A run without trailing blank/comment lines, cut to the longest stretch that parses.

    The stretch starts at the run's first line, or failing that at a later top-level ``def``,
    ``import`` or decorator (dropping a prose line such as "for example:"). If nothing parses the
    code was probably cut off; it is kept whole so the model hears of the syntax error rather than
    having half a function run.
    """
    code = textwrap.dedent("\n".join(lines)).split("\n")
    while code and (not code[-1].strip() or code[-1].startswith("#")):
        code.pop()
    starts = [0] + [i for i, ln in enumerate(code) if i and re.match(r"(?:def|import|from|@|class)\b", ln)]
    for start in starts[:3]:  # a few candidates keep a long unparseable reply cheap
        for end in range(len(code), start, -1):
            if code[end - 1].strip() and _parses("\n".join(code[start:end])):
                return "\n".join(code[start:end])
    return "\n".join(code)


# -- choosing --------------------------------------------------------------------------------------


def _pick_answer(blocks: list[_Block]) -> str | None:
    """The block defining ``def answer``: the last complete one (models put corrections last)."""
    defining = [(b.closed, i, b) for i, b in enumerate(blocks) if _DEF_ANSWER.search(b.code)]
    if not defining:
        return None
    chosen = max(defining, key=lambda t: t[:2])[2]
    return _with_import_blocks(chosen, blocks)


def _largest(blocks: list[_Block]) -> str | None:
    usable = [b for b in blocks if b.code.strip()]
    return _with_import_blocks(max(usable, key=lambda b: len(b.code)), blocks) if usable else None


def _with_import_blocks(chosen: _Block, blocks: list[_Block]) -> str:
    """``chosen`` plus imports that the model put in a separate imports-only block."""
    imports: list[str] = []
    for block in blocks:
        lines = [ln.strip() for ln in block.code.split("\n") if ln.strip() and not ln.strip().startswith("#")]
        if (
            block is chosen
            or not lines
            or not all(re.match(r"(?:from\s+\S+\s+)?import\s", ln) for ln in lines)
        ):
            continue
        imports += [ln for ln in lines if ln not in chosen.code and ln not in imports]
    return "\n".join([*imports, chosen.code]) if imports else chosen.code


def _pick_sql(blocks: list[_Block], prose: list[str]) -> str | None:
    """One SQL query: from the largest SQL block, else from unfenced text."""
    sql_blocks = [b for b in blocks if b.kind == "sql" and b.code.strip()]
    if sql_blocks:
        return _last_query(max(sql_blocks, key=lambda b: len(b.code)).code)
    for segment in reversed(prose):
        query = _bare_sql(segment)
        if query:
            return query
    return None


def _last_query(sql: str) -> str:
    """The last SELECT/WITH statement of a block (earlier ones tend to be exploration)."""
    statements = [s.strip() for s in _split_sql(sql) if s.strip()]
    queries = [s for s in statements if _SQL_QUERY_START.match(_drop_sql_comments(s))]
    return (queries or statements or [sql.strip()])[-1]


def _bare_sql(segment: str) -> str | None:
    """The last unfenced query in prose: from a SELECT/WITH line to a ``;`` or the end of the SQL."""
    lines = segment.split("\n")
    found: str | None = None
    i = 0
    while i < len(lines):
        if not _BARE_SQL_START.match(lines[i]):
            i += 1
            continue
        end = i + 1
        while end < len(lines):
            if not lines[end].strip():
                nxt = next((ln for ln in lines[end:] if ln.strip()), "")
                if not _SQL_CONTINUATION.match(nxt):
                    break
            end += 1
        query = _split_sql("\n".join(lines[i:end]))[0].strip()
        if re.search(r"\bFROM\b", query, re.I) and not query.endswith((".", ":")):
            found = query
        i = end
    return found


def _split_sql(sql: str) -> list[str]:
    """Split on semicolons outside quotes and ``--`` comments."""
    parts: list[str] = []
    start = i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"`":
            i = sql.find(ch, i + 1)
            if i < 0:
                break
        elif sql.startswith("--", i):
            i = sql.find("\n", i)
            if i < 0:
                break
        elif ch == ";":
            parts.append(sql[start:i])
            start = i + 1
        i += 1
    parts.append(sql[start:])
    return parts


def _drop_sql_comments(sql: str) -> str:
    return "\n".join(ln for ln in sql.split("\n") if not ln.lstrip().startswith("--"))


def _strip_semicolons(sql: str) -> str:
    return sql.rstrip().rstrip(";").rstrip()


# -- small helpers ---------------------------------------------------------------------------------


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _is_code(code: str) -> bool:
    """Whether parsed code does something: not just a bare name or string (``Sure``, ``"ok"``)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return True  # unparseable runs only exist when they started like code; likely cut off
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Name | ast.Constant))
        for node in tree.body
    )


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names the code reads, names it binds); by regex when the code does not parse (cut off)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _names_by_regex(code)
    used: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return used, bound


def _names_by_regex(code: str) -> tuple[set[str], set[str]]:
    # One-letter aliases count only as ``F.``/``T.``, so a stray capital in a string does not.
    used = {n for n in STANDARD_IMPORTS if re.search(rf"\b{n}\b" + (r"\." if len(n) == 1 else ""), code)}
    binding = r"^\s*(?:(?:from\s+\S+\s+)?import\s.*\b{0}\b|{0}\s*=)"
    return used, {n for n in used if re.search(binding.format(n), code, re.M)}


def _finish(code: str) -> str | None:
    """Code without leading/trailing blank lines, ending in one newline; None if empty."""
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    text = "\n".join(lines).rstrip()
    return text + "\n" if text else None
