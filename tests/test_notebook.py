"""Notebooks: a real notebook executed headless (nbclient on an ipykernel kernel) loads the extension,
asks with ``%%ask`` and ``%ask``, registers a pandas frame and asks about it; and the Answer's display and
conversions on their own.

Real Spark (the kernel joins the session's server), a scripted model.
"""

from __future__ import annotations

import base64
import os
import re
from html import unescape
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from askspark.interfaces.notebook import parse_magic
from askspark.record import Answer, ColumnInfo, ResultPreview
from askspark.settings import Settings
from live_server import script, sql

AVG_CLOSE = "SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol"
PER_REGION = "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"
HOSTILE = "<script>alert(1)</script>"


def html(cell: Any) -> str:
    """What a browser would render as HTML from a cell."""
    return "\n".join(out.get("data", {}).get("text/html", "") for out in cell.outputs)


def outputs(cell: Any) -> str:
    """Everything a cell showed: streams, HTML and plain text of displays and results, errors."""
    texts = []
    for out in cell.outputs:
        texts.append(out.get("text", ""))
        data = out.get("data", {})
        texts += [data.get("text/html", ""), data.get("text/plain", "")]
        texts += out.get("traceback", [])
    return "\n".join(texts)


@pytest.mark.slow
def test_notebook_magics_register_and_answer(
    settings: Settings, shared_engine: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spare replies: an attempt that times out on a loaded machine is retried with the same code.
    nasdaq = script(tmp_path / "nasdaq.json", [sql(AVG_CLOSE)] * 3)
    sales = script(tmp_path / "sales.json", [sql(PER_REGION)] * 3)
    again = script(tmp_path / "again.json", [sql(PER_REGION)] * 3)
    cells = [
        "%load_ext askspark",
        f"%%ask --table northwind.nasdaq --model {nasdaq}\nAverage close per symbol",
        "import askspark, pandas as pd\n"
        f"df = pd.DataFrame({{'region': ['north', 'south', 'north', {HOSTILE!r}], 'amount': [10, 20, 5, 1]}})\n"
        "info = askspark.register('sales', df)\n"
        "print(info.full_name, [(c.name, c.type) for c in info.columns])",
        f"%ask --table uploads.sales --model {sales} Total amount per region",
        f"answer = askspark.ask('Total amount per region', tables=['uploads.sales'], model={again!r})\nanswer",
        "print(answer.to_pandas().to_dict('list'), answer.to_arrow().num_rows)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # The kernel imports askspark as installed, like the sandboxed worker does.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("ASKSPARK_TIMEOUT_SECONDS", "240")  # the 2-core CI machine is slow, not the code
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    shown = [outputs(cell) for cell in notebook.cells]
    # %%ask: the code and the attempts as HTML, the result as a DataFrame (the cell's value).
    assert "ROUND(AVG(close), 2)" in shown[1] and "attempt(s)</summary>" in shown[1], shown[1]
    assert "avg_close" in shown[1] and "AAPL" in shown[1]
    assert re.search(r"attempt \d+ \([0-9.]+ s\): ok", shown[1]), shown[1]  # printed as it ended
    assert chart_labels(shown[1]) >= {"AAPL", "avg_close"}, shown[1]  # the chart, rendered offline
    assert "uploads.sales [('region', 'string'), ('amount', 'bigint')]" in shown[2], shown[2]
    # The frame registered by name, asked about by the line magic; a hostile cell is shown as text.
    assert "SUM(amount)" in shown[3] and "total" in shown[3], shown[3]
    rendered = [html(cell) for cell in notebook.cells]
    assert "&lt;script&gt;" in rendered[3] and HOSTILE not in rendered[3]
    assert "succeeded" in rendered[4] and "&lt;script&gt;" in rendered[4] and HOSTILE not in rendered[4]
    assert "{'region': ['<script>alert(1)</script>', 'north', 'south'], 'total': [1, 15, 20]} 3" in shown[5]


def chart_labels(shown: str) -> set[str]:
    """The text of the chart image an answer's HTML shows (its SVG is inline as a data URI)."""
    found = re.search(
        r'<img class="askspark-chart" alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)"', shown
    )
    assert found, "no chart image"
    svg = base64.b64decode(found[1]).decode()
    assert "<script" not in svg  # a label from the data is escaped text in the SVG too
    return {unescape(t) for t in re.findall(r">([^<>]+)</text>", svg)}


def test_magic_options_are_the_cli_flags() -> None:
    question, options = parse_magic("--table a.b -t c --row-limit 5 --model scripted:x How many rows?", None)
    assert question == "How many rows?"
    assert options == {"tables": ["a.b", "c"], "row_limit": "5", "model": "scripted:x"}
    assert parse_magic("--file data.csv", "  Total per team\n")[0] == "Total per team"
    from askspark.errors import UsageError

    with pytest.raises(UsageError, match="unknown option '--nope'"):
        parse_magic("--nope 1 question", None)


def test_answer_display_escapes_and_converts(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    answer = Answer(
        status="succeeded",
        run_id="r1",
        question=f"why {HOSTILE}",
        engine="local",
        model="scripted",
        code=f"def answer(spark, tables):\n    return '{HOSTILE}'",
        result=ResultPreview(
            columns=[ColumnInfo(name="<b>name</b>", type="string"), ColumnInfo(name="n", type="bigint")],
            rows=[[HOSTILE, 1], [None, 2]],
            truncated=False,
        ),
        created_at=datetime.now(UTC),
        notices=[HOSTILE],
    )
    html = answer._repr_html_()
    assert "<script>" not in html and "<b>name</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "NULL" in html
    assert answer.to_pandas().to_dict("list") == {"<b>name</b>": [HOSTILE, None], "n": [1, 2]}
    assert answer.to_arrow(max_rows=1).num_rows == 1
    assert answer.model_copy(update={"result": None}).to_arrow().num_columns == 0
    assert "askspark-chart" not in html  # one value per label: no chart fits


def test_answer_display_shows_the_chart_with_labels_as_text() -> None:
    from datetime import UTC, datetime

    from askspark.results.chart import choose_chart

    result = ResultPreview(
        columns=[ColumnInfo(name="region", type="string"), ColumnInfo(name="total", type="bigint")],
        rows=[[HOSTILE, 1], ["north", 15], ["south", 20]],
        truncated=False,
    )
    answer = Answer(
        status="succeeded", run_id="r2", question="q", engine="local", model="scripted",
        result=result, chart=choose_chart(result), created_at=datetime.now(UTC),
    )  # fmt: skip
    html = answer._repr_html_()
    assert chart_labels(html) >= {HOSTILE, "north", "south", "total"}  # escaped SVG text, never markup
    assert HOSTILE not in html  # the SVG is an image (base64): a script in it never runs


def test_register_rejects_what_it_cannot_write(tmp_path: Path) -> None:
    from askspark.errors import UsageError
    from askspark.interfaces.notebook import register

    settings = Settings(home=tmp_path)

    with pytest.raises(UsageError, match="cannot register a list"):
        register("things", [1, 2], settings=settings)
    with pytest.raises(UsageError, match="invalid table name"):
        register("2 bad", [1], settings=settings)
    assert not os.path.exists(settings.home / "uploads" / "things")
