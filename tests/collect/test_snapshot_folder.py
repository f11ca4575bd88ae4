"""Snapshot folders: layout, estate/one-cluster detection, context merging, errors naming the file, write/read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collect.raw import RawCluster
from collect.snapshot_folder import SnapshotFileError, read_cluster, read_estate, write_cluster
from model.snapshot import Problem, Source

CLUSTER = {
    "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-a",
    "name": "aks-a",
    "location": "westeurope",
    "properties": {"fqdn": "aks-a.hcp.westeurope.azmk8s.io"},
}
NSG = {
    "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg",
    "name": "nsg",
    "type": "Microsoft.Network/networkSecurityGroups",
    "properties": {"securityRules": []},
}


def write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value))


def test_estate_with_context_defaults_and_overrides(tmp_path: Path) -> None:
    write(tmp_path / "context.json", {"clients": [{"name": "ci", "ips": ["203.0.113.0/28"]}], "owners": ["sre"]})
    write(tmp_path / "a" / "cluster.json", CLUSTER)
    write(tmp_path / "b" / "cluster.json", {**CLUSTER, "name": "aks-b"})
    write(tmp_path / "b" / "context.json", {"clients": []})
    write(tmp_path / "not-a-cluster" / "readme.txt", "x")
    first, second = read_estate(tmp_path)
    assert first.raw.context["clients"][0]["name"] == "ci" and first.raw.network is None and first.raw.kube is None
    assert second.raw.context == {"clients": [], "owners": ["sre"]}


def test_one_cluster_folder_with_every_part(tmp_path: Path) -> None:
    write(tmp_path / "cluster.json", CLUSTER)
    write(tmp_path / "network" / "all.json", [NSG])
    write(tmp_path / "network" / "list.json", {"value": [NSG]})
    write(tmp_path / "kube" / "pods.json", {"kind": "PodList", "items": []})
    write(tmp_path / "kube" / "logs" / "kube-system" / "konnectivity-agent-1.log", "E1120 no application protocol\n")
    write(
        tmp_path / "logs" / "apiserver-requests.json",
        [{"userAgent": "kubectl", "verb": "list", "requests": "3", "throttled": "0"}],
    )
    write(tmp_path / "probes.json", {"apiserver": {"target": "x", "error": None}})
    write(tmp_path / "problems.json", {"kube:helm": {"kind": "error", "message": "403 Forbidden"}})
    (only,) = read_estate(tmp_path)
    raw = only.raw
    assert len(raw.network) == 2 and raw.kube == [{"kind": "PodList", "items": []}]
    assert raw.pod_logs == {"kube-system/konnectivity-agent-1": "E1120 no application protocol\n"}
    assert raw.logs["apiserver-requests"][0]["requests"] == "3"
    assert raw.problems == {Source.HELM: Problem("error", "403 Forbidden")}


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("cluster.json", "{not json", "cluster.json: invalid JSON at line 1 column 2"),
        ("cluster.json", "[]", "cluster.json: expected a JSON object"),
        ("network/nsg.json", [{"name": "x"}], 'network/nsg.json: item 0 is not an ARM resource \\(no "type"\\)'),
        ("kube/pods.json", {"items": []}, 'kube/pods.json: not a Kubernetes object or List \\(no "kind"\\)'),
        ("logs/apiserver-requests.json", {"a": 1}, "logs/apiserver-requests.json: expected a JSON array"),
        ("probes.json", "[1]", "probes.json: expected a JSON object"),
        ("problems.json", {"kube:nope": {}}, "problems.json: unknown source 'kube:nope'"),
        ("context.json", "\ufeff{", "context.json: invalid JSON"),
    ],
)
def test_malformed_files_are_named_and_other_clusters_still_read(tmp_path: Path, relative, content, message) -> None:
    write(tmp_path / "bad" / "cluster.json", CLUSTER)
    write(tmp_path / "bad" / relative, content)
    write(tmp_path / "good" / "cluster.json", CLUSTER)
    bad, good = read_estate(tmp_path)
    assert bad.raw is None and good.raw is not None
    assert str(tmp_path / "bad") in bad.error
    assert re.search(message, bad.error), bad.error
    assert "\n" not in bad.error


def test_missing_or_empty_estate(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFileError, match="no such snapshot folder"):
        list(read_estate(tmp_path / "nope"))
    with pytest.raises(SnapshotFileError, match=r"no cluster\.json in it nor in any sub-folder"):
        list(read_estate(tmp_path))


def test_write_then_read_gives_back_the_same_raw_cluster(tmp_path: Path) -> None:
    raw = RawCluster(
        cluster=CLUSTER,
        context={"clients": [{"name": "ci", "ips": ["203.0.113.4"]}]},
        network=[NSG],
        kube=[
            {"kind": "SecretList", "apiVersion": "v1", "items": []},
            {"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n"}}]},
        ],
        pod_logs={"kube-system/tunnelfront-1": "ok\n"},
        logs={"apiserver-requests": [{"userAgent": "kubectl", "verb": "get", "requests": 1, "throttled": 0}]},
        probes={"apiserver": {"target": "x"}, "kubelet": []},
        problems={Source.EVENTS: Problem("unavailable", "API server not reachable from the checker: timeout")},
    )
    write_cluster(raw, tmp_path / "aks-a")
    assert read_cluster(tmp_path / "aks-a") == raw
