"""A one-off quality/speed probe of the embedded model writing Spark SQL (not a test).

Run: ``ASKSPARK_HOME=var/home .venv/bin/python benchmarks/embedded_probe.py``
(defaults ASKSPARK_HOME to the repo's ``var/home`` when unset). Prints each question's SQL, seconds,
tokens and tokens/s, the load time separately, and the peak RSS of the process.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from askspark.llm.base import Message
from askspark.llm.embedded import _load, create
from askspark.settings import get_settings

SYSTEM = (
    "You write one Spark SQL query that answers the user's question. Use only the tables and "
    "columns listed below; do not invent columns. Answer with the query only, in a ```sql block, "
    "no explanation.\n\n"
    "Tables:\n"
    "orders(order_id bigint, order_date date, customer string, country string, category string, "
    "product string, quantity int, unit_price double, discount double)\n"
    "nasdaq(date date, symbol string, open double, high double, low double, close double, volume bigint)"
)

QUESTIONS = [
    "What is the total revenue (quantity * unit_price * (1 - discount)) per country, highest first?",
    "Which 5 customers placed the most orders?",
    "What was the average closing price of each symbol in 2023?",
    "Show the monthly number of orders in 2024.",
    "On which day did AAPL have the largest difference between high and low?",
]


def main() -> None:
    os.environ.setdefault("ASKSPARK_HOME", str(Path(__file__).resolve().parents[1] / "var" / "home"))
    settings = get_settings()
    llm = create("", settings)

    start = time.perf_counter()
    _load(llm.path, settings.model_threads, settings.model_context)
    print(f"load: {time.perf_counter() - start:.2f} s (threads={settings.model_threads})\n")

    total_s = total_out = 0.0
    for question in QUESTIONS:
        messages = [Message(role="system", content=SYSTEM), Message(role="user", content=question)]
        start = time.perf_counter()
        out = llm.complete(messages, temperature=0.0, max_tokens=512)
        seconds = time.perf_counter() - start
        total_s += seconds
        total_out += out.completion_tokens or 0
        rate = (out.completion_tokens or 0) / seconds
        print(f"Q: {question}")
        print(out.text.strip())
        print(
            f"-- {seconds:.2f} s, prompt {out.prompt_tokens} tok, "
            f"completion {out.completion_tokens} tok, {rate:.1f} completion tok/s overall\n"
        )

    # A pre-start: the model continues a reply that already begins with "SELECT".
    messages = [
        Message(role="system", content=SYSTEM),
        Message(role="user", content=QUESTIONS[1]),
        Message(role="assistant", content="```sql\nSELECT"),
    ]
    start = time.perf_counter()
    out = llm.complete(messages, temperature=0.0, max_tokens=512)
    print(f"pre-start ({time.perf_counter() - start:.2f} s):\n{out.text.strip()}\n")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total_s:.1f} s for {len(QUESTIONS)} questions, {total_out / total_s:.1f} tok/s overall")
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
