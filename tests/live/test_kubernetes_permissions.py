"""Kubernetes reads under the roles Azure documents, against the emulator's AKS authorizer: a 403 on one
resource skips only the checks needing it, naming the permission; the custom role of infra/ reads
everything; AKS_REACH_READ_SECRETS=false never lists Secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from collect.live.estate import collect_one
from collect.raw import RawCluster
from model.finding import Finding, Status
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.server import AKS_RBAC_READER_DATA_ACTIONS, AzureEmulator, EmulatedCluster
from tests.infra.templates import INFRA
from tools import make_example_estate as estate

CUSTOM_ROLES = json.loads((INFRA / "roles" / "kubernetes-reader.json").read_text())
# What the identity holds on a cluster listed in clusterIds (kube-system, nodes), and with readSecrets=true.
WITHOUT_SECRETS = tuple(CUSTOM_ROLES["kubeSystem"]["dataActions"] + CUSTOM_ROLES["nodes"]["dataActions"])
WITH_SECRETS = WITHOUT_SECRETS + tuple(CUSTOM_ROLES["secrets"]["dataActions"])


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[AzureEmulator]:
    raw = estate.helm_history()
    server = AzureEmulator([EmulatedCluster(raw)], list(raw.network or [])).start(tmp_path / "ca.pem")
    yield server
    server.stop()


def collect(emulator: AzureEmulator, data_actions: tuple[str, ...] | None, read_secrets: bool = True) -> RawCluster:
    cluster = emulator.by_name["aks-storefront-prod"]
    cluster.data_actions = data_actions
    clients = emulator.live_clients(retries=1, read_secrets=read_secrets)
    raw = collect_one(clients, cluster.id, {}, 2, "aks-reach-clients")
    assert isinstance(raw, RawCluster)
    return raw


def findings(raw: RawCluster) -> dict[str, Finding]:
    return {f.check: f for f in evaluate_raw(raw, Settings.from_env({})).findings}


def test_with_the_built_in_rbac_reader_only_secrets_and_nodes_are_missing(emulator) -> None:
    raw = collect(emulator, AKS_RBAC_READER_DATA_ACTIONS)
    result = findings(raw)
    helm = result["helm-history"]
    assert helm.status is Status.SKIPPED
    assert "403 Forbidden: the checker's identity lacks `list` on `secrets`" in helm.detail
    assert "Microsoft.ContainerService/managedClusters/secrets/read" in helm.detail
    assert emulator.count(r"GET /k8s/[^/]+/api/v1/secrets$") == 1
    # pods, their logs, node metrics and events are allowed: the checks reading them still judge
    assert result["konnectivity-agent"].status is not Status.SKIPPED
    assert "nodes not collected" in result["konnectivity-agent"].detail
    assert raw.problems.keys() == {"kube:nodes", "kube:helm"}
    assert "lacks `get` on `nodes`" in raw.problems["kube:nodes"].message
    assert result["kubelet-port"].status is Status.PASS
    assert not [f for f in result.values() if f.status is Status.ERROR]


def test_the_custom_role_of_infra_reads_everything_the_checks_need(emulator) -> None:
    everything = findings(collect(emulator, None))
    with_role = findings(collect(emulator, WITH_SECRETS))
    assert with_role["helm-history"].status is Status.FAIL  # the storefront keeps too many revisions
    timed = ("apiserver-probe", "apiserver-load")
    assert {k: f for k, f in with_role.items() if k not in timed} == {
        k: f for k, f in everything.items() if k not in timed
    }


def test_leaving_secrets_out_never_lists_them_and_says_why(emulator) -> None:
    raw = collect(emulator, WITHOUT_SECRETS, read_secrets=False)
    helm = findings(raw)["helm-history"]
    assert helm.status is Status.SKIPPED and "left out by AKS_REACH_READ_SECRETS=false" in helm.detail
    assert "`list` on `secrets`" in helm.detail and "also allows reading their values" in helm.detail
    assert emulator.count("secrets") == 0
