"""examples/export-snapshot.sh run as an operator runs it, with fake `az` and `kubectl` on PATH, its output read
back by the real snapshot loader and evaluated. The cloud is the sample landing-zone cluster aks-billing-lz:
its spoke in a workload subscription, its hub (VNet, firewall, policy with a parent policy, rule collection
group, IP group, public IP) in a connectivity subscription, reached through a Connected peering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from collect.raw import RawCluster
from collect.snapshot_folder import read_cluster
from model.finding import Status
from model.snapshot import Problem, Source
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.landing_zone import (
    SHAPES_SUB,
    WESTEUROPE_TAGS,
    forced_tunnel,
    hub_spoke,
    nat_on_firewall_subnet,
    nsg_to_azure_cloud_only,
    service_tags,
)
from tools import make_example_estate as estate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "export-snapshot.sh"
SAMPLE = ROOT / "examples" / "estate" / "aks-billing-lz"
CLUSTER = json.loads((SAMPLE / "cluster.json").read_text())
CLUSTER_ID = CLUSTER["id"]
CONNECTIVITY = "/subscriptions/5c8e1f2a-7b3d-4e9f-a6c1-0d2e3f4a5b6c"
HUB_VNET = (
    f"{CONNECTIVITY}/resourceGroups/rg-hub-corp-weu/providers/Microsoft.Network/virtualNetworks/vnet-hub-corp-weu"
)
FIREWALL = f"{CONNECTIVITY}/resourceGroups/rg-hub-corp-weu/providers/Microsoft.Network/azureFirewalls/afw-hub-corp-weu"
WORKSPACE = "6a3b9c2d-4e5f-4a1b-9c8d-7e6f5a4b3c2d"
AUDIT_ROWS = ROOT / "examples" / "estate" / "aks-payments-prod" / "logs" / "apiserver-requests.json"


def sample_files(folder: str) -> list[Any]:
    documents = [json.loads(path.read_text()) for path in sorted((SAMPLE / folder).glob("*.json"))]
    return [item for document in documents for item in (document if isinstance(document, list) else [document])]


def landing_zone_cloud() -> dict[str, Any]:
    """ARM bodies (wire format) of the sample cluster and every network resource it reaches, and audit rows."""
    return {
        "resources": [CLUSTER, *sample_files("network")],
        "logs": json.loads(AUDIT_ROWS.read_text()),
        "forbidden_subscriptions": [],
    }


def kubernetes() -> dict[str, Any]:
    """The sample's Kubernetes objects as the API server holds them (Helm releases as Secrets with a payload)."""
    objects = []
    for item in sample_files("kube"):
        for obj in item.get("items") or ([] if item["kind"].endswith("List") else [item]):
            obj = dict(obj, kind=obj.get("kind") or item["kind"].removesuffix("List"))
            if obj["kind"] == "PartialObjectMetadata":
                obj = {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1", "metadata": obj["metadata"]}
                obj["data"] = {"release": "SDRzSUFBQUFBQUFDLzZ4VlRXL2JPQkQ5Sw=="}
            objects.append(obj)
    logs = {path.stem: path.read_text() for path in (SAMPLE / "kube" / "logs" / "kube-system").glob("*.log")}
    return {"objects": objects, "logs": logs, "forbidden": [], "metrics": True, "reachable": True}


def export(
    tmp_path: Path, cloud: dict[str, Any], kube: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    return export_cluster(tmp_path, cloud, kube, CLUSTER_ID)


def export_cluster(
    tmp_path: Path, cloud: dict[str, Any], kube: dict[str, Any], cluster_id: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("az", "kubectl"):
        shim = bin_dir / tool
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).parent / f"fake_{tool}.py"}" "$@"\n')
        shim.chmod(0o755)
    (tmp_path / "cloud.json").write_text(json.dumps(cloud))
    (tmp_path / "kube.json").write_text(json.dumps(kube))
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FAKE_CLOUD": str(tmp_path / "cloud.json"),
        "FAKE_KUBE": str(tmp_path / "kube.json"),
    }
    out = tmp_path / "snapshot"
    run = subprocess.run(
        ["bash", str(SCRIPT), cluster_id, str(out), WORKSPACE],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    return run, out


def problems(folder: Path) -> dict[str, dict[str, str]]:
    return json.loads((folder / "problems.json").read_text())


def findings(folder: Path) -> dict[str, Any]:
    result = evaluate_raw(read_cluster(folder), Settings.from_env({}))
    assert result.input_error is None
    return {finding.check: finding for finding in result.findings}


def no_empty_files(folder: Path) -> None:
    """No JSON file is left empty (a quiet pod's log may be)."""
    empty = [str(path.relative_to(folder)) for path in folder.rglob("*.json") if path.stat().st_size == 0]
    assert empty == []


def test_a_full_export_follows_the_route_and_peering_to_the_hub_in_another_subscription(tmp_path: Path) -> None:
    run, out = export(tmp_path, landing_zone_cloud(), kubernetes())
    assert run.returncode == 0, run.stderr
    no_empty_files(out)
    assert set(problems(out)) == {"probe:apiserver", "probe:kubelet"}  # everything else was exported
    calls = [json.loads(line) for line in (tmp_path / "cloud.json.calls").read_text().splitlines()]
    hub_reads = {
        call[call.index("--ids") + 1]
        for call in calls
        if "--ids" in call and CONNECTIVITY in call[call.index("--ids") + 1]
    }
    assert {HUB_VNET, FIREWALL} <= hub_reads
    assert not any(call[:3] == ["network", "firewall", "list"] for call in calls)  # no guess by subscription
    raw = read_cluster(out)
    exported_ids = sorted(resource["id"].lower() for resource in raw.network or [])
    texts = [json.dumps(resource).lower() for resource in landing_zone_cloud()["resources"]]
    referenced = [  # every resource that the cluster or another resource points at (the IP group is used by none)
        resource["id"].lower()
        for resource in sample_files("network")
        if any(
            resource["id"].lower() in text
            for text in texts
            if not text.startswith(f'{{"id": "{resource["id"].lower()}"')
        )
    ]
    assert len(referenced) == len(sample_files("network")) - 1
    assert exported_ids == sorted(referenced)  # each once
    # The export holds what the checks need: the same verdicts as the cloud it was exported from.
    cloud = landing_zone_cloud()
    truth = read_cluster(SAMPLE)
    truth.network = cloud["resources"][1:]
    truth.logs = {"apiserver-requests": cloud["logs"]}
    truth.probes = None
    truth.problems = {
        source: Problem(**problems(out)[source.value]) for source in (Source.APISERVER_PROBE, Source.KUBELET_PROBE)
    }
    expected = evaluate_raw(truth, Settings.from_env({}))
    exported = findings(out)
    assert {f.check: (f.status, f.title) for f in expected.findings} == {
        c: (f.status, f.title) for c, f in exported.items()
    }
    assert exported["egress-rules"].status is not Status.SKIPPED


def test_forbidden_secrets_and_no_metrics_server_are_recorded_and_the_export_goes_on(tmp_path: Path) -> None:
    kube = kubernetes()
    kube["forbidden"] = ["secrets"]
    kube["metrics"] = False
    run, out = export(tmp_path, landing_zone_cloud(), kube)
    assert run.returncode == 0, run.stderr
    no_empty_files(out)
    found = problems(out)
    assert found["kube:helm"]["kind"] == "unavailable"
    assert "Forbidden" in found["kube:helm"]["message"] and "needs list on secrets" in found["kube:helm"]["message"]
    assert found["kube:node-metrics"]["kind"] == "unavailable"
    assert "the server could not find the requested resource" in found["kube:node-metrics"]["message"]
    kube_files = sorted(path.name for path in (out / "kube").glob("*.json"))
    assert kube_files == ["events.json", "nodes.json", "pods.json"]  # no helm-secrets.json, no node-metrics.json
    assert (out / "logs" / "apiserver-requests.json").is_file()  # the steps after the failures still ran
    assert list((out / "kube" / "logs" / "kube-system").glob("*.log"))
    verdicts = findings(out)
    assert verdicts["helm-history"].status is Status.SKIPPED and "Forbidden" in verdicts["helm-history"].detail
    assert verdicts["konnectivity-agent"].status is not Status.ERROR
    assert verdicts["apiserver-load"].status is not Status.SKIPPED
    assert not any(f.status is Status.ERROR for f in verdicts.values())


def test_a_hub_the_identity_may_not_read_is_named_and_the_rest_exported(tmp_path: Path) -> None:
    cloud = landing_zone_cloud()
    cloud["forbidden_subscriptions"] = [CONNECTIVITY.split("/")[2]]
    run, out = export(tmp_path, cloud, kubernetes())
    assert run.returncode == 0, run.stderr
    no_empty_files(out)
    found = problems(out)
    assert list(found["unreadableReferences"]) == [HUB_VNET]  # what the loader reads, as --save-snapshot writes it
    assert found["unreadableReferences"][HUB_VNET].startswith("(AuthorizationFailed) The client")
    assert found["network"]["kind"] == "unavailable"
    assert "no Azure Firewall found at the default route's next hop 10.0.1.4" in found["network"]["message"]
    raw = read_cluster(out)
    assert all(CONNECTIVITY not in resource["id"] for resource in raw.network or [])
    assert {r["type"] for r in raw.network or []} == {
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/networkSecurityGroups",
        "Microsoft.Network/routeTables",
    }
    assert raw.kube and raw.logs  # Kubernetes and Log Analytics exported all the same
    egress = findings(out)["egress-rules"]
    assert egress.status is Status.WARN and "vnet-hub-corp-weu" in egress.detail, egress  # named, not dropped


def test_an_api_server_out_of_reach_leaves_no_kube_files_and_says_why(tmp_path: Path) -> None:
    kube = kubernetes()
    kube["reachable"] = False
    run, out = export(tmp_path, landing_zone_cloud(), kube)
    assert run.returncode == 0, run.stderr
    assert not (out / "kube").exists()
    found = problems(out)
    for source in ("kube:pods", "kube:nodes", "kube:node-metrics", "kube:events", "kube:helm", "kube:logs"):
        assert found[source]["kind"] == "unavailable"
        assert "not reachable from here: Unable to connect to the server" in found[source]["message"]
    verdicts = findings(out)
    assert verdicts["konnectivity-agent"].status is Status.SKIPPED
    assert "not reachable from here" in verdicts["konnectivity-agent"].detail


def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path) -> None:
    run = subprocess.run(
        ["bash", str(SCRIPT), "/subscriptions/x", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "error: '/subscriptions/x' is not an AKS cluster resource id"
    ]


def test_a_private_cluster_exports_its_private_dns_zone_and_the_zones_links(tmp_path: Path) -> None:
    sample = ROOT / "examples" / "estate" / "aks-core-private"
    cluster = json.loads((sample / "cluster.json").read_text())
    network = [
        item
        for path in sorted((sample / "network").glob("*.json"))
        for item in (lambda document: document if isinstance(document, list) else [document])(
            json.loads(path.read_text())
        )
    ]
    cloud = {"resources": [cluster, *network], "logs": [], "forbidden_subscriptions": []}
    bin_dir_run, out = export_cluster(tmp_path, cloud, kubernetes(), cluster["id"])
    assert bin_dir_run.returncode == 0, bin_dir_run.stderr
    raw = read_cluster(out)
    exported = sorted(resource["id"].lower() for resource in raw.network or [])
    assert exported == sorted(resource["id"].lower() for resource in network)  # the zone, both links, both VNets
    (out / "context.json").write_text((sample / "context.json").read_text())  # who must reach it: the operator says
    truth = evaluate_raw(read_cluster(sample), Settings.from_env({}))
    reach = {f.check: f for f in truth.findings}["private-cluster-reach"]
    assert findings(out)["private-cluster-reach"].status is reach.status is Status.PASS


def test_helm_releases_are_exported_as_names_and_labels_and_no_value_reaches_the_disk(tmp_path: Path) -> None:
    kube = kubernetes()
    payload = "SDRzSUFBQUFBQUFDLzZ4VlRXL2JPQkQ5Sw=="  # what every release Secret holds in the fake cluster
    applied = json.dumps({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}})  # kubectl apply's copy
    secrets = [obj for obj in kube["objects"] if obj["kind"] == "Secret"]
    assert secrets and all(obj["data"]["release"] == payload for obj in secrets)
    secrets[0]["metadata"] = {
        **secrets[0]["metadata"],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied},
    }
    run, out = export(tmp_path, landing_zone_cloud(), kube)
    assert run.returncode == 0, run.stderr
    calls = [json.loads(line) for line in (tmp_path / "kube.json.calls").read_text().splitlines()]
    listings = [call for call in calls if call[:1] == ["get"] and call[1] in ("secrets", "configmaps")]
    assert len(listings) == 2 and all(call[call.index("-o") + 1].startswith("custom-columns=") for call in listings)
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.name not in ("kube.json", "cloud.json")]
    assert not [path for path in written if payload in path.read_text(errors="replace")]
    assert not [path for path in written if "aHVudGVyMg" in path.read_text(errors="replace")]
    exported = json.loads((out / "kube" / "helm-secrets.json").read_text())
    assert exported["kind"] == "SecretList" and len(exported["items"]) == len(secrets)
    assert all(set(item) == {"apiVersion", "kind", "metadata"} for item in exported["items"])
    assert all(set(item["metadata"]) == {"namespace", "name", "labels"} for item in exported["items"])
    assert findings(out)["helm-history"].status is not Status.SKIPPED


