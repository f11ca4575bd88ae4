"""Snapshot folders: layout, estate/one-cluster detection, context merging, errors naming the file, write/read."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
    ("relative", "content", "message", "sources"),
    [
        (
            "network/nsg.json",
            [{"name": "x"}],
            'network/nsg.json: item 0 is not an ARM resource \\(no "type"\\)',
            ["network"],
        ),
        (
            "kube/pods.json",
            {"items": []},
            'kube/pods.json: not a Kubernetes object or List \\(no "kind"\\)',
            ["kube:pods"],
        ),
        (
            "kube/node-metrics.json",
            '{"kind": "NodeMetricsList", "items": [',
            "node-metrics.json: invalid JSON",
            ["kube:node-metrics"],
        ),
        (
            "kube/00-List.json",
            {"kind": "List", "items": 1},
            '"items" should be a list',
            ["kube:events", "kube:helm", "kube:node-metrics", "kube:nodes", "kube:pods"],
        ),
        (
            "logs/apiserver-requests.json",
            {"a": 1},
            "logs/apiserver-requests.json: expected a JSON array",
            ["logs:apiserver-requests"],
        ),
        ("probes.json", "[1]", "probes.json: expected a JSON object", ["probe:apiserver", "probe:kubelet"]),
        ("problems.json", {"kube:nope": {}}, "problems.json: unknown source 'kube:nope'", []),
        ("context.json", "\ufeff{", "context.json: invalid JSON", ["context"]),
        ("context.json", "[]", "context.json: expected a JSON object", ["context"]),
    ],
)
def test_a_malformed_file_costs_only_the_sources_it_feeds(tmp_path: Path, relative, content, message, sources) -> None:
    write(tmp_path / "bad" / "cluster.json", CLUSTER)
    write(tmp_path / "bad" / relative, content)
    write(tmp_path / "good" / "cluster.json", CLUSTER)
    bad, good = read_estate(tmp_path)
    assert bad.raw.cluster == CLUSTER and good.raw is not None and not good.unreadable
    (line,) = bad.unreadable
    assert str(tmp_path / "bad") in line and re.search(message, line) and "\n" not in line, line
    assert sorted(source.value for source in bad.raw.problems) == sources
    assert all(problem.kind == "error" and problem.message == line for problem in bad.raw.problems.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cluster.json: invalid JSON at line 1 column 2"),
        ("[]", "cluster.json: expected a JSON object"),
        ("", "cluster.json: empty file"),
        ("[" * 5000 + "]" * 5000, "cluster.json: nested deeper than 64 levels"),
        ('{"id": 1e400}', "cluster.json: the number 1e400 is out of range"),
        ('{"id": ' + "9" * 5000 + "}", "cluster.json: the number 9{20}.* has more than 20 digits"),
    ],
)
def test_an_unreadable_cluster_json_is_that_clusters_error(tmp_path: Path, content, message) -> None:
    write(tmp_path / "bad" / "cluster.json", content)
    write(tmp_path / "good" / "cluster.json", CLUSTER)
    bad, good = read_estate(tmp_path)
    assert bad.raw is None and good.raw is not None
    assert str(tmp_path / "bad") in bad.error and re.search(message, bad.error) and "\n" not in bad.error


def test_a_folder_without_cluster_json_is_reported_not_dropped(tmp_path: Path) -> None:
    write(tmp_path / "aks-a" / "cluster.json", CLUSTER)
    write(tmp_path / "aks-b" / "kube" / "pods.json", {"kind": "PodList", "items": []})
    write(tmp_path / ".git" / "HEAD", "ref: refs/heads/main")
    first, second = read_estate(tmp_path)
    assert first.raw is not None and second.raw is None
    assert second.error == f"{tmp_path / 'aks-b'}: no cluster.json (`az aks show -o json`): the cluster cannot be named"


def test_an_unreadable_estate_context_costs_every_cluster_its_context_only(tmp_path: Path) -> None:
    write(tmp_path / "context.json", "[]")
    write(tmp_path / "a" / "cluster.json", CLUSTER)
    write(tmp_path / "b" / "cluster.json", CLUSTER)
    for folder in read_estate(tmp_path):
        assert list(folder.raw.problems) == [Source.CONTEXT]
        assert folder.unreadable == (f"{tmp_path / 'context.json'}: expected a JSON object, not an array",)


def test_yaml_files_are_read_as_kubectl_and_az_print_them(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(
        "id: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-a\n"
        "name: aks-a\nlocation: westeurope\nproperties:\n  fqdn: aks-a.hcp.westeurope.azmk8s.io\n"
    )
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "pods.yaml").write_text(
        "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n"
        '    creationTimestamp: "2025-11-20T08:00:00Z"\n    name: konnectivity-agent-1\n    namespace: kube-system\n'
        'kind: List\nmetadata:\n  resourceVersion: ""\n'
    )
    (tmp_path / "kube" / "nodes.json").write_text("apiVersion: v1\nkind: NodeList\nitems: []\n")  # YAML in .json
    raw = read_cluster(tmp_path)
    assert raw.cluster == CLUSTER
    nodes, pods = raw.kube
    assert pods["items"][0]["metadata"]["creationTimestamp"] == "2025-11-20T08:00:00Z"
    assert nodes == {"apiVersion": "v1", "kind": "NodeList", "items": []}


def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "cluster.json", CLUSTER)
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    )
    write(tmp_path / "kube" / "pods.yaml", "kind: PodList\n" + bomb)
    (folder,) = read_estate(tmp_path)
    assert "YAML anchors and aliases" in folder.raw.problems[Source.PODS].message


def test_secret_values_never_enter_a_snapshot(tmp_path: Path) -> None:
    write(tmp_path / "cluster.json", CLUSTER)
    secret = {
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": "sh.helm.release.v1.web.v1",
            "namespace": "web",
            "labels": {"owner": "helm"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data": {"password": "c2VjcmV0"}}'},
        },
        "data": {"release": "SDRzSUFBQUFBQUFBLytTOWE="},
        "stringData": {"password": "secret"},
    }
    write(
        tmp_path / "kube" / "secrets.json",
        {"kind": "SecretList", "items": [{k: v for k, v in secret.items() if k != "kind"}]},
    )
    write(tmp_path / "kube" / "one.json", secret)
    raw = read_cluster(tmp_path)
    text = json.dumps(raw.kube)
    assert "c2VjcmV0" not in text and "SDRzSUFB" not in text and '"secret"' not in text
    assert raw.kube[0]["metadata"]["name"] == "sh.helm.release.v1.web.v1"


def test_metadata_only_items_keep_names_and_labels_only(tmp_path: Path) -> None:
    """Any annotation may hold values (a tool's copy of the object, a token) and managedFields every field's
    history: neither stays on a Secret or a metadata-only item, whatever the annotation is called."""
    write(tmp_path / "cluster.json", CLUSTER)
    metadata = {
        "name": "sh.helm.release.v1.web.v2",
        "namespace": "web",
        "labels": {"owner": "helm", "name": "web", "version": "2"},
        "annotations": {"meta.helm.sh/release-values": '{"dbPassword": "hunter2"}'},
        "managedFields": [{"manager": "helm", "fieldsV1": {"f:data": {"f:release": {}}}}],
    }
    partial = {"kind": "PartialObjectMetadataList", "items": [{"kind": "PartialObjectMetadata", "metadata": metadata}]}
    write(tmp_path / "kube" / "helm.json", partial)
    write(tmp_path / "kube" / "secret.json", {"kind": "Secret", "metadata": metadata, "data": {"release": "SDRz"}})
    write(tmp_path / "kube" / "pods.json", {"kind": "List", "items": [{"kind": "Pod", "metadata": metadata}]})
    raw = read_cluster(tmp_path)
    by_kind = {document["kind"]: document for document in raw.kube or []}
    kept = [by_kind["PartialObjectMetadataList"]["items"][0]["metadata"], by_kind["Secret"]["metadata"]]
    assert all(set(entry) == {"name", "namespace", "labels"} for entry in kept)
    assert "hunter2" not in json.dumps(kept) and "SDRz" not in json.dumps(raw.kube)
    assert "annotations" in by_kind["List"]["items"][0]["metadata"]  # a pod is not metadata-only: left as it is


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


def test_a_lone_surrogate_does_not_stop_the_text_report(tmp_path: Path) -> None:
    text = json.dumps({**CLUSTER, "location": "west\ud800europe"})  # valid JSON: "west\\ud800europe"
    write(tmp_path / "aks-a" / "cluster.json", text)
    assert read_cluster(tmp_path / "aks-a").cluster["location"] == "west\ufffdeurope"
    run = subprocess.run(
        [sys.executable, "-m", "sweep", "--snapshot", str(tmp_path), "--format", "text"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr, run.stderr
    assert "aks-a  (s1/rg, west\ufffdeurope)" in run.stdout


@pytest.mark.parametrize(
    ("where", "context", "message"),
    [
        ("cluster", {"clients": [{"name": "x", "ips": ["300.1.2.3"]}]}, "clients[0] (x): '300.1.2.3' is not an IP"),
        ("estate", {"clients": [{"name": "vpn", "ips": ["192.0.2.0/33"]}]}, "clients[0] (vpn): '192.0.2.0/33'"),
        ("cluster", {"clients": [{"name": "hub", "vnet": "vnet-hub"}]}, '"vnet" should be a virtual network'),
        ("estate", {"owners": "team-a"}, '"owners" should be a list of names'),
    ],
)
def test_a_context_with_an_invalid_entry_is_one_line_naming_the_file_and_exit_2(
    tmp_path: Path, where: str, context: dict, message: str
) -> None:
    write(tmp_path / "a" / "cluster.json", CLUSTER)
    path = tmp_path / "context.json" if where == "estate" else tmp_path / "a" / "context.json"
    write(path, context)
    (folder,) = read_estate(tmp_path)
    assert folder.unreadable[0].startswith(f"{path}: ") and message in folder.unreadable[0]
    assert list(folder.raw.problems) == [Source.CONTEXT]
    run = subprocess.run(
        [sys.executable, "-m", "sweep", "--snapshot", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"error: {path}: ") and message in run.stderr
    assert json.loads(run.stdout)["clusters"][0]["name"] == "aks-a"  # still reported
