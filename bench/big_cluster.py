"""One big cluster, checked live against the local emulator: what its API server is asked for and sends.

    python -m bench.big_cluster [--scale 1.0]

The cluster (at scale 1): 5,000 nodes in 10 node pools, each node with the status `kubectl get node -o json`
prints (about 40 images, conditions, addresses, managedFields); about 30,000 kube-system pods (six DaemonSets on
every node, konnectivity-agent, coredns, metrics-server); 100,000 events over 40 namespaces (a tenth of them
Warnings, a tenth of those in kube-system); 3,000 Helm 3 release Secrets with ~50 kB payloads; node metrics.
The emulator (tests/emulator/server.py) runs in its own process and serves it as the API server does: lists
paged by `limit` + `continue`, except from the watch cache (`resourceVersion=0`), which ignores `limit`;
label and field selectors; gzip above 128 KiB.

Two runs, each in a fresh process so its peak RSS is its own:
- the CLI checking that one cluster (`collect_one` and the checks, as `python -m sweep --cluster ID` does);
  targets: 0 unpaged lists, <= 20 MB received from its API server, <= 300 MiB peak RSS;
- a Function worker taking 24 messages at once (`extensions.queues.batchSize` 24): 4 such clusters and 20 of
  the sample estate's, each as `collect_one` and the checks; its peak RSS is stated against the 2,048 MB of a
  Flex Consumption instance.
Printed per run: requests to the API servers, lists, unpaged lists, lists answered whole from the watch cache,
MB received (on the wire, and after decompression), wall time and peak RSS."""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from collect.live.clients import LiveClients
from collect.live.estate import collect_one
from collect.raw import RawCluster
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, EmulatedCluster, StaticToken
from tools import make_example_estate as estate

MB = 1_000_000
TARGET_MB = 20
TARGET_RSS_MIB = 300
INSTANCE_MB = 2_048
WORKER_MESSAGES = 24
BIG_IN_WORKER = 4
DAEMONSETS = (
    "kube-proxy",
    "cloud-node-manager",
    "azure-cns",
    "csi-azuredisk-node",
    "csi-azurefile-node",
    "azure-ip-masq-agent",
)


def _managed_fields(manager: str, fields: int) -> list[dict[str, Any]]:
    """managedFields as the API server keeps them: most of an object's bytes, read by no check."""
    tree = {f"f:field{index:03d}": {"f:value": {}, "f:type": {}} for index in range(fields)}
    return [
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-25T04:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": tree}, "f:status": tree},
        }
    ]