# --- issue 26's shapes: what the checks read, exported ---------------------------------------------------------


def cloud_of(raw: RawCluster, **extra: Any) -> dict[str, Any]:
    return {"resources": [raw.cluster, *(raw.network or [])], "logs": [], "forbidden_subscriptions": [], **extra}


def test_a_virtual_wan_spoke_exports_its_hub_connections_routing_intent_and_firewall(tmp_path: Path) -> None:
    raw = estate.virtual_wan_cluster("aks-vwan-prod", 235)
    run, out = export_cluster(tmp_path, cloud_of(raw), kubernetes(), raw.cluster["id"])
    assert run.returncode == 0, run.stderr
    no_empty_files(out)
    types = {resource["type"].lower() for resource in read_cluster(out).network or []}
    assert {
        "microsoft.network/virtualhubs",
        "microsoft.network/virtualhubs/hubvirtualnetworkconnections",
        "microsoft.network/virtualhubs/routingintent",
        "microsoft.network/azurefirewalls",
        "microsoft.network/firewallpolicies/rulecollectiongroups",
    } <= types
    egress = findings(out)["egress-rules"]
    assert egress.status is Status.PASS, egress.detail
    assert "Virtual WAN hub vhub-weu's routing intent (Internet) -> Azure Firewall afw-vhub-weu" in str(egress.evidence)


