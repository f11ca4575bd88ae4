"""A live sweep at estate scale against the local Azure emulator, next to its lower bound and a naive baseline.

    python -m bench.sweep [--clusters 5000] [--subscriptions 100] [--latency-ms 100] [--naive-sample 160]
    python -m bench.sweep --clusters 100 1000 5000     # one fresh process per size, then how cost grows

The emulator (tests/emulator/server.py) runs in its own process, so the memory printed is the sweep's alone:
this process and the share processes it forks (`AKS_REACH_PROCESSES`), as the sum of their PSS (pages shared
after the fork counted once) with the sum of their RSS beside it. It serves N clusters spread over M
subscriptions (each cluster with its VNet, NSG, outbound IP or route table to its subscription's hub firewall,
Kubernetes API and audit rows; one Log Analytics workspace per subscription; every 25th cluster without a
diagnostic setting), answers every request after `--latency-ms`, and throttles as Azure documents: ARM token
buckets per subscription and principal, Resource Graph 15 queries per 5 s, Log Analytics 200 queries per 30 s
and 5 at once, all with 429 + Retry-After.

The sweep is the command line's live path (`sweep.cli.live.run_live`; settings from the environment, e.g.
AKS_REACH_CONCURRENCY and AKS_REACH_PROCESSES); its CPU is this process's and its share processes'. Two
baselines run on a sample spread over the estate and are extrapolated linearly to N: the straightforward
fan-out (`collect_one` and the checks per cluster, as a Function worker runs one message, with its own Log
Analytics query; the sweep's concurrency) on `--naive-sample` clusters, and the sequential loop of the same on
a quarter of them.

The lower bound is what no implementation can beat, and the largest of: each service's documented rate for the
requests the sweep needs (Resource Graph pages, ARM reads and writes of the busiest subscription, one Log
Analytics query per workspace), one cluster's chain of dependent calls times the latency, and the CPU floor
(the sweep's measured CPU a cluster times N over this machine's cores). The CPU is measured as process time,
robust to other load; the emulator's own CPU is printed beside it (it shares the cores here, not in Azure)."""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests

from checks.registry import CHECKS
from collect.live.clients import LiveClients
from collect.live.estate import Scope, collect_one
from collect.raw import RawCluster
from sweep.cli.live import run_live
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, EmulatedCluster, StaticToken

CLUSTERS_PER_SUBSCRIPTION = 50
NO_DIAGNOSTICS_EVERY = 25
GRAPH_QUOTA, GRAPH_WINDOW = 15, 5.0
LOGS_QUOTA, LOGS_WINDOW, LOGS_CONCURRENCY = 200, 30.0, 5
ARM_READS, ARM_WRITES = (250, 25.0), (200, 10.0)
PAGE_ROWS = 1000


def subscription_id(index: int) -> str:
    return f"5b0c{index:04x}-0000-4000-8000-{index:012x}"


def has_diagnostics(index: int) -> bool:
    return index % NO_DIAGNOSTICS_EVERY != NO_DIAGNOSTICS_EVERY - 1


def workspace_id(index: int, subscriptions: int) -> str:
    return (
        f"/subscriptions/{subscription_id(index % subscriptions)}/resourceGroups/rg-monitoring"
        f"/providers/Microsoft.OperationalInsights/workspaces/law-shared-{index:04d}"
    )