def big_cluster(name: str, scale: float = 1.0) -> RawCluster:
    """The cluster described above; objects share their constant parts (the JSON is as large as real ones,
    the emulator process stays small)."""
    raw = estate.healthy()
    raw.cluster = {**raw.cluster, "name": name, "id": raw.cluster["id"].rsplit("/", 1)[0] + "/" + name}
    pools, per_pool = 10, max(1, round(500 * scale))
    images = [
        {
            "names": [
                f"mcr.microsoft.com/oss/kubernetes/image-{index:02d}@sha256:{'0' * 64}",
                f"mcr.microsoft.com/oss/kubernetes/image-{index:02d}:v1.30.{index}",
            ],
            "sizeBytes": 50_000_000 + index,
        }
        for index in range(40)
    ]
    node_fields = _managed_fields("kubelet", 40)
    conditions = [
        {
            "type": kind,
            "status": "True" if kind == "Ready" else "False",
            "reason": f"Kubelet{kind}",
            "lastHeartbeatTime": "2026-11-25T04:00:00Z",
            "lastTransitionTime": "2026-11-01T00:00:00Z",
            "message": f"kubelet reports {kind}",
        }
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
    ]
    nodes, metrics, node_names = [], [], []
    for pool in range(pools):
        mode = "System" if pool == 0 else "User"
        labels = {
            "kubernetes.azure.com/agentpool": f"pool{pool}",
            "kubernetes.azure.com/mode": mode.lower(),
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": "Standard_D8ds_v5",
        }
        for index in range(per_pool):
            node = f"aks-pool{pool}-12345678-vmss{index:06x}"
            node_names.append(node)
            address = f"10.{pool}.{index // 250}.{index % 250 + 4}"
            nodes.append(
                {
                    "kind": "Node",
                    "metadata": {
                        "name": node,
                        "labels": labels,
                        "managedFields": node_fields,
                        "creationTimestamp": "2026-11-01T00:00:00Z",
                    },
                    "status": {
                        "allocatable": {"cpu": "7820m", "memory": "28437508Ki", "pods": "250"},
                        "capacity": {"cpu": "8", "memory": "32864068Ki", "pods": "250"},
                        "conditions": conditions,
                        "addresses": [
                            {"type": "InternalIP", "address": address},
                            {"type": "Hostname", "address": node},
                        ],
                        "images": images,
                        "nodeInfo": {
                            "kubeletVersion": "v1.30.5",
                            "osImage": "Ubuntu 22.04.5 LTS",
                            "containerRuntimeVersion": "containerd://1.7.22",
                        },
                    },
                }
            )
            metrics.append(
                {
                    "kind": "NodeMetrics",
                    "metadata": {"name": node, "labels": labels},
                    "timestamp": "2026-11-25T04:00:00Z",
                    "window": "20s",
                    "usage": {"cpu": "812873919n", "memory": "9187264Ki"},
                }
            )
    pod_fields = _managed_fields("kube-controller-manager", 45)
    running = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "main",
                "ready": True,
                "restartCount": 0,
                "image": "",
                "imageID": "",
                "state": {"running": {"startedAt": "2026-11-01T00:00:00Z"}},
            }
        ],
    }
    pods = []
    for daemonset in DAEMONSETS:
        labels = {"component": daemonset, "k8s-app": daemonset, "tier": "node", "controller-revision-hash": "6b9d4c8f7"}
        containers = [
            {
                "name": daemonset,
                "image": f"mcr.microsoft.com/oss/kubernetes/{daemonset}:v1.30.5",
                "args": [f"--flag-{n}=value-{n}" for n in range(30)],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            }
        ]
        for index, node in enumerate(node_names):
            pods.append(
                {
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{daemonset}-{index:05x}",
                        "namespace": "kube-system",
                        "labels": labels,
                        "managedFields": pod_fields,
                    },
                    "spec": {"nodeName": node, "containers": containers},
                    "status": running,
                }
            )
    system = node_names[:per_pool]
    for index in range(20):  # konnectivity-agent, scaled by its autoscaler, on the system pool
        labels = {"app": "konnectivity-agent", "component": "tunnel"}
        pods.append(
            {
                "kind": "Pod",
                "metadata": {
                    "name": f"konnectivity-agent-7d8f9c6b5-{index:05x}",
                    "namespace": "kube-system",
                    "labels": labels,
                },
                "spec": {"nodeName": system[index % len(system)]},
                "status": running,
            }
        )
    for name, labels in (
        ("konnectivity-agent-autoscaler-6b9d4c8f7-h5kqv", {"app": "konnectivity-agent-autoscaler"}),
        ("coredns-7b5f8c6d9f-4xk2p", {"k8s-app": "kube-dns"}),
        ("metrics-server-5d8c9b7f6-2zt9w", {"k8s-app": "metrics-server"}),
    ):
        pods.append(
            {
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
                "spec": {"nodeName": system[0]},
                "status": running,
            }
        )
    events = []
    for index in range(round(100_000 * scale)):
        warning = index % 10 == 0
        namespace = "kube-system" if index % 100 == 0 else f"tenant-{index % 40:02d}"
        events.append(
            {
                "kind": "Event",
                "metadata": {"name": f"web-{index:06x}.17f", "namespace": namespace, "managedFields": []},
                "involvedObject": {"kind": "Pod", "name": f"web-{index:06x}", "namespace": namespace, "uid": "0" * 36},
                "reason": "BackOff" if warning else "Pulled",
                "message": ("Back-off restarting failed container " if warning else "Container image already present ")
                + "x" * 700,
                "type": "Warning" if warning else "Normal",
                "count": 3,
                "firstTimestamp": "2026-11-25T03:00:00Z",
                "lastTimestamp": "2026-11-25T04:00:00Z",
                "source": {"component": "kubelet", "host": node_names[index % len(node_names)]},
            }
        )
    payload = {"release": "H4sI" + "A" * 50_000}
    secrets = [
        {
            "kind": "Secret",
            "metadata": {
                "name": f"sh.helm.release.v1.app-{index:04d}.v1",
                "namespace": f"tenant-{index % 40:02d}",
                "labels": {"name": f"app-{index:04d}", "owner": "helm", "status": "deployed", "version": "1"},
            },
            "type": "helm.sh/release.v1",
            "data": payload,
        }
        for index in range(round(3_000 * scale))
    ]
    raw.kube = [
        {"kind": "NodeList", "items": nodes},
        {"kind": "NodeMetricsList", "items": metrics},
        {"kind": "PodList", "items": pods},
        {"kind": "EventList", "items": events},
        {"kind": "SecretList", "items": secrets},
    ]
    raw.pod_logs = {}
    return raw