def test_the_firewall_subnets_nat_gateway_and_route_table_are_exported(tmp_path: Path) -> None:
    shape = forced_tunnel(nat_on_firewall_subnet(hub_spoke("aks-natfw", 248), "198.51.100.92"))
    run, out = export_cluster(tmp_path, cloud_of(shape), kubernetes(), shape.cluster["id"])
    assert run.returncode == 0, run.stderr
    exported = findings(out)
    assert exported["egress-rules"].status is Status.WARN and "forced tunnelling" in exported["egress-rules"].detail
    assert exported["authorized-ip-ranges"].evidence["egressIps"] == ["198.51.100.92"]  # the NAT gateway's


def test_only_the_service_tags_the_nsgs_name_are_exported(tmp_path: Path) -> None:
    shape = nsg_to_azure_cloud_only("aks-tags", 250)
    tags = service_tags(SHAPES_SUB, {**WESTEUROPE_TAGS, "Storage": ["20.60.0.0/16"]})
    run, out = export_cluster(tmp_path, cloud_of(shape, service_tags=tags), kubernetes(), shape.cluster["id"])
    assert run.returncode == 0, run.stderr
    (exported,) = [r for r in read_cluster(out).network or [] if r["type"].lower() == "microsoft.network/servicetags"]
    assert [value["name"] for value in exported["values"]] == ["AzureCloud.westeurope"]
    assert findings(out)["egress-rules"].status is Status.WARN  # the FQDNs hang on the service-tag rule
