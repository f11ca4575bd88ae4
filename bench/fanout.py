"""The Function app's timer alone at estate scale: how long `sweep.app.fanout.start_sweep` takes to discover,
record and enqueue N clusters, over Azurite and the Azure emulator.

    python -m bench.fanout [--clusters 10000] [--subscriptions 100] [--workspaces 100]
                           [--latency-ms 100] [--logs-latency-ms 2000] [--json]

The emulator (tests/emulator/server.py, its own process) serves the estate of bench/sweep.py with its audit
logs in `--workspaces` shared workspaces; every answer takes `--latency-ms` (Log Analytics queries
`--logs-latency-ms`), and it throttles as Azure documents (ARM buckets, Resource Graph 15 queries per 5 s,
Log Analytics 200 per 30 s and 5 at once). Azurite holds the state table and the queue. The timer runs in
this process as the Functions host runs it: one call, no worker instance draining the queue meanwhile.

Printed: the run's wall time against the bound (60 s for 10,000 clusters), when each step ended (the steps
after discovery overlap), the timer's CPU a cluster, requests and 429s per service, the messages on the
queue and the pending rows, Azurite's and the emulator's CPU, the load average, and the floor the workspace
queries set (5 at once, each `--logs-latency-ms`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.function_sweep import app_settings, estate_figures, estate_parser, process_cpu, run_and_print, served
from bench.sweep import SERVICES, stats
from collect.live.logs import LOGS_CONCURRENCY
from sweep.app import fanout
from sweep.app.runtime import Runtime
from sweep.core.settings import Settings
from tests.emulator.server import StaticToken

BOUND_SECONDS = 60.0  # issue 25: 10,000 clusters discovered, recorded and enqueued within a minute
BOUND_CLUSTERS = 10_000


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    with served(args) as (url, ca_path, storage, (emulator_pid, azurite_pid)):
        runtime = Runtime.build(
            Settings.from_env(app_settings(url, storage, args.subscriptions)), StaticToken(), connection_verify=ca_path
        )
        runtime.queue.create_queue()
        before = stats(url, ca_path)
        emulator_cpu, azurite_cpu = process_cpu(emulator_pid), process_cpu(azurite_pid)
        started, cpu = time.monotonic(), time.process_time()
        done = fanout.start_sweep(runtime)
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        after = stats(url, ca_path)
        if done is None:
            raise RuntimeError("the timer started no sweep (see the log above)")
        return {
            **estate_figures(args),
            "concurrency": runtime.settings.concurrency,
            "enqueued": done.enqueued,
            "unsent": done.unsent,
            "workspace queries": done.workspaces,
            "on the queue": runtime.queue.get_queue_properties().approximate_message_count,
            "pending rows": len(runtime.progress.missing(done.sweep_id)),
            "wall s": round(wall, 1),
            "settled s": round(done.settled_s, 2),
            "discovered s": round(done.discovered_s, 1),
            "recorded s": round(done.recorded_s, 1),
            "read s": round(done.read_s, 1),
            "queried s": round(done.queried_s, 1),
            "sent s": round(done.sent_s, 1),
            "cpu s": round(cpu, 1),
            "cpu ms a cluster": round(1000 * cpu / max(1, done.enqueued), 2),
            "requests": {s: after["requests"].get(s, 0) - before["requests"].get(s, 0) for s in SERVICES},
            "throttled": {s: after["throttled"].get(s, 0) - before["throttled"].get(s, 0) for s in SERVICES},
            "emulator cpu s": round(process_cpu(emulator_pid) - emulator_cpu, 1),
            "azurite cpu s": round(process_cpu(azurite_pid) - azurite_cpu, 1),
            "load average": [round(x, 1) for x in os.getloadavg()],
        }


def verdict(run: dict[str, Any]) -> str:
    """The run against its bound, which is set for 10,000 clusters (a smaller run is no measure of it: its
    discovery and workspace queries take about as long as for 10,000)."""
    if run["clusters"] < BOUND_CLUSTERS:
        return f"the bound, {BOUND_SECONDS:.0f} s, is for {BOUND_CLUSTERS:,} clusters"
    return f"bound {BOUND_SECONDS:.0f} s: " + ("met" if run["wall s"] <= BOUND_SECONDS else "NOT met")


def query_floor(run: dict[str, Any]) -> float:
    """What the workspace queries alone take: LOGS_CONCURRENCY at once, each answering after the logs latency."""
    return math.ceil(run["workspace queries"] / LOGS_CONCURRENCY) * run["logs latency ms"] / 1000


def table(run: dict[str, Any]) -> str:
    lines = [
        (
            "clusters / subscriptions / workspaces",
            f"{run['clusters']:,} / {run['subscriptions']} / {run['workspaces']}",
        ),
        ("latency", f"{run['latency ms']:g} ms per answer, Log Analytics queries {run['logs latency ms']:g} ms"),
        (
            "timer: discover, record, enqueue",
            f"{run['wall s']:.1f} s for {run['enqueued']:,} clusters ({verdict(run)})",
        ),
        (
            "steps ended after (they overlap)",
            f"settled {run['settled s']} s, discovered {run['discovered s']} s, pending rows {run['recorded s']} s,"
            f" diagnostic settings {run['read s']} s, {run['workspace queries']} workspace queries"
            f" {run['queried s']} s, last message {run['sent s']} s",
        ),
        (
            "floor of the workspace queries",
            f"{query_floor(run):.1f} s ({run['workspace queries']} queries, {LOGS_CONCURRENCY} at once)",
        ),
        ("timer CPU", f"{run['cpu s']} s, {run['cpu ms a cluster']} ms a cluster"),
        (
            "on the queue / pending rows / unsent",
            f"{run['on the queue']:,} / {run['pending rows']:,} / {run['unsent']}",
        ),
        ("requests", ", ".join(f"{s} {n:,}" for s, n in run["requests"].items())),
        ("429s", ", ".join(f"{s} {n:,}" for s, n in run["throttled"].items())),
        (
            "emulator CPU / Azurite CPU / load average",
            f"{run['emulator cpu s']} s / {run['azurite cpu s']} s / {run['load average']}",
        ),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_and_print(estate_parser(__doc__ or ""), argv, run_once, table)


if __name__ == "__main__":
    sys.exit(main())
