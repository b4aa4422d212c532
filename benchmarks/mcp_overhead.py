"""What the MCP layer costs an agent: starting ``askspark mcp`` (spawn, imports, initialize, list_tools)
and one cheap tool call (``list_tables`` on the local catalog), with the SDK's own stdio client.

    .venv/bin/python benchmarks/mcp_overhead.py [--starts 3] [--calls 20]

Needs askspark[mcp] and a home with the sample catalog (``askspark catalog sample``). No Spark starts:
the ask tool's own cost is the pipeline's (see stages.py), the MCP hop adds one JSON round trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import anyio
from mcp import Client, StdioServerParameters


async def one_start(calls: int) -> tuple[float, list[float]]:
    """Seconds to a listed tool set, and each list_tables call's seconds."""
    started = time.perf_counter()
    argv = ["-m", "askspark.interfaces.cli", "mcp"]
    command = StdioServerParameters(command=sys.executable, args=argv, env=dict(os.environ))
    async with Client(command, read_timeout_seconds=120) as client:
        await client.list_tools()
        ready = time.perf_counter() - started
        times = []
        for _ in range(calls):
            begin = time.perf_counter()
            await client.call_tool("list_tables", {})
            times.append(time.perf_counter() - begin)
    return ready, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    runs = [anyio.run(one_start, args.calls) for _ in range(args.starts)]
    ready = [r for r, _ in runs]
    calls = [t for _, times in runs for t in times]
    print("| measure | median | min | max |\n| --- | --- | --- | --- |")
    print(
        f"| start to tools listed (s) | {statistics.median(ready):.2f} | {min(ready):.2f} | {max(ready):.2f} |"
    )
    ms = [1000 * t for t in calls]
    print(f"| list_tables call (ms) | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} |")
    print(f"\n{args.starts} starts, {len(calls)} calls; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
