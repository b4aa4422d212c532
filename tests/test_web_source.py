"""The web UI's source keeps its promises: data is put on the page as text, nothing loads from elsewhere.

The browser tests (test_web_ui.py) show hostile cells and labels as text on the paths they take; this
reads the whole source, so a new path that writes markup from data fails here before it ships.
"""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).parent.parent / "src" / "askspark" / "interfaces" / "web"
# Ways to turn a string into markup or code: none of them may appear in the UI's script.
MARKUP_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function")


def test_the_script_never_writes_markup_or_runs_strings() -> None:
    source = (WEB / "app.js").read_text()
    script = re.sub(r"(?m)(^|\s)//[^\n]*", r"\1", source)  # comments may name the sinks they avoid
    assert [sink for sink in MARKUP_SINKS if sink in script] == []
    assert "textContent" in script and "innerHTML" in source  # it writes text, and its comment says why


def test_the_page_loads_only_its_own_files() -> None:
    page = (WEB / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(not re.match(r"^(?:[a-z]+:)?//", s) for s in sources)  # no CDN, no other host
    assert "<style" not in page and re.search(r"<script>|<script [^>]*>[^<]", page) is None  # CSP: no inline
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