def serve(scale: float, big: int, ca_path: str, pipe: Connection) -> None:
    """The emulator process: `big` big clusters and the sample estate's; answers "stats" until "stop"."""
    clusters = [EmulatedCluster(big_cluster(f"aks-big-{index}", scale)) for index in range(big)]
    samples = [estate.healthy, estate.helm_history, estate.nsg_denies_kubelet, estate.throttled_leaking_client]
    for index in range(WORKER_MESSAGES - big):
        raw = samples[index % len(samples)]()
        raw.cluster["name"] = name = f"aks-sample-{index:02d}"
        raw.cluster["id"] = raw.cluster["id"].rsplit("/", 1)[0] + "/" + name
        clusters.append(EmulatedCluster(raw))
    network = {r["id"].lower(): r for c in clusters for r in c.raw.network or []}
    emulator = AzureEmulator(clusters, list(network.values()))
    emulator.keep_log = False
    emulator.start(Path(ca_path))
    pipe.send({"url": emulator.url, "ids": [c.id for c in clusters]})
    while pipe.recv() == "stats":
        pipe.send(
            {key: value for key, value in asdict(emulator.kube).items() if key not in ("queries", "authorizations")}
        )
    emulator.stop()


def check(url: str, ca_path: str, cluster_ids: list[str], pipe: Connection) -> None:
    """A checker process: every cluster at once (collect_one and the checks), then its wall time and peak RSS."""
    settings = replace(Settings.from_env({}), read_secrets=True)
    live = LiveClients(
        StaticToken(),
        arm_endpoint=url,
        logs_endpoint=f"{url}/v1",
        connection_verify=ca_path,
        timeout_seconds=60,
        read_secrets=True,
        concurrency=len(cluster_ids),
        kube_max_read_mb=settings.kube_max_read_mb,
        kube_max_objects=settings.kube_max_objects,
    )

    def one(cluster_id: str) -> list[str]:
        raw = collect_one(live, cluster_id, {}, 10, "aks-reach-clients")
        assert isinstance(raw, RawCluster), raw
        return [f"{f.check}={f.status.value}" for f in evaluate_raw(raw, settings).findings]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(cluster_ids)) as pool:
        verdicts = list(pool.map(one, cluster_ids))
    pipe.send({"seconds": time.perf_counter() - started, "peak_mib": peak_rss_mib(), "verdicts": verdicts})


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(url: str, ca_path: str, cluster_ids: list[str], emulator: Connection) -> dict[str, Any]:
    emulator.send("stats")
    before = emulator.recv()
    parent, child = multiprocessing.Pipe()
    checker = multiprocessing.get_context("spawn").Process(target=check, args=(url, ca_path, cluster_ids, child))
    checker.start()
    result = parent.recv()
    checker.join()
    emulator.send("stats")
    after = emulator.recv()
    return {**result, **{key: after[key] - before[key] for key in after}}


def line(label: str, run: dict[str, Any]) -> str:
    return (
        f"{label}: {run['requests']} requests, {run['lists']} lists, {run['unpaged']} unpaged, "
        f"{run['whole_from_cache']} whole from the watch cache; {run['wire_bytes'] / MB:.1f} MB received "
        f"({run['body_bytes'] / MB:.1f} MB decompressed); {run['seconds']:.1f} s; peak RSS {run['peak_mib']:.0f} MiB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of the big cluster (1.0: 5,000 nodes)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        ca_path = str(Path(scratch) / "ca.pem")
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(args.scale, BIG_IN_WORKER, ca_path, child), daemon=True
        )
        server.start()
        ready = parent.recv()
        try:
            cli = run(ready["url"], ca_path, ready["ids"][:1], parent)
            print(line(f"CLI, one big cluster (scale {args.scale})", cli))
            print(
                f"  targets: 0 unpaged lists ({cli['unpaged']}), <= {TARGET_MB} MB received "
                f"({cli['wire_bytes'] / MB:.1f}), <= {TARGET_RSS_MIB} MiB peak RSS ({cli['peak_mib']:.0f})"
            )
            print("  verdicts: " + ", ".join(cli["verdicts"][0]))
            worker = run(ready["url"], ca_path, ready["ids"], parent)
            print(line(f"Function worker, {WORKER_MESSAGES} messages at once ({BIG_IN_WORKER} big)", worker))
            print(f"  peak RSS {worker['peak_mib']:.0f} MiB of the instance's {INSTANCE_MB} MB")
        finally:
            parent.send("stop")
            server.join(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
