"""Fault injection on the local emulator, through the command line's live path (`run_live`) with the real SDK
clients: 429 storms with and without Retry-After, 5xx, hung and reset connections, malformed answers and an
unreachable API server. Whatever happens, every cluster of the scope is in the results with one finding per
check in registry order, and a fault costs only what it touches."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from checks.registry import CHECK_IDS, CHECKS
from collect.live import resource_graph, throttling
from collect.live.estate import Scope
from model.finding import ClusterResult, Status
from sweep.cli.live import run_live
from sweep.cli.main import main
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, EmulatedCluster, Fault, StaticToken
from tools import make_example_estate as estate

PODS = r"/k8s/aks-payments-prod/api/v1/namespaces/kube-system/pods$"


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureEmulator]:
    # The retry budget's shape, on a shorter clock: backoff from 10 ms, a quota window of 50 ms.
    monkeypatch.setattr(resource_graph, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(throttling, "QUOTA_WINDOW_SECONDS", 0.05)
    raws = [
        estate.healthy(),
        estate.legacy_tunnelfront_overloaded(),
        estate.helm_history(),
        estate.private_peered_hub(),
        estate.throttled_leaking_client(),
    ]
    network = {r["id"].lower(): r for raw in raws for r in raw.network or []}
    clusters = [EmulatedCluster(raw) for raw in raws]
    clusters[3].reachable = False  # one API server nobody can reach
    server = AzureEmulator(clusters, list(network.values()), page_size=2).start(tmp_path / "ca.pem")
    yield server
    server.stop()


def sweep(emulator: AzureEmulator, timeout: float = 5) -> dict[str, ClusterResult]:
    settings = replace(
        Settings.from_env({}),
        read_secrets=True,  # off by default; these sweeps judge Helm history too
        arm_endpoint=emulator.url,
        logs_endpoint=f"{emulator.url}/v1",
        request_timeout_seconds=timeout,
        probe_timeout_seconds=10,  # generous: a loaded machine must not turn a slow handshake into "unreachable"
        concurrency=3,
    )
    results = run_live(Scope(), {}, settings, StaticToken(), CHECKS, connection_verify=str(emulator.ca_path))
    by_name = {result.cluster.name: result for result in results}
    assert sorted(by_name) == sorted(emulator.by_name), "a cluster is missing from the results"
    for result in results:
        assert [finding.check for finding in result.findings] == list(CHECK_IDS), result.cluster.name
        assert not any(finding.title.endswith("evaluation failed") for finding in result.findings)
    return by_name


def statuses(result: ClusterResult) -> dict[str, Status]:
    return {finding.check: finding.status for finding in result.findings}


def judged(result: ClusterResult) -> dict[str, Status]:
    """The statuses that do not depend on timing: the probe times a handshake, slower on a loaded machine."""
    return {check: status for check, status in statuses(result).items() if check != "apiserver-probe"}


def kubeconfig_answer(text: str) -> str:
    return json.dumps({"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(text.encode()).decode()}]})


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([Fault("ResourceGraph", 429, times=6, retry_after=0.05)], id="graph-429-storm-retry-after"),
        pytest.param([Fault("ResourceGraph", 429, times=6)], id="graph-429-storm-without-retry-after"),
        pytest.param([Fault("ResourceGraph", 503, times=4)], id="graph-5xx"),
        pytest.param([Fault("ResourceGraph", 0, times=2, delay_seconds=6)], id="graph-hang"),
        pytest.param([Fault("ResourceGraph", 0, times=3, reset=True)], id="graph-reset"),
        pytest.param(
            [Fault("ResourceGraph", 200, times=2, body='{"data": 5, "count": "x"')], id="graph-malformed-page"
        ),
        pytest.param([Fault(r"GET .*/managedClusters/[^/]+/providers/", 429, times=8)], id="arm-429-storm"),
        pytest.param([Fault(r"listClusterUserCredential", 500, times=6, retry_after=0)], id="arm-5xx"),
        pytest.param([Fault(r"/v1/.*/query$", 0, times=3, reset=True)], id="logs-reset"),
    ],
)
def test_transient_faults_are_retried_and_every_cluster_is_judged_as_without_them(
    emulator: AzureEmulator, faults: list[Fault]
) -> None:
    clean = {name: judged(result) for name, result in sweep(emulator).items()}
    emulator.faults += faults
    faulty = {name: judged(result) for name, result in sweep(emulator, timeout=3).items()}
    assert all(fault.times == 0 for fault in faults), "the fault was not met"
    assert faulty == clean


def test_malformed_answers_cost_only_the_sources_they_answer_for(emulator: AzureEmulator) -> None:
    emulator.faults += [
        Fault(PODS, 200, times=50, body="[]"),  # a pod list answered with a JSON array
        Fault(
            r"/k8s/aks-storefront-prod/api/v1/namespaces/kube-system/pods$",
            200,
            times=50,
            body='{"kind": "PodList", "items": [{"spec": {}}]}',
        ),
        Fault(
            r"aks-legacy-batch/listClusterUserCredential$",
            200,
            times=50,
            body=kubeconfig_answer("- not\n- a mapping\n"),
        ),
        Fault(
            r"/k8s/aks-inventory-prod/api/v1/nodes$",
            200,
            times=50,
            body='{"kind": "NodeList", "items": [' + "[" * 20_000 + "]" * 20_000 + "]}",
        ),
    ]
    results = sweep(emulator)
    payments = statuses(results["aks-payments-prod"])
    assert payments["konnectivity-agent"] is Status.ERROR and payments["egress-rules"] is Status.PASS
    detail = next(f.detail for f in results["aks-payments-prod"].findings if f.check == "konnectivity-agent")
    assert "kube:pods" in detail and "malformed" in detail and "\n" not in detail
    storefront = results["aks-storefront-prod"]
    assert (
        statuses(storefront)["konnectivity-agent"] is Status.ERROR
        and statuses(storefront)["helm-history"] is Status.FAIL
    )
    legacy = next(f for f in results["aks-legacy-batch"].findings if f.check == "helm-history")
    assert legacy.status is Status.ERROR and "kubeconfig" in legacy.detail
    inventory = statuses(results["aks-inventory-prod"])
    assert inventory["apiserver-load"] is Status.FAIL  # audit rows still judged
    assert results["aks-payments-prod"].cluster.location == "westeurope"  # identity kept


def test_log_analytics_rows_that_do_not_match_their_columns_are_the_audit_checks_error(emulator: AzureEmulator) -> None:
    bad_table = {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": "userAgent", "type": "string"}],
                "rows": [["kubectl", "list", 3]],
            }
        ]
    }
    emulator.faults.append(Fault(r"/v1/.*/query$", 200, times=50, body=json.dumps(bad_table)))
    results = sweep(emulator)
    load = next(f for f in results["aks-inventory-prod"].findings if f.check == "apiserver-load")
    assert load.status is Status.ERROR and "Log Analytics query failed: malformed answer" in load.detail
    assert statuses(results["aks-storefront-prod"])["helm-history"] is Status.FAIL


def test_the_unreachable_api_server_is_judged_on_what_azure_says(emulator: AzureEmulator) -> None:
    core = sweep(emulator)["aks-core-private"]
    assert statuses(core)["apiserver-probe"] is Status.FAIL
    assert statuses(core)["private-cluster-reach"] in (Status.PASS, Status.FAIL, Status.WARN)


def test_discovery_that_keeps_failing_stops_with_one_line_after_its_budget(emulator: AzureEmulator) -> None:
    emulator.faults.append(Fault("ResourceGraph", 503, times=1_000))
    with pytest.raises(resource_graph.ResourceGraphError) as failed:
        sweep(emulator, timeout=1)
    assert str(failed.value).startswith(f"Resource Graph failed after {resource_graph.QUERY_RETRIES} retries")
    assert "\n" not in str(failed.value)
    assert emulator.count("ResourceGraph") == resource_graph.QUERY_RETRIES + 1


def test_the_command_line_says_a_failing_discovery_in_one_line(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", StaticToken)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_path))
    monkeypatch.setenv("AKS_REACH_ARM_ENDPOINT", emulator.url)
    monkeypatch.setenv("AKS_REACH_REQUEST_TIMEOUT_SECONDS", "1")
    emulator.faults.append(Fault("ResourceGraph", 0, times=1_000, reset=True))
    assert main(["--subscription", estate.SUB]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: Azure did not answer: Resource Graph failed after 6 retries")
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error


def test_secret_values_are_dropped_when_the_api_server_ignores_the_metadata_only_accept_header(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    secret = {
        "metadata": {
            "name": "sh.helm.release.v1.web-frontend.v1",
            "namespace": "web",
            "labels": {"owner": "helm", "name": "web-frontend", "version": "1"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"data": {"token": "c2VjcmV0LXRva2Vu"}}'
            },
        },
        "type": "helm.sh/release.v1",
        "data": {"release": "SDRzSUFBQUFBQUFBLytTOWE="},
        "stringData": {"password": "hunter2"},
    }
    full_list = json.dumps({"kind": "SecretList", "apiVersion": "v1", "items": [secret]})
    ignores_accept = Fault(r"/k8s/aks-storefront-prod/api/v1/secrets$", 200, times=50, body=full_list)
    emulator.faults.append(ignores_accept)
    settings = replace(
        Settings.from_env({}), read_secrets=True, arm_endpoint=emulator.url, logs_endpoint=f"{emulator.url}/v1"
    )
    saved = tmp_path / "saved"
    run_live(Scope(), {}, settings, StaticToken(), CHECKS, saved, connection_verify=str(emulator.ca_path))
    assert ignores_accept.times < 50  # the Secrets list came whole, values and all
    (folder,) = saved.glob("aks-storefront-prod-*")  # named <name>-<digest of its ARM id>
    written = "".join(path.read_text() for path in folder.rglob("*.json"))
    assert "sh.helm.release.v1.web-frontend.v1" in written
    assert "SDRzSUFB" not in written and "hunter2" not in written and "c2VjcmV0LXRva2Vu" not in written


def test_any_exception_in_one_clusters_collection_is_that_clusters_error_and_keeps_its_identity(
    emulator: AzureEmulator,
) -> None:
    emulator.by_name["aks-payments-prod"].raw.cluster["tags"] = ["owner=team-payments"]  # tags as a list
    results = sweep(emulator)
    payments = results["aks-payments-prod"]
    assert set(statuses(payments).values()) == {Status.ERROR}
    assert '"tags" should be an object' in payments.findings[0].detail
    assert (payments.cluster.subscription, payments.cluster.location) == (estate.SUB, "westeurope")
    assert statuses(results["aks-storefront-prod"])["helm-history"] is Status.FAIL  # the others go on