def bench_estate(
    clusters: int, subscriptions: int, workspaces: int = 0
) -> tuple[list[EmulatedCluster], list[dict[str, Any]]]:
    """N clusters over M subscriptions, from the sample estate's builders: a public cluster with its own
    outbound IP, and a user-defined-routing cluster behind its subscription's hub firewall, alternating.
    Kubernetes data and audit rows are shared with the template (read-only), so the emulator stays small.
    Audit logs go to the subscription's workspace, or with `workspaces` to one of that many shared ones
    (cluster i to workspace i mod W, so each holds N / W clusters of many subscriptions)."""
    # Imported here, in the emulator's process: the SDK models that build the estate (tools/), where the sweep does
    # not import them itself (azure-mgmt-privatedns', the estate's own values), are no part of its memory.
    from tools import make_example_estate as estate

    templates = [estate.healthy(), estate.udr_classic_firewall_missing_rule()]
    templates[1].logs = templates[0].logs
    made: list[EmulatedCluster] = []
    network: dict[str, dict[str, Any]] = {}
    for index in range(clusters):
        template = templates[index % len(templates)]
        subscription = subscription_id(index % subscriptions)
        old_name = template.cluster["name"]
        new_name = f"{old_name}-{index:05d}"
        text = json.dumps({"cluster": template.cluster, "network": template.network or []})
        renamed = json.loads(text.replace(estate.SUB, subscription).replace(old_name, new_name))
        for resource_body in renamed["network"]:
            network.setdefault(resource_body["id"].lower(), resource_body)
        raw = RawCluster(cluster=renamed["cluster"], kube=template.kube, pod_logs=template.pod_logs, logs=template.logs)
        workspace = workspace_id(index % workspaces, subscriptions) if workspaces else ""
        made.append(EmulatedCluster(raw, diagnostics=has_diagnostics(index), workspace=workspace))
    return made, list(network.values())


def serve(
    clusters: int,
    subscriptions: int,
    latency: float,
    ca_path: str,
    pipe: Connection,
    workspaces: int = 0,
    logs_latency: float | None = None,
) -> None:
    """The emulator process: build the estate, serve it, report its URL, run until told to stop."""
    emulated, network = bench_estate(clusters, subscriptions, workspaces)
    emulator = AzureEmulator(emulated, network, page_size=PAGE_ROWS)
    emulator.latency_seconds = latency
    if logs_latency is not None:
        emulator.service_latency["logs"] = logs_latency
    emulator.graph_quota, emulator.graph_window_seconds = GRAPH_QUOTA, GRAPH_WINDOW
    emulator.logs_quota, emulator.logs_window_seconds, emulator.logs_concurrency = (
        LOGS_QUOTA,
        LOGS_WINDOW,
        LOGS_CONCURRENCY,
    )
    emulator.arm_reads, emulator.arm_writes = ARM_READS, ARM_WRITES
    emulator.keep_log = False
    emulator.start(Path(ca_path))
    pipe.send(
        {
            "url": emulator.url,
            "network": len(network),
            "firewalls": sum(1 for r in network if r["type"].lower() == "microsoft.network/azurefirewalls"),
        }
    )
    pipe.recv()  # stop
    emulator.stop()


@dataclass
class Phase:
    seconds: float
    requests: dict[str, int]
    throttled: dict[str, int]


def stats(url: str, ca_path: str) -> dict[str, dict[str, int]]:
    return requests.get(f"{url}/_emulator/stats", verify=ca_path, timeout=30).json()


def measured(url: str, ca_path: str, started_stats: dict[str, dict[str, int]], seconds: float) -> Phase:
    now = stats(url, ca_path)
    delta = {
        kind: {service: now[kind].get(service, 0) - started_stats[kind].get(service, 0) for service in SERVICES}
        for kind in ("requests", "throttled")
    }
    return Phase(seconds, delta["requests"], delta["throttled"])


SERVICES = ("arm", "graph", "logs", "kube")


