"""From a Resource Manager event's arrival to the recheck's Teams card, on the local emulators.

    python -m bench.changes [--affected 1 200] [--latency-ms 100] [--delay-seconds 20]

The estate: `--affected` clusters (user-defined routing) behind one hub firewall whose application rules allow
AKS's FQDN tag, plus as many public clusters that the change does not touch, 20 clusters to a workload
subscription, the hub in its own. The app is
what `Runtime.build` makes from its settings (defaults, but the emulator endpoints), on Azurite, with the
Teams default webhook at a local capture server. A sweep first writes the reference index and tells Teams of
today's failures. Then someone deletes the firewall's AKS rule: the bench fires the documented
ResourceWriteSuccess event at the Event Grid trigger (t = 0) and plays the Functions host: the queue is polled
every `maxPollingInterval` (host.json, 2 s) by `instances x (batchSize + newBatchThreshold)` workers
(2 x 6, the template's defaults), each running the queue trigger. It prints when the recheck messages became
visible, the first and the last card, and the lower bound of each figure.

The emulator answers every request after `--latency-ms` and throttles as Azure documents (ARM token
buckets per subscription and principal, Resource Graph 15 queries per 5 s, Log Analytics 200 per 30 s and 5
at once). Event Grid's own delivery latency (Microsoft documents sub-second publishing-to-delivery) comes on
top of the figures. The sweep that prepares the index runs without the latency (set-up, not measured).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage

import function_app
from collect.raw import RawCluster
from sweep.app.runtime import Runtime
from sweep.core.settings import Settings
from sweep.rechecks.plug_in import with_rechecks
from tests.azurite import AzuriteProcess, receive_batch
from tests.emulator.server import AzureEmulator, EmulatedCluster, StaticToken
from tests.eventgrid import delivered, managed_identity_claims, resource_event
from tests.functions.test_function_app import FUNCTIONS  # the app's functions, indexed once per process
from tests.webhook_capture import WebhookCapture
from tools import make_example_estate as estate

HOST = json.loads((Path(__file__).resolve().parent.parent / "host.json").read_text())["extensions"]["queues"]
POLL_SECONDS = float(HOST["maxPollingInterval"].rsplit(":", 1)[-1])
INSTANCES = 2  # infra/main.bicep maximumInstanceCount
PER_INSTANCE = HOST["batchSize"] + HOST["newBatchThreshold"]
ARM_READS = (250, 25.0)  # ARM's read bucket per subscription and principal: size, refill per second
TEAMS_INTERVAL = 0.3
PER_SUBSCRIPTION = 20  # clusters per workload subscription
RETRY_SECONDS = int(HOST["visibilityTimeout"].rsplit(":", 1)[-1])  # a failed invocation's message comes back
SWEEP_BUDGET = 900.0  # seconds the preparing sweep may take
CHAIN = 3  # dependent requests of one recheck: cluster GET, listClusterUserCredential, then reads side by side  # publish/teams.py: posts to one webhook paced below Teams' 4 requests per second
AKS_RULE = {
    "name": "aks-fqdn-tag",
    "sourceAddresses": ["10.227.0.0/16"],
    "protocols": [{"protocolType": "Https", "port": 443}],
    "fqdnTags": ["AzureKubernetesService"],
}


def subscription_id(index: int) -> str:
    return f"5b0c{index:04x}-0000-4000-8000-{index:012x}"


def bench_estate(affected: int) -> tuple[list[EmulatedCluster], list[dict[str, Any]], dict[str, Any]]:
    """`affected` spokes routed through one hub firewall (in the hub's own subscription), and as many public
    clusters, `PER_SUBSCRIPTION` clusters to a workload subscription (ARM throttles per subscription);
    returns the firewall."""
    routed, public = estate.udr_classic_firewall_missing_rule(), estate.healthy()
    clusters: list[EmulatedCluster] = []
    network: dict[str, dict[str, Any]] = {}
    for index in range(affected * 2):
        template = routed if index % 2 == 0 else public
        old = template.cluster["name"]
        workload = f"/subscriptions/{subscription_id(index // PER_SUBSCRIPTION)}"
        text = json.dumps({"cluster": template.cluster, "network": template.network or []})
        text = text.replace(old, f"{old}-{index:04d}").replace(f"/subscriptions/{estate.SUB}", workload)
        hub = f"/resourceGroups/{estate.HUB_RG}/"
        renamed = json.loads(text.replace(f"{workload}{hub}", f"/subscriptions/{estate.SUB}{hub}"))
        for body in renamed["network"]:
            network.setdefault(body["id"].lower(), body)
        raw = RawCluster(cluster=renamed["cluster"], kube=template.kube, pod_logs=template.pod_logs, logs=template.logs)
        clusters.append(EmulatedCluster(raw))
    firewall = next(r for r in network.values() if r["type"] == "Microsoft.Network/azureFirewalls")
    firewall["properties"]["applicationRuleCollections"][0]["properties"]["rules"].append(dict(AKS_RULE))
    return clusters, list(network.values()), firewall


class Host:
    """The Functions host's queue listener, as host.json configures it: poll (every `maxPollingInterval` while
    the queue is empty), run up to `workers` invocations of the worker trigger at once, delete each message
    when its invocation returns."""

    def __init__(self, runtime: Runtime, workers: int) -> None:
        self._runtime, self._workers = runtime, workers
        self._free = threading.Semaphore(workers)
        self._stop = threading.Event()
        self.visible_at: list[float] = []
        self.failures: list[str] = []
        self.finished = 0  # invocations returned or raised

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            while not self._stop.is_set():
                self._free.acquire()
                self._free.release()
                slots = sum(self._free.acquire(blocking=False) for _ in range(self._workers))
                batch = receive_batch(self._runtime.queue, max(1, slots), visibility_timeout=300)
                for _ in range(slots - len(batch)):
                    self._free.release()
                if not batch:
                    self._stop.wait(POLL_SECONDS)
                    continue
                self.visible_at += [time.monotonic()] * len(batch)
                for message in batch:
                    pool.submit(self._invoke, message)

    def _invoke(self, message: Any) -> None:
        try:
            body = QueueMessage(id=message.id, body=message.content.encode(), dequeue_count=message.dequeue_count)
            FUNCTIONS["check_cluster_message"](body)
            self._runtime.queue.delete_message(message)
        except Exception as exc:  # the host retries it after visibilityTimeout; the bench reports it
            self.failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            self._runtime.queue.update_message(message, visibility_timeout=RETRY_SECONDS)
        finally:
            self.finished += 1
            self._free.release()

    def stop(self) -> None:
        self._stop.set()


def run(affected: int, latency_ms: float, delay_seconds: float, azurite_connection: str) -> dict[str, Any]:
    clusters, network, firewall = bench_estate(affected)
    with tempfile.TemporaryDirectory() as scratch, WebhookCapture() as webhook:
        emulator = AzureEmulator(clusters, network).start(Path(scratch) / "ca.pem")
        emulator.keep_log = False
        try:
            suffix = uuid.uuid4().hex[:8]
            settings = Settings.from_env(
                {
                    "AKS_REACH_ARM_ENDPOINT": emulator.url,
                    "AKS_REACH_LOGS_ENDPOINT": f"{emulator.url}/v1",
                    "AKS_REACH_QUEUE": f"bench-{suffix}",
                    "AKS_REACH_STATE_TABLE": f"bench{suffix}",
                    "AKS_REACH_RECHECK_DELAY_SECONDS": str(delay_seconds),
                    "AzureWebJobsStorage": azurite_connection,
                    "AKS_REACH_TEAMS_DEFAULT_WEBHOOK": webhook.url("/platform"),
                }
            )
            runtime = with_rechecks(Runtime.build(settings, StaticToken(), connection_verify=str(emulator.ca_path)))
            runtime.queue.create_queue()
            function_app.services.use(runtime)
            host = Host(runtime, INSTANCES * PER_INSTANCE)
            listener = threading.Thread(target=host.run, daemon=True)
            listener.start()
            started = time.monotonic()
            FUNCTIONS["sweep_timer"](None)
            while host.finished < len(clusters) and time.monotonic() < started + SWEEP_BUDGET:
                time.sleep(1)
                if int(time.monotonic() - started) % 15 == 0:
                    print(f"sweep: {host.finished}/{len(clusters)} clusters checked", file=sys.stderr, flush=True)
            sweep_seconds = time.monotonic() - started
            cards_before = len(webhook.posts)
            host.visible_at.clear()
            emulator.latency_seconds = latency_ms / 1000
            time.sleep(ARM_READS[0] / ARM_READS[1])  # changes come between sweeps: ARM's read bucket is full again
            reads_before = arm_reads(emulator)

            firewall["properties"]["applicationRuleCollections"][0]["properties"]["rules"].pop()  # the AKS rule goes
            pipeline = managed_identity_claims("deploy-pipeline", str(uuid.uuid4()), estate.SUB)
            event = resource_event(firewall["id"], "Microsoft.Network/azureFirewalls/write", claims=pipeline)
            arrival = time.monotonic()
            FUNCTIONS["resource_changed"](delivered(event))
            trigger_seconds = time.monotonic() - arrival
            deadline = arrival + delay_seconds + 60 + affected * 5
            card_times: list[float] = []
            while len(card_times) < affected and time.monotonic() < deadline:
                while len(card_times) < len(webhook.posts) - cards_before:
                    card_times.append(time.monotonic() - arrival)
                time.sleep(0.05)
            host.stop()
            listener.join(timeout=60)
            reads = arm_reads(emulator) - reads_before
        finally:
            emulator.stop()
    visible = [moment - arrival for moment in host.visible_at]
    return {
        "affected": affected,
        "clusters": len(clusters),
        "latency ms": latency_ms,
        "delay s": delay_seconds,
        "workers": INSTANCES * PER_INSTANCE,
        "sweep s": round(sweep_seconds, 1),
        "trigger s": round(trigger_seconds, 3),
        "messages": len(visible),
        "arm reads": reads,
        "failures": host.failures[:3],
        "first picked up s": round(min(visible), 2) if visible else None,
        "cards": len(card_times),
        "first card s": round(card_times[0], 2) if card_times else None,
        "last card s": round(card_times[-1], 2) if card_times else None,
        # The floor of each figure: the delay, then a recheck's chain of dependent requests (the cluster, its
        # user kubeconfig, then the Kubernetes and network reads beside each other: 3 answers at the latency);
        # for many clusters also ARM's read bucket (reads beyond its 250 refill at 25/s), the workers (rechecks
        # in rounds of `workers`) and the webhook's pacing of one card per 0.3 s.
        "lower bound first s": round(delay_seconds + CHAIN * latency_ms / 1000, 1),
        "lower bound last s": round(
            delay_seconds
            + max(
                math.ceil(affected / (INSTANCES * PER_INSTANCE)) * CHAIN * latency_ms / 1000,
                max(0.0, reads - ARM_READS[0]) / ARM_READS[1],
                affected * TEAMS_INTERVAL,
            ),
            1,
        ),
    }


def arm_reads(emulator: AzureEmulator) -> int:
    return sum(count for key, count in emulator.requests.items() if key.startswith("GET /subscriptions/"))


def table(result: dict[str, Any]) -> str:
    lines = [
        ("clusters affected / in the estate", f"{result['affected']} / {result['clusters']}"),
        (
            "latency, recheck delay, workers",
            f"{result['latency ms']:g} ms, {result['delay s']:g} s, {result['workers']}",
        ),
        ("trigger (index lookups + claims)", f"{result['trigger s']:.3f} s"),
        ("recheck messages", f"{result['messages']} (first picked up at {result['first picked up s']} s)"),
        (
            "first card after the event",
            f"{result['first card s']} s  (lower bound {result['lower bound first s']} s; target <= 60 s)",
        ),
        (
            "last card after the event",
            f"{result['last card s']} s  (lower bound {result['lower bound last s']} s), {result['cards']} cards",
        ),
        ("ARM reads of the rechecks", f"{result['arm reads']:,}"),
        ("the sweep before (index and Teams state)", f"{result['sweep s']} s, without latency"),
        ("worker failures", "; ".join(result["failures"]) or "none"),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--affected", type=int, nargs="+", default=[1, 200], help="clusters behind the changed firewall"
    )
    parser.add_argument("--latency-ms", type=float, default=100.0, help="answer time of every emulated service")
    parser.add_argument(
        "--delay-seconds", type=float, default=Settings().recheck_delay_seconds, help="AKS_REACH_RECHECK_DELAY_SECONDS"
    )
    args = parser.parse_args(argv)
    if min(args.affected) < 1 or args.latency_ms < 0 or args.delay_seconds < 0:
        parser.error("--affected must be >= 1, --latency-ms and --delay-seconds >= 0")
    azurite = AzuriteProcess()
    running = azurite.start()
    try:
        for affected in args.affected:
            print(
                table(run(affected, args.latency_ms, args.delay_seconds, running.connection_string)),
                end="\n\n",
                flush=True,
            )
    finally:
        azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
