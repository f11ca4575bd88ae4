"""One Function-app sweep at estate scale: the real timer and queue worker over Azurite and the Azure emulator.

    python -m bench.function_sweep [--clusters 10000] [--subscriptions 100] [--workspaces 100]
                                   [--instances N] [--own-core] [--sample N]
                                   [--latency-ms 100] [--logs-latency-ms 2000]

The emulator (tests/emulator/server.py, its own process) serves the estate of bench/sweep.py with its audit
logs in `--workspaces` shared workspaces, answers after `--latency-ms` (Log Analytics queries after
`--logs-latency-ms`) and throttles as Azure documents (ARM buckets per subscription and principal, Resource
Graph 15 per 5 s, Log Analytics 200 per 30 s and 5 at once, all 429 + Retry-After). Azurite holds the queue
and the state table; a local Application Insights endpoint (tests/capture.py) takes the events. AKS_REACH_*
variables of the environment reach the timer and the instances (settings to try).

The timer is `sweep.app.fanout.start_sweep` in this process. Each instance is a process that does what the
Functions host does with host.json's `extensions.queues`: it takes `batchSize` messages (one request),
takes more when `newBatchThreshold` are left, runs `sweep.app.worker.handle_message` on each (its own thread),
deletes the message when it returns, makes it visible again after `visibilityTimeout` when it raises, and
hands it to `record_poison` after `maxDequeueCount` tries. Instances start before the timer, as warm
instances would. `--own-core` pins the instances to the machine's last core and everything else to the
others: one instance measured with a core of its own.

Printed: the measured wall time (timer start to the last cluster recorded; `--sample N` stops after N
clusters), the timer's part, each instance's rate, CPU and seconds a message, requests and 429s per
service, clusters whose audit check is `error`, clusters checked, lost and checked twice, whether the sweep
closed with one summary (a full run), and, on paper, the whole sweep with the template's instance count and
the instances 10 minutes need, from the slowest instance's measured rate. Without `--own-core` the
instances share the machine's cores with the emulator and Azurite (and whatever else runs), so that rate is
a floor of what an instance with its own vCPU does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sweep import SERVICES, serve, stats, subscription_id
from model.finding import ClusterResult
from publish.appinsights import FINDING_EVENT, SWEEP_EVENT
from sweep.app import fanout, worker
from sweep.app.runtime import Runtime
from sweep.app.storage import queue_client
from sweep.core.settings import Settings
from sweep.rechecks.plug_in import with_rechecks
from tests.azurite import AzuriteProcess, receive_batch
from tests.capture import IngestionCapture
from tests.emulator.server import StaticToken

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 600.0  # one sweep within 10 minutes: the hourly schedule with room to spare
DEADLINE_SECONDS = 3600.0  # the bench gives up (and says so) after an hour
READY_SECONDS = 120.0  # an instance's imports and runtime, on a busy machine
SUMMARY_WAIT_SECONDS = 60.0  # the last cluster's worker closes the sweep and sends its summary


@dataclass(frozen=True)
class HostQueues:
    """host.json's `extensions.queues`, as the Functions host applies them per instance."""

    batch_size: int
    new_batch_threshold: int
    max_dequeue_count: int
    visibility_timeout: float
    max_polling_interval: float

    @property
    def at_once(self) -> int:
        return self.batch_size + self.new_batch_threshold

    @property
    def average_at_once(self) -> float:
        """The host takes the next batch when `newBatchThreshold` are left: between that and `at_once` run at
        once, about their midpoint on average."""
        return (self.new_batch_threshold + self.at_once) / 2

    @classmethod
    def read(cls, path: Path = ROOT / "host.json") -> HostQueues:
        queues = json.loads(path.read_text())["extensions"]["queues"]
        return cls(
            batch_size=int(queues.get("batchSize", 16)),
            new_batch_threshold=int(queues.get("newBatchThreshold", queues.get("batchSize", 16) // 2)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=_seconds(queues.get("visibilityTimeout", "00:00:00")),
            max_polling_interval=_seconds(queues.get("maxPollingInterval", "00:01:00")),
        )


def _seconds(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def template_instances(path: Path = ROOT / "infra" / "main.bicep") -> int:
    """The template's default `maximumInstanceCount`."""
    found = re.search(r"param maximumInstanceCount int = (\d+)", path.read_text())
    return int(found[1]) if found else 1


def instance(
    number: int, env: dict[str, str], ca_path: str, host: HostQueues, report: Any, stop: Any, cores: set[int]
) -> None:
    """One Function app instance: the queue trigger's loop around `worker.handle_message` (on `cores` when
    given: an instance with a core of its own)."""
    if cores:
        os.sched_setaffinity(0, cores)
    runtime = with_rechecks(Runtime.build(Settings.from_env(env), StaticToken(), connection_verify=ca_path))
    queue = runtime.queue
    poison = queue_client(runtime.settings, None, f"{runtime.settings.queue}-poison")
    poison.create_queue() if number == 0 else None
    report.put({"kind": "ready", "instance": number})
    running = threading.Semaphore(0)
    in_flight = [0]
    lock = threading.Lock()

    def run(message: Any) -> None:
        started = time.monotonic()
        try:
            result = worker.handle_message(runtime, message.content, message.dequeue_count)
            queue.delete_message(message)
            report.put(_outcome(number, started, result))
        except Exception as exc:  # as the host does: retry after visibilityTimeout, poison after maxDequeueCount
            report.put({"kind": "raised", "instance": number, "error": f"{type(exc).__name__}: {exc}"[:200]})
            if message.dequeue_count < host.max_dequeue_count:
                queue.update_message(message, visibility_timeout=int(host.visibility_timeout))
                return
            poison.send_message(message.content)
            queue.delete_message(message)
            result = worker.record_poison(runtime, message.content)  # the poison queue's trigger
            report.put(_outcome(number, started, result))
        finally:
            with lock:
                in_flight[0] -= 1
            running.release()

    with ThreadPoolExecutor(max_workers=host.at_once) as pool:
        while not stop.is_set():
            with lock:
                room = in_flight[0] <= host.new_batch_threshold
            if not room:
                running.acquire(timeout=0.5)
                continue
            batch = receive_batch(queue, host.batch_size, visibility_timeout=600)
            if not batch:
                stop.wait(min(host.max_polling_interval, 1.0))
                continue
            with lock:
                in_flight[0] += len(batch)
            for message in batch:
                pool.submit(run, message)
    report.put({"kind": "cpu", "instance": number, "seconds": time.process_time()})


def _outcome(number: int, started: float, result: ClusterResult | None) -> dict[str, Any]:
    """What one delivery did: a cluster checked (with how many of its findings are `error`, the audit check's
    detail when it is one, and whether its API server probe was slow amid the instance's work and measured
    again, sweep/core/probe_timing.py), or nothing (its cluster was counted already)."""
    outcome = {"kind": "done" if result else "skipped", "instance": number, "began": started}
    outcome["ended"] = time.monotonic()
    if result:
        errors = [f for f in result.findings if f.status.value == "error"]
        audit = next((f for f in errors if f.check == "apiserver-load"), None)
        probe = next((f for f in result.findings if f.check == "apiserver-probe"), None)
        outcome["cluster"] = result.cluster.id.lower()
        outcome["errors"] = len(errors)
        outcome["audit"] = audit.detail[:200] if audit else None
        outcome["remeasured"] = bool(probe and isinstance(probe.evidence, dict) and probe.evidence.get("underLoad"))
    return outcome


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    host = HostQueues.read()
    instances = args.instances or template_instances()
    context = multiprocessing.get_context("spawn")
    cores = sorted(os.sched_getaffinity(0))
    instance_cores = {cores[-1]} if args.own_core and len(cores) > 1 else set()
    if instance_cores:  # the timer, the emulator and Azurite (started next) share the other cores
        os.sched_setaffinity(0, set(cores[:-1]))
    with served(args) as (url, ca_path, storage, pids):
        return _sweep(args, host, instances, context, url, ca_path, storage, pids, instance_cores)


@contextlib.contextmanager
def served(args: argparse.Namespace) -> Iterator[tuple[str, str, str, tuple[int | None, int | None]]]:
    """The emulator (its own process) serving the bench estate of `args`, and Azurite: (the emulator's URL, its
    CA bundle, Azurite's connection string, (the emulator's pid, Azurite's pid))."""
    with tempfile.TemporaryDirectory() as scratch:
        ca_path = str(Path(scratch) / "ca.pem")
        parent, child = multiprocessing.Pipe()
        emulator = multiprocessing.get_context("spawn").Process(
            target=serve,
            args=(args.clusters, args.subscriptions, args.latency_ms / 1000, ca_path, child),
            kwargs={"workspaces": args.workspaces, "logs_latency": args.logs_latency_ms / 1000},
            daemon=True,
        )
        emulator.start()
        url = parent.recv()["url"]
        azurite = AzuriteProcess()
        storage = azurite.start()
        try:
            yield url, ca_path, storage.connection_string, (emulator.pid, azurite.pid)
        finally:
            azurite.stop()
            parent.send("stop")
            emulator.join(timeout=30)


def _sweep(
    args: argparse.Namespace,
    host: HostQueues,
    instances: int,
    context: Any,
    url: str,
    ca_path: str,
    storage: str,
    pids: tuple[int | None, int | None],
    instance_cores: set[int],
) -> dict[str, Any]:
    emulator_pid, azurite_pid = pids
    events = EventCounter()
    ingestion = IngestionCapture(keep=events)
    env = {
        **app_settings(url, storage, args.subscriptions),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string(),
    }
    timer_runtime = Runtime.build(Settings.from_env(env), StaticToken(), connection_verify=ca_path)
    timer_runtime.queue.create_queue()
    report, stop = context.Queue(), context.Event()
    workers = [
        context.Process(target=instance, args=(n, env, ca_path, host, report, stop, instance_cores), daemon=True)
        for n in range(instances)
    ]
    for process in workers:
        process.start()
    for _ in workers:  # instances import and build their runtime first (warm instances)
        if report.get(timeout=READY_SECONDS)["kind"] != "ready":
            raise RuntimeError("an instance reported before it was ready")
    before = stats(url, ca_path)
    started = time.monotonic()
    timer_cpu = time.process_time()
    opened = fanout.start_sweep(timer_runtime)
    enqueued = opened.enqueued if opened else 0
    timer_seconds, timer_cpu = time.monotonic() - started, time.process_time() - timer_cpu
    done: list[tuple[int, float, float]] = []
    checked: set[str] = set()
    raised: Counter[str] = Counter()
    audit_errors: Counter[str] = Counter()
    error_clusters = remeasured = skipped = 0
    deadline = started + DEADLINE_SECONDS
    wanted = min(enqueued, args.sample or enqueued)
    while len(checked) < wanted and time.monotonic() < deadline:
        try:
            outcome = report.get(timeout=5)
        except Exception:  # nothing finished in 5 s: look again until the deadline
            continue
        if outcome["kind"] == "raised":
            raised[outcome["error"]] += 1
            continue
        if outcome["kind"] == "skipped":
            skipped += 1
            continue
        if len(done) % 500 == 0:
            print(f"  {len(done):,} of {enqueued:,} clusters after {time.monotonic() - started:.0f} s", file=sys.stderr)
        done.append((outcome["instance"], outcome["began"], outcome["ended"]))
        checked.add(outcome["cluster"])
        error_clusters += bool(outcome["errors"])
        remeasured += outcome["remeasured"]
        if outcome["audit"]:
            audit_errors[outcome["audit"]] += 1
    finished = max((ended for _, _, ended in done), default=time.monotonic())
    summaries = _summaries(ingestion, wait=not args.sample and len(checked) == enqueued)
    requests = stats(url, ca_path)
    stop.set()
    cpu: dict[int, float] = {}
    while len(cpu) < instances:
        try:
            outcome = report.get(timeout=30)
        except Exception:  # an instance that did not report its CPU: left out
            break
        if outcome["kind"] == "cpu":
            cpu[outcome["instance"]] = outcome["seconds"]
    for process in workers:
        process.join(timeout=30)
    per_instance = {}
    for number in range(instances):
        mine = [(began, ended) for n, began, ended in done if n == number]
        active = (max(e for _, e in mine) - min(b for b, _ in mine)) if mine else 0.0
        per_instance[number] = {
            "clusters": len(mine),
            "active s": round(active, 1),
            "clusters/s": round(len(mine) / active, 2) if active else 0.0,
            "cpu s": round(cpu.get(number, 0.0), 1),
            "s a cluster": round(sum(e - b for b, e in mine) / len(mine), 2) if mine else 0.0,
            "at once": round(sum(e - b for b, e in mine) / active, 1) if active else 0.0,
        }
    return {
        **estate_figures(args),
        "instances": instances,
        "at once per instance": host.at_once,
        "at once on average": host.average_at_once,
        "enqueued": enqueued,
        "sample": args.sample,
        "checked": len(checked),
        "checked twice": len(done) - len(checked),
        "redelivered, skipped": skipped,
        "sweep closed": not timer_runtime.progress.open_sweeps(),
        "summaries": summaries,
        "finding events": events.findings,
        "first message s": round(min((b for _, b, _ in done), default=started) - started, 1),
        "wall s": round(finished - started, 1),
        "timer s": round(timer_seconds, 1),
        "timer cpu s": round(timer_cpu, 1),
        "per instance": per_instance,
        "requests": {s: requests["requests"].get(s, 0) - before["requests"].get(s, 0) for s in SERVICES},
        "throttled": {s: requests["throttled"].get(s, 0) - before["throttled"].get(s, 0) for s in SERVICES},
        "clusters with an error finding": error_clusters,
        "audit errors": dict(audit_errors.most_common(5)),
        "audit error clusters": sum(audit_errors.values()),
        "probes measured again": remeasured,
        "raised (retried)": dict(raised.most_common(5)),
        "emulator cpu s": round(process_cpu(emulator_pid), 1),
        "azurite cpu s": round(process_cpu(azurite_pid), 1),
        "load average": [round(x, 1) for x in os.getloadavg()],
    }


def app_settings(url: str, storage: str, subscriptions: int) -> dict[str, str]:
    """The Function app's settings for the bench estate: the emulator's endpoints, Azurite's storage, and the
    AKS_REACH_* variables of the environment (settings to try)."""
    return {
        **{name: value for name, value in os.environ.items() if name.startswith("AKS_REACH_")},
        "AKS_REACH_ARM_ENDPOINT": url,
        "AKS_REACH_LOGS_ENDPOINT": f"{url}/v1",
        "AKS_REACH_SUBSCRIPTIONS": ",".join(subscription_id(i) for i in range(subscriptions)),
        "AKS_REACH_QUEUE": "bench-clusters",
        "AKS_REACH_STATE_TABLE": "benchstate",
        "AzureWebJobsStorage": storage,
    }


class EventCounter:
    """What the local Application Insights endpoint keeps: the sweep summaries; findings are only counted."""

    def __init__(self) -> None:
        self.findings = 0

    def __call__(self, envelope: dict[str, Any]) -> bool:
        name = envelope.get("data", {}).get("baseData", {}).get("name")
        self.findings += name == FINDING_EVENT
        return name == SWEEP_EVENT


def _summaries(ingestion: IngestionCapture, wait: bool) -> list[dict[str, str]]:
    """The sweep summaries received; when every cluster was checked, waits (bounded) for the closer's."""
    deadline = time.monotonic() + (SUMMARY_WAIT_SECONDS if wait else 0)
    while not ingestion.events(SWEEP_EVENT) and time.monotonic() < deadline:
        time.sleep(0.5)
    return ingestion.events(SWEEP_EVENT)


def process_cpu(pid: int | None) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def on_paper(run: dict[str, Any], instances: int, target: float = TARGET_SECONDS) -> dict[str, float]:
    """The sweep of every cluster with `instances` instances: workers start on the timer's first message, and
    the sweep ends when the last cluster is checked (not before the timer ends), so it takes about
    `first message + N / (instances x rate)`. Two rates: the slowest instance's as measured here (a floor:
    bench instances share 2 cores with the emulator, Azurite and other work), and one instance with a vCPU
    of its own: the lower of its CPU limit (clusters per CPU second, measured) and its I/O limit (the messages
    the host runs at once on average over the measured seconds a cluster, themselves stretched by the shared
    cores)."""
    measured = [i for i in run["per instance"].values() if i["clusters/s"]]
    if not measured:
        return {"measured rate": 0.0, "own vCPU rate": 0.0, "sweep s": math.inf, "own vCPU sweep s": math.inf}
    slowest = min(i["clusters/s"] for i in measured)
    cpu_limit = (
        min(i["clusters"] / i["cpu s"] for i in measured if i["cpu s"])
        if any(i["cpu s"] for i in measured)
        else slowest
    )
    io_limit = run["at once on average"] / max(i["s a cluster"] for i in measured)
    own = min(cpu_limit, io_limit)

    def sweep(rate: float) -> float:
        return round(max(run["timer s"], run["first message s"] + run["enqueued"] / (rate * instances)), 1)

    return {
        "measured rate": slowest,
        "own vCPU rate": round(own, 2),
        "sweep s": sweep(slowest),
        "own vCPU sweep s": sweep(own),
        "instances for target": math.ceil(run["enqueued"] / (slowest * max(1.0, target - run["first message s"]))),
    }


def table(run: dict[str, Any]) -> str:
    template = template_instances()
    plan = on_paper(run, template)
    lines = [
        (
            "clusters / subscriptions / workspaces",
            f"{run['clusters']:,} / {run['subscriptions']} / {run['workspaces']}",
        ),
        ("latency", f"{run['latency ms']:g} ms per answer, Log Analytics queries {run['logs latency ms']:g} ms"),
        ("instances x messages at once", f"{run['instances']} x {run['at once per instance']} (host.json, template)"),
        (
            "checked / enqueued / lost",
            f"{run['checked']:,} / {run['enqueued']:,} / "
            + (f"{run['enqueued'] - run['checked']:,}" if not run["sample"] else "(a sample: not all checked)")
            + f" ({run['checked twice']} checked twice, {run['redelivered, skipped']} redeliveries skipped)",
        ),
        (
            "the sweep's close",
            ("closed and finished" if run["sweep closed"] else "still open")
            + f"; summaries {[{k: s[k] for k in ('clusters', 'pass', 'fail', 'error')} for s in run['summaries']]};"
            f" finding events {run['finding events']:,}",
        ),
        (
            "measured wall time",
            f"{run['wall s']:.1f} s for {run['checked']:,} clusters (first message after {run['first message s']} s)",
        ),
        ("timer (discover, settings, workspaces, enqueue)", f"{run['timer s']:.1f} s, {run['timer cpu s']:.1f} s CPU"),
        *(
            (
                f"instance {n}",
                f"{i['clusters']:,} clusters in {i['active s']} s = {i['clusters/s']} /s, {i['cpu s']} s CPU,"
                f" {i['s a cluster']} s a message, {i['at once']} at once on average",
            )
            for n, i in run["per instance"].items()
        ),
        ("requests", ", ".join(f"{s} {n:,}" for s, n in run["requests"].items())),
        ("429s", ", ".join(f"{s} {n:,}" for s, n in run["throttled"].items())),
        ("clusters with audit error", f"{run['audit error clusters']}  {run['audit errors'] or ''}"),
        ("clusters with any error finding", f"{run['clusters with an error finding']}"),
        ("API server probes slow amid the work, measured again", f"{run['probes measured again']:,}"),
        ("messages raised and retried", f"{sum(run['raised (retried)'].values())}  {run['raised (retried)'] or ''}"),
        (
            "emulator CPU / Azurite CPU / load average",
            f"{run['emulator cpu s']} s / {run['azurite cpu s']} s / {run['load average']}",
        ),
        (
            f"on paper: every cluster, the template's {template} instances",
            f"max(timer, first message + N / (instances x rate)) = max({run['timer s']}, {run['first message s']}"
            f" + {run['enqueued']:,} / ({template} x {plan['measured rate']:.2f})) = {plan['sweep s']} s at the"
            f" slowest instance's measured rate; {plan['own vCPU sweep s']} s at {plan['own vCPU rate']:.2f}"
            f" clusters/s (an instance with its own vCPU)  (target <= {TARGET_SECONDS:.0f} s)",
        ),
        ("on paper: instances for 10 minutes at the measured rate", f"{plan['instances for target']}"),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in lines)


def estate_figures(args: argparse.Namespace) -> dict[str, Any]:
    """The estate a run was measured on, as its printed figures name it."""
    return {
        "clusters": args.clusters,
        "subscriptions": args.subscriptions,
        "workspaces": args.workspaces,
        "latency ms": args.latency_ms,
        "logs latency ms": args.logs_latency_ms,
    }


def estate_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a bench over the emulator's estate (this one's and bench.fanout's)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=10000)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--workspaces", type=int, default=100, help="shared audit workspaces (0: one per subscription)")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--logs-latency-ms", type=float, default=2000.0)
    parser.add_argument("--json", action="store_true", help="print the run as one JSON object")
    return parser


def run_and_print(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    run_once: Callable[[argparse.Namespace], dict[str, Any]],
    table: Callable[[dict[str, Any]], str],
) -> int:
    args = parser.parse_args(argv)
    if args.clusters < 1 or args.subscriptions < 1 or args.workspaces < 0 or getattr(args, "instances", 0) < 0:
        parser.error("--clusters and --subscriptions must be >= 1, --workspaces and --instances >= 0")
    args.subscriptions = min(args.subscriptions, args.clusters)
    run = run_once(args)
    print(json.dumps(run) if args.json else table(run))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = estate_parser(__doc__ or "")
    parser.add_argument("--instances", type=int, default=0, help="worker processes (default: the template's maximum)")
    parser.add_argument(
        "--sample", type=int, default=0, help="stop after this many clusters are checked (the rate is measured on them)"
    )
    parser.add_argument(
        "--own-core",
        action="store_true",
        help="the instances on the machine's last core, everything else on the others (measure one instance alone)",
    )
    return run_and_print(parser, argv, run_once, table)


if __name__ == "__main__":
    sys.exit(main())