class TreeMemory:
    """The sweep's memory, sampled every `interval` seconds on a thread: this process and its share processes
    (the children started after this sampler, so not the emulator nor multiprocessing's tracker). A forked child shares its parent's pages until either writes them, so
    the sum of RSS counts shared pages once per process; the sum of PSS (each shared page split between the
    processes sharing it) is the memory the sweep occupies. Both peaks are kept; the target is on PSS."""

    def __init__(self, interval: float = 0.1) -> None:
        self._interval = interval
        self._before: set[int] = set()
        self.peak_pss = self.peak_rss = 0.0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._before = set(_children(os.getpid()))
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            pids = [os.getpid(), *(pid for pid in _children(os.getpid()) if pid not in self._before)]
            totals = [_rollup(pid) for pid in pids]
            self.peak_pss = max(self.peak_pss, sum(pss for pss, _ in totals))
            self.peak_rss = max(self.peak_rss, sum(rss for _, rss in totals))
            self.peak_processes = max(self.peak_processes, len(pids))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _rollup(pid: int) -> tuple[float, float]:
    """(PSS, RSS) of a process in MiB; (0, 0) once it has ended."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Pss", "Rss"):
                values[name] = int(rest.split()[0]) / 1024
    except OSError:
        return 0.0, 0.0
    return values.get("Pss", 0.0), values.get("Rss", 0.0)


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CORES = os.cpu_count() or 1


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process: robust to other load on the machine. By default this process's and
    its ended children's (the sweep's share processes, once joined; the emulator still runs)."""
    if pid is None:
        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(part.ru_utime + part.ru_stime for part in usage)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lower_bound(
    clusters: int,
    subscriptions: int,
    network_rows: int,
    latency: float,
    cpu_per_cluster: float,
    workspaces: int = 0,
    cores: int = CORES,
) -> dict[str, float]:
    """What no implementation can beat on this estate: the services' documented rates, one cluster's chain of
    dependent calls, and the CPU the work needs; they overlap, so the bound is the largest."""
    per_sub = math.ceil(clusters / subscriptions)  # the busiest subscription's clusters
    # Resource Graph: the pages of the clusters and of the network resources; the k-th query can start
    # at floor(k / quota) windows, and each page chain is sequential.
    pages = math.ceil(clusters / PAGE_ROWS) + math.ceil(network_rows / PAGE_ROWS)
    graph = max((pages - 1) // GRAPH_QUOTA * GRAPH_WINDOW + latency, pages * latency)
    # ARM, per subscription and principal: reads (diagnostic settings, one per cluster) and writes
    # (listClusterUserCredential is a POST) against their buckets; subscriptions run in parallel.
    arm = max(max(0.0, (per_sub - size) / refill) + latency for size, refill in (ARM_READS, ARM_WRITES))
    # Log Analytics: one query per workspace with clusters sending to it.
    sending = workspaces or len({i % subscriptions for i in range(clusters) if has_diagnostics(i)})
    logs = max((sending - 1) // LOGS_QUOTA * LOGS_WINDOW + latency, math.ceil(sending / LOGS_CONCURRENCY) * latency)
    # One cluster's chain: the discovery pages before it (sequential), then its credentials POST, the pod
    # list and the tunnel logs it names (the other reads, the audit rows and the network walk run beside).
    chain = (math.ceil(clusters / PAGE_ROWS) + 3) * latency
    # The CPU the sweep spent, spread over every core of this machine.
    cpu = cpu_per_cluster * clusters / cores
    return {"Resource Graph": graph, "ARM": arm, "Log Analytics": logs, "critical path": chain, "CPU": cpu}


def run_once(clusters: int, subscriptions: int, latency_ms: float, naive_sample: int) -> dict[str, Any]:
    latency = latency_ms / 1000
    settings = Settings.from_env(dict(os.environ))
    with tempfile.TemporaryDirectory() as scratch:
        ca_path = str(Path(scratch) / "ca.pem")
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(clusters, subscriptions, latency, ca_path, child), daemon=True
        )
        server.start()
        ready = parent.recv()
        url = ready["url"]
        try:
            rss_before = peak_rss_mib()
            configured = replace(settings, arm_endpoint=url, logs_endpoint=f"{url}/v1")
            scope = Scope(subscriptions=tuple(subscription_id(i) for i in range(subscriptions)))
            before, emulator_cpu, cpu = stats(url, ca_path), cpu_seconds(server.pid), cpu_seconds()
            started = time.perf_counter()
            with TreeMemory() as memory:
                results = run_live(scope, {}, configured, StaticToken(), CHECKS, connection_verify=ca_path)
            sweep = measured(url, ca_path, before, time.perf_counter() - started)
            cpu, emulator_cpu = cpu_seconds() - cpu, cpu_seconds(server.pid) - emulator_cpu
            rss = peak_rss_mib()
            checked = len(results)
            errors = sum(1 for r in results for f in r.findings if f.status.value == "error")
            del results
            sample = sample_ids(clusters, subscriptions, naive_sample)
            fanned = run_baseline(url, ca_path, sample, settings, settings.concurrency)
            naive = run_baseline(url, ca_path, sample[: max(1, naive_sample // 4)], settings, 1)
        finally:
            parent.send("stop")
            server.join(timeout=30)
    bound = lower_bound(clusters, subscriptions, ready["network"], latency, cpu / clusters)
    binding = max(bound, key=lambda name: bound[name])
    return {
        "clusters": clusters,
        "checked": checked,
        "error findings": errors,
        "subscriptions": subscriptions,
        "latency ms": latency_ms,
        "concurrency": settings.concurrency,
        "wall s": round(sweep.seconds, 2),
        "cpu s": round(cpu, 1),
        "emulator cpu s": round(emulator_cpu, 1),
        "cores": CORES,
        "load average": [round(x, 1) for x in os.getloadavg()],
        "requests": sweep.requests,
        "throttled": sweep.throttled,
        "peak rss MiB": round(rss, 1),
        "processes": memory.peak_processes,
        "peak tree pss MiB": round(memory.peak_pss, 1),
        "peak tree rss MiB": round(memory.peak_rss, 1),
        "rss before sweep MiB": round(rss_before, 1),
        "lower bound s": round(bound[binding], 2),
        "binding": binding,
        "bounds": {name: round(value, 2) for name, value in bound.items()},
        "fan-out sample": len(sample),
        "fan-out sample s": round(fanned.seconds, 2),
        "fan-out extrapolated s": round(fanned.seconds / len(sample) * clusters, 1),
        "fan-out throttled": fanned.throttled,
        "naive sample": max(1, naive_sample // 4),
        "naive sample s": round(naive.seconds, 2),
        "naive extrapolated s": round(naive.seconds / max(1, naive_sample // 4) * clusters, 1),
        "naive requests per cluster": {s: round(n / max(1, naive_sample // 4), 1) for s, n in naive.requests.items()},
    }


def sample_ids(clusters: int, subscriptions: int, sample: int) -> list[str]:
    """Cluster ids spread evenly over the estate (both templates, every subscription in turn)."""
    from tools import make_example_estate as estate  # after the sweep is measured: see `bench_estate`

    templates = [estate.healthy().cluster, estate.udr_classic_firewall_missing_rule().cluster]
    step = max(1, clusters // max(1, sample))
    return [
        templates[index % 2]["id"]
        .replace(estate.SUB, subscription_id(index % subscriptions))
        .replace(templates[index % 2]["name"], f"{templates[index % 2]['name']}-{index:05d}")
        for index in range(0, min(clusters, step * sample), step)
    ]


def run_baseline(url: str, ca_path: str, cluster_ids: list[str], settings: Settings, workers: int) -> Phase:
    """`collect_one` then the checks for each cluster (what a Function worker runs per message, with its own
    Log Analytics query), `workers` clusters at a time: 1 is the sequential loop, the sweep's concurrency is
    the straightforward fan-out."""
    clients = LiveClients(
        StaticToken(),
        arm_endpoint=url,
        logs_endpoint=f"{url}/v1",
        timeout_seconds=settings.request_timeout_seconds,
        connection_verify=ca_path,
        concurrency=workers,
    )

    def one(cluster_id: str) -> None:
        collected = collect_one(clients, cluster_id, {}, settings.probe_timeout_seconds, settings.clients_tag)
        if isinstance(collected, RawCluster):
            evaluate_raw(collected, settings)

    before = stats(url, ca_path)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, cluster_ids))
    return measured(url, ca_path, before, time.perf_counter() - started)


def table(run: dict[str, Any]) -> str:
    requests_made, throttled = run["requests"], run["throttled"]
    ratio_bound = run["wall s"] / run["lower bound s"] if run["lower bound s"] else math.inf
    speedup = run["naive extrapolated s"] / run["wall s"] if run["wall s"] else math.inf
    fan_speedup = run["fan-out extrapolated s"] / run["wall s"] if run["wall s"] else math.inf
    lines = [
        ("clusters / subscriptions", f"{run['clusters']:,} / {run['subscriptions']} (checked {run['checked']:,})"),
        ("latency / concurrency", f"{run['latency ms']:g} ms per request / {run['concurrency']} clusters at once"),
        (
            "wall time",
            f"{run['wall s']:.1f} s  ({run['clusters'] / run['wall s']:.1f} clusters/s; target <= 60 s for 5,000"
            " clusters in 100 subscriptions at 100 ms)",
        ),
        (
            "CPU: sweep / emulator",
            f"{run['cpu s']:.1f} s ({run['cpu s'] / run['clusters'] * 1000:.1f} ms a cluster) / {run['emulator cpu s']:.1f} s"
            f"  ({run['cores']} cores, load average {run['load average']})",
        ),
        ("ARM requests", f"{requests_made['arm']:,}"),
        ("Resource Graph requests", f"{requests_made['graph']:,}"),
        ("Log Analytics requests", f"{requests_made['logs']:,}"),
        ("Kubernetes requests", f"{requests_made['kube']:,}"),
        ("429s received", ", ".join(f"{s} {throttled[s]}" for s in SERVICES) + f"  (total {sum(throttled.values())})"),
        (
            "peak memory of the sweep",
            f"{run['peak tree pss MiB']:.0f} MiB PSS over {run['processes']} processes (target <= 256 MiB); RSS summed"
            f" {run['peak tree rss MiB']:.0f} MiB, this process {run['peak rss MiB']:.0f} MiB"
            f" (before the sweep {run['rss before sweep MiB']:.0f} MiB)",
        ),
        (
            "lower bound",
            f"{run['lower bound s']:.1f} s, bound by {run['binding']}  ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in run["bounds"].items())
            + ")",
        ),
        ("wall / lower bound", f"{ratio_bound:.2f}x  (target <= 1.5x)"),
        (
            "fan-out baseline",
            f"{run['fan-out extrapolated s']:,.0f} s, extrapolated from {run['fan-out sample']} clusters in"
            f" {run['fan-out sample s']:.1f} s ({run['concurrency']} at once, 429s {sum(run['fan-out throttled'].values())})",
        ),
        ("fan-out / sweep", f"{fan_speedup:.1f}x"),
        (
            "sequential baseline",
            f"{run['naive extrapolated s']:,.0f} s, extrapolated from {run['naive sample']} clusters"
            f" in {run['naive sample s']:.1f} s",
        ),
        ("sequential / sweep", f"{speedup:.1f}x"),
        ("error findings", f"{run['error findings']}"),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, nargs="+", default=[5000], help="one run per size")
    parser.add_argument(
        "--subscriptions", type=int, default=0, help=f"default: one per {CLUSTERS_PER_SUBSCRIPTION} clusters"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=100.0, help="answer time of every emulated service (ARM reads: ~100 ms)"
    )
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=160,
        help="clusters the fan-out baseline runs (the sequential baseline runs a quarter of them)",
    )
    parser.add_argument("--json", action="store_true", help="print the run as one JSON object (for series)")
    args = parser.parse_args(argv)
    if min(args.clusters) < 1 or args.subscriptions < 0 or args.latency_ms < 0 or args.naive_sample < 1:
        parser.error("--clusters and --naive-sample must be >= 1, --subscriptions and --latency-ms >= 0")
    if len(args.clusters) > 1:
        return series(args)
    clusters = args.clusters[0]
    subscriptions = args.subscriptions or max(1, math.ceil(clusters / CLUSTERS_PER_SUBSCRIPTION))
    run = run_once(clusters, min(subscriptions, clusters), args.latency_ms, min(args.naive_sample, clusters))
    print(json.dumps(run) if args.json else table(run))
    return 0


def series(args: argparse.Namespace) -> int:
    """Each size in a fresh process (so peak RSS is that run's), then how time and memory grow."""
    runs = []
    for clusters in args.clusters:
        command = [
            sys.executable,
            "-m",
            "bench.sweep",
            "--clusters",
            str(clusters),
            "--json",
            "--latency-ms",
            str(args.latency_ms),
            "--naive-sample",
            str(args.naive_sample),
        ]
        if args.subscriptions:
            command += ["--subscriptions", str(args.subscriptions)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(output.splitlines()[-1]))
        print(table(runs[-1]), end="\n\n", flush=True)
    first = runs[0]
    print("growth from the smallest run (time and memory per cluster; 1.00 = linear)")
    for run in runs:
        scale = run["clusters"] / first["clusters"]
        print(
            f"  {run['clusters']:>6,} clusters: wall {run['wall s']:7.1f} s (x{run['wall s'] / first['wall s']:.1f} for "
            f"x{scale:g} clusters, per cluster {run['wall s'] / first['wall s'] / scale:.2f}), peak RSS "
            f"{run['peak rss MiB']:5.0f} MiB (x{run['peak rss MiB'] / first['peak rss MiB']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
