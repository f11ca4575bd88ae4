"""Live collection with the real SDK clients (Resource Graph, Container Service, Network, Logs, kubernetes)
against the local HTTPS emulator: discovery paging and scope, every collector, faults, the unreachable
cluster, metadata-only Helm secrets, and the save -> offline round trip."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from hypothesis import given
from hypothesis import strategies as st

from checks.registry import CHECKS
from collect.live import estate as estate_module
from collect.live.clients import LiveClients
from collect.live.estate import (
    ClusterNotFound,
    CollectionFailure,
    Scope,
    collect_one,
    discover_clusters,
    full_row,
    inventory_chunks,
    slim_row,
    sweep,
)
from collect.live.network import BulkNetworkIndex
from collect.raw import RawCluster
from collect.snapshot_folder import read_cluster, write_cluster
from model.finding import Status
from model.snapshot import Source
from sweep.cli.live import run_live, snapshot_folder_name
from sweep.cli.main import evaluate_snapshot
from sweep.core.evaluate import evaluate_raw
from sweep.core.probe_timing import settle_probe
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, EmulatedCluster, Fault, StaticToken
from tools import make_example_estate as estate

OTHER_SUB = "9d8c7b6a-0000-4000-8000-00000000beef"


def moved(raw: RawCluster, subscription: str) -> RawCluster:
    other = copy.deepcopy(raw)
    other.cluster["id"] = (
        other.cluster["id"].replace(estate.SUB, subscription).replace("aks-payments-prod", "aks-payments-dr")
    )
    other.cluster["name"] = "aks-payments-dr"
    return other


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[AzureEmulator]:
    raws = {
        "healthy": estate.healthy(),
        "legacy": estate.legacy_tunnelfront_overloaded(),
        "ledger": estate.udr_classic_firewall_missing_rule(),
        "helm": estate.helm_history(),
        "search": estate.nsg_denies_kubelet(),
        "core": estate.private_peered_hub(),
        "inventory": estate.throttled_leaking_client(),
    }
    network = {r["id"].lower(): r for raw in raws.values() for r in raw.network or []}
    clusters = [EmulatedCluster(raw) for raw in raws.values()] + [EmulatedCluster(moved(raws["healthy"], OTHER_SUB))]
    clusters[4].kubelet_timeouts = {"aks-system-40867632-vmss000001"}
    clusters[5].reachable = False
    clusters[1].diagnostics = False
    server = AzureEmulator(clusters, list(network.values()), page_size=3).start(tmp_path / "ca.pem")
    yield server
    server.stop()


@pytest.fixture
def clients(emulator: AzureEmulator) -> LiveClients:
    return emulator.live_clients(read_secrets=True)  # off by default; these tests judge Helm history too


def run(clients: LiveClients, scope: Scope | None = None) -> dict[str, RawCluster]:
    collected = list(
        sweep(
            clients,
            discover_clusters(clients, scope or Scope()),
            {"clients": [{"name": "platform-ci", "ips": [estate.CI_RUNNERS]}]},
            concurrency=4,
            probe_timeout=2,
        )
    )
    assert not [c for c in collected if isinstance(c, CollectionFailure)]
    return {raw.cluster["name"]: raw for raw in collected}


def findings(raw: RawCluster) -> dict[str, object]:
    return {f.check: f for f in evaluate_raw(raw, Settings.from_env({})).findings}


def test_slim_rows_keep_id_and_location_and_sweep_to_the_same_clusters_as_whole_rows(emulator, clients) -> None:
    discovered = discover_clusters(clients, Scope())
    slim = discover_clusters(clients, Scope(), slim=True)
    assert slim == [slim_row(row) for row in discovered]
    assert [(row["id"], row["location"]) for row in slim] == [(row["id"], row.get("location")) for row in discovered]
    assert [full_row(row) for row in slim] == discovered
    assert full_row(discovered[0]) is discovered[0]  # a whole row is used as it is

    def swept(rows: list[dict[str, object]]) -> dict[str, object]:
        collected = sweep(clients, rows, {}, concurrency=4, probe_timeout=2)
        return {raw.cluster["id"]: (raw.cluster, raw.network) for raw in collected}

    whole = swept(discovered)
    assert swept(slim) == whole and len(whole) == 8


def test_discovery_pages_through_every_cluster_and_scopes_subscriptions(emulator, clients) -> None:
    everything = discover_clusters(clients, Scope())
    assert len(everything) == 8 and emulator.count("ResourceGraph") == 3  # 8 rows at 3 a page
    only_other = discover_clusters(clients, Scope(subscriptions=(OTHER_SUB,)))
    assert [c["name"] for c in only_other] == ["aks-payments-dr"]
    named = discover_clusters(clients, Scope(cluster_ids=(everything[0]["id"],)))
    assert named[0]["id"].lower() == everything[0]["id"].lower() and "properties" in named[0]


def test_a_live_sweep_finds_what_the_snapshots_show(emulator, clients) -> None:
    raws = run(clients)
    assert len(raws) == 8
    assert findings(raws["aks-payments-prod"])["egress-rules"].status is Status.PASS
    ledger = findings(raws["aks-ledger-prod"])["egress-rules"]
    assert (
        ledger.status is Status.FAIL and "fw-hub-classic" in ledger.detail
    )  # firewall found from the route's next hop
    assert findings(raws["aks-storefront-prod"])["helm-history"].status is Status.FAIL
    assert findings(raws["aks-legacy-batch"])["konnectivity-agent"].status is Status.FAIL
    private = findings(raws["aks-core-private"])["private-cluster-reach"]  # the CI runner declared for all is public
    assert private.status is Status.FAIL and "platform-ci (203.0.113.0/28) is on no Azure VNet" in private.detail
    probe = raws["aks-payments-prod"].probes["apiserver"]
    assert probe["error"] is None and probe["alpn"] == "h2" and probe["tlsMs"] is not None
    assert (
        emulator.count(r"ruleCollectionGroups") == 0 and emulator.count(r"managedClusters/[^/]+$") == 0
    )  # bulk reads only


def test_kubelet_probe_goes_through_the_api_server(emulator, clients) -> None:
    search = run(clients)["aks-search-prod"]
    failed = [p for p in search.probes["kubelet"] if not p["ok"]]
    assert [p["node"] for p in failed] == ["aks-system-40867632-vmss000001"] and "10250: i/o timeout" in failed[0][
        "error"
    ]
    assert findings(search)["kubelet-port"].status is Status.FAIL


def test_helm_secrets_are_metadata_only(emulator, clients) -> None:
    helm = run(clients)["aks-storefront-prod"]
    listing = next(d for d in helm.kube if d["kind"] == "PartialObjectMetadataList")
    assert len(listing["items"]) == 338 and '"data"' not in json.dumps(helm.kube)


def test_unreachable_api_server_still_gets_nine_findings(emulator, clients) -> None:
    core = run(clients)["aks-core-private"]
    assert core.probes["apiserver"]["error"] == "refused"
    result = findings(core)
    assert len(result) == 9 and result["apiserver-probe"].status is Status.FAIL
    assert (
        result["konnectivity-agent"].status is Status.SKIPPED
        and "not reachable from the checker: refused" in result["konnectivity-agent"].detail
    )
    assert result["private-cluster-reach"].status is Status.FAIL  # network checks still judge


def test_no_diagnostic_setting_skips_the_audit_check_with_how_to_enable_it(emulator, clients) -> None:
    legacy = findings(run(clients)["aks-legacy-batch"])["apiserver-load"]
    assert legacy.status is Status.SKIPPED and "az monitor diagnostic-settings create" in legacy.remediation
    assert findings(run(clients)["aks-inventory-prod"])["apiserver-load"].status is Status.FAIL


def test_throttling_and_server_errors_are_retried(emulator, clients) -> None:
    emulator.faults += [
        Fault("ResourceGraph", 429, times=2, retry_after=0),
        Fault("listClusterUserCredential", 503, times=1),
    ]
    assert len(run(clients)) == 8
    assert emulator.count("ResourceGraph") >= 2 + 3 + 3  # two throttled, then clusters and network pages


def test_a_cluster_whose_credentials_keep_failing_is_that_clusters_error(emulator, clients) -> None:
    emulator.faults.append(Fault("aks-helm|aks-storefront-prod/listClusterUserCredential", 500, times=50))
    raws = run(clients)
    helm = findings(raws["aks-storefront-prod"])
    assert helm["helm-history"].status is Status.ERROR and "cluster user credentials" in helm["helm-history"].detail
    assert findings(raws["aks-search-prod"])["helm-history"].status is not Status.ERROR


def test_save_then_offline_gives_the_same_findings(emulator, clients, tmp_path: Path) -> None:
    for name, raw in run(clients).items():
        write_cluster(raw, tmp_path / name)
        offline = evaluate_raw(read_cluster(tmp_path / name), Settings.from_env({}))
        live = evaluate_raw(raw, Settings.from_env({}))
        assert offline.findings == live.findings, name


def test_the_command_lines_live_run_saves_a_snapshot_that_evaluates_the_same(emulator, tmp_path: Path) -> None:
    emulator.by_name["aks-payments-prod"].raw.cluster["tags"]["aks-reach-clients"] = "198.51.100.7"
    declared = Settings.from_env({"AKS_REACH_CLIENTS": '[{"name": "vpn", "ips": ["192.0.2.0/25"]}]'})
    settings = replace(declared, arm_endpoint=emulator.url, logs_endpoint=f"{emulator.url}/v1", concurrency=3)
    saved = tmp_path / "snapshot"
    scope = Scope(subscriptions=(estate.SUB,))
    live = run_live(scope, {}, settings, StaticToken(), CHECKS, saved, connection_verify=str(emulator.ca_path))
    assert [r.cluster.name for r in live] == sorted(r.cluster.name for r in live) and len(live) == 7
    payments_id = emulator.by_name["aks-payments-prod"].id
    folders = sorted(path.name for path in saved.iterdir())
    assert folders == sorted(snapshot_folder_name(r.cluster.id) for r in live)  # one each, however named
    payments = json.loads((saved / snapshot_folder_name(payments_id) / "context.json").read_text())
    assert payments["clients"] == [
        {"name": "vpn", "ips": ["192.0.2.0/25"]},
        {"name": "tag:aks-reach-clients", "ips": ["198.51.100.7"]},
    ]
    ranges = next(
        f
        for r in live
        if r.cluster.name == "aks-payments-prod"
        for f in r.findings
        if f.check == "authorized-ip-ranges"
    )
    assert ranges.status is Status.FAIL and "client vpn 192.0.2.0/25" in ranges.detail
    offline, unreadable = evaluate_snapshot(saved, CHECKS, settings)
    assert unreadable == 0
    assert {r.cluster.id: r.findings for r in offline} == {r.cluster.id: r.findings for r in live}


def test_saved_folders_are_unique_per_cluster_id_and_one_safe_path_segment() -> None:
    payments = (
        "/subscriptions/{}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-payments"
    )
    one, other = payments.format(estate.SUB), payments.format("8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d")
    assert snapshot_folder_name(one) != snapshot_folder_name(other)  # the same name in two subscriptions
    assert snapshot_folder_name(one) == snapshot_folder_name(one.upper())  # ARM ids ignore case
    assert re.fullmatch(r"aks-payments-[0-9a-f]{12}", snapshot_folder_name(one))
    for hostile in ("../../etc", "..", "a/b\\c", "\x00x", ""):
        name = snapshot_folder_name(f"/subscriptions/x/resourceGroups/g/providers/p/managedClusters/{hostile}")
        assert "/" not in name and "\\" not in name and not name.startswith(".") and "\x00" not in name


def test_resource_graph_quota_headers_pace_the_queries(emulator, clients) -> None:
    emulator.page_size, emulator.graph_quota, emulator.graph_window_seconds = 1, 3, 1.0
    assert len(discover_clusters(clients, Scope())) == 8  # 8 pages at 3 queries a second
    assert emulator.graph_throttled <= 1  # paced by x-ms-user-quota-remaining, not by hitting 429s


def test_a_resource_graph_429_without_retry_after_waits_for_the_quota_reset(emulator, clients) -> None:
    quota_only = {"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:00.300"}
    emulator.faults.append(Fault("ResourceGraph", 429, times=2, headers=quota_only))  # no Retry-After
    assert len(discover_clusters(clients, Scope())) == 8
    assert emulator.count("ResourceGraph") == 2 + 3


def test_slow_and_malformed_answers_are_that_clusters_errors(emulator, tmp_path: Path) -> None:
    # a slow answer takes 4 s; 1.5 s leaves a loaded test machine room to answer the others in time
    impatient = emulator.live_clients(timeout_seconds=1.5, retries=1)
    emulator.faults += [
        Fault("aks-storefront-prod/listClusterUserCredential", 0, times=10, delay_seconds=4.0),
        Fault("aks-search-prod/listClusterUserCredential", 200, times=10, body="<html>proxy error</html>"),
        Fault("/k8s/aks-payments-prod/api/v1/nodes", 200, times=10, body="{truncated"),
    ]
    raws = run(impatient)
    storefront = findings(raws["aks-storefront-prod"])["helm-history"]
    assert storefront.status is Status.ERROR and "cluster user credentials" in storefront.detail
    assert findings(raws["aks-search-prod"])["konnectivity-agent"].status is Status.ERROR
    payments = raws["aks-payments-prod"]
    assert "malformed JSON" in payments.problems[Source.NODES].message
    assert findings(payments)["konnectivity-agent"].status is Status.PASS  # pods still read; node load not judged
    assert findings(raws["aks-legacy-batch"])["konnectivity-agent"].status is Status.FAIL  # others unaffected


# --- scale: throttling models of the emulator, per-workspace audit rows, per-cluster ARM reads -----------


def test_arm_reads_spend_a_token_bucket_per_subscription_and_answer_429_with_retry_after(emulator) -> None:
    emulator.arm_reads = (2.0, 1.0)  # two tokens, one more a second
    strict = LiveClients(StaticToken(), arm_endpoint=emulator.url, retries=0, connection_verify=str(emulator.ca_path))
    payments = emulator.by_name["aks-payments-prod"].id
    for _ in range(2):
        strict.arm.get(payments)
    with pytest.raises(HttpResponseError) as throttled:
        strict.arm.get(payments)
    assert throttled.value.status_code == 429 and throttled.value.response.headers["Retry-After"] == "1"
    assert throttled.value.response.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    other = strict.arm.get(emulator.by_name["aks-payments-dr"].id)
    assert other["name"] == "aks-payments-dr"  # another subscription has its own bucket
    assert emulator.throttled["arm"] == 1


def test_arm_429s_are_waited_out_by_the_collectors(emulator, clients) -> None:
    emulator.arm_writes = (3.0, 5.0)  # listClusterUserCredential is a POST: a write
    assert len(run(clients)) == 8
    assert emulator.throttled["arm"] >= 1


def test_log_analytics_limits_queries_per_window_and_at_once(emulator) -> None:
    strict = LiveClients(
        StaticToken(), logs_endpoint=f"{emulator.url}/v1", retries=0, connection_verify=str(emulator.ca_path)
    )
    cluster_id = emulator.by_name["aks-payments-prod"].id
    emulator.logs_quota = 2
    for _ in range(2):
        strict.logs.query_resource(cluster_id, "AKSAudit", timespan=timedelta(hours=1))
    with pytest.raises(HttpResponseError) as throttled:
        strict.logs.query_resource(cluster_id, "AKSAudit", timespan=timedelta(hours=1))
    assert throttled.value.status_code == 429 and int(throttled.value.response.headers["Retry-After"]) >= 1
    emulator.logs_quota, emulator.logs_concurrency, emulator.latency_seconds = 200, 1, 0.3
    emulator._logs_window.clear()
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda _: _status(lambda: strict.logs.query_resource(cluster_id, "x", timespan=timedelta(hours=1))),
                range(2),
            )
        )
    assert sorted(answers) == [200, 429]  # the second query running at once is refused


def _status(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except HttpResponseError as exc:
        return exc.status_code or 0
    return 200


def test_a_sweep_queries_each_workspace_once_and_none_for_clusters_without_audit_logs(emulator, clients) -> None:
    raws = run(clients)
    assert emulator.count(r"^POST /v1/.*/workspaces/[^/]+/query$") == 2  # one workspace per subscription
    assert emulator.count(r"managedClusters/[^/]+/query$") == 0
    assert findings(raws["aks-inventory-prod"])["apiserver-load"].status is Status.FAIL
    assert "_ResourceId" not in raws["aks-inventory-prod"].logs["apiserver-requests"][0]
    legacy = findings(raws["aks-legacy-batch"])["apiserver-load"]
    assert legacy.status is Status.SKIPPED and "diagnostic setting" in legacy.detail


def test_an_unreadable_workspace_falls_back_to_per_cluster_queries(emulator, clients) -> None:
    emulator.faults.append(Fault(r"/workspaces/[^/]+/query$", 403, times=10))
    raws = run(clients)
    assert emulator.count(r"managedClusters/[^/]+/query$") == 7  # every cluster that sends audit logs
    assert findings(raws["aks-inventory-prod"])["apiserver-load"].status is Status.FAIL


def test_a_sweep_keeps_only_a_bounded_number_of_clusters_in_flight(emulator, clients) -> None:
    stream = sweep(clients, discover_clusters(clients, Scope()), {}, concurrency=1, probe_timeout=2)
    first = next(stream)
    assert isinstance(first, RawCluster)
    assert emulator.count("listClusterUserCredential") <= 3  # not all eight started at once
    assert len([first, *stream]) == 8


def test_collect_one_reads_only_what_the_cluster_references_and_finds_what_the_sweep_finds(emulator, clients) -> None:
    context = {"clients": [{"name": "platform-ci", "ips": [estate.CI_RUNNERS]}]}
    swept = run(clients)
    settings = Settings.from_env({})
    for raw in swept.values():  # as the CLI sweep does once its concurrent collection is over
        settle_probe(raw, settings)
    emulator.requests.clear()
    for name in ("aks-ledger-prod", "aks-core-private", "aks-payments-prod", "aks-search-prod"):
        one = collect_one(clients, emulator.by_name[name].id, context, 2, "aks-reach-clients")
        assert isinstance(one, RawCluster)
        settle_probe(one, settings)  # as the Function app's worker does
        # the probe's text holds measured milliseconds; the audit query's scope is the cluster here and
        # the workspace in the sweep, at another hour: those two compare by status
        scoped = ("apiserver-probe", "apiserver-load")
        assert {k: f for k, f in findings(one).items() if k not in scoped} == {
            k: f for k, f in findings(swept[name]).items() if k not in scoped
        }, name
        # a probe timed slow amid the sweep was measured again alone, so both runs judge the path, not the load
        assert {k: findings(one)[k].status for k in scoped} == {k: findings(swept[name])[k].status for k in scoped}
    assert emulator.count("ResourceGraph") == 0
    assert emulator.count(r"GET .*/azureFirewalls$") == 0  # no listing: the next hop is resolved by reference
    assert emulator.count(r"GET .*/azureFirewalls/fw-hub-classic$") == 1  # hub VNet -> subnet -> ipconfig -> firewall
    assert emulator.count(r"virtualNetworkLinks$") == 1  # the private zone's links, listed by ARM
    ledger = {
        r["type"].lower() for r in collect_one(clients, emulator.by_name["aks-ledger-prod"].id, context, 2, "t").network
    }
    assert {"microsoft.network/routetables", "microsoft.network/azurefirewalls"} <= ledger
    with pytest.raises(ClusterNotFound, match="no such cluster"):
        collect_one(clients, emulator.by_name["aks-ledger-prod"].id + "-gone", context, 2, "t")


def test_an_empty_audit_answer_is_skipped_naming_the_workspace_and_window(emulator, clients, tmp_path) -> None:
    raws = run(clients)
    quiet = raws["aks-ledger-prod"]  # sends kube-audit to its subscription's workspace, which holds no row of it
    workspace = emulator.by_name["aks-ledger-prod"].audit_workspace
    scope = quiet.log_scopes["apiserver-requests"]
    assert scope["scope"] == workspace and scope["windowMinutes"] == 60
    assert scope["start"] < scope["end"] and scope["end"].endswith("Z")
    finding = findings(quiet)["apiserver-load"]
    assert finding.status is Status.SKIPPED
    assert f"Log Analytics scope {workspace}, {scope['start']} to {scope['end']}" in finding.detail
    write_cluster(quiet, tmp_path / "ledger")
    assert (tmp_path / "ledger" / "logs" / "apiserver-requests.scope.json").is_file()
    offline = findings(read_cluster(tmp_path / "ledger"))["apiserver-load"]
    assert offline == finding  # the saved snapshot says the same: which workspace, which hour


def test_a_subscription_short_of_arm_tokens_is_paced_at_its_refill_not_failed(emulator, clients) -> None:
    """The credential POSTs of one subscription's clusters against a tiny write bucket: the clients pace
    themselves on `x-ms-ratelimit-remaining-subscription-writes`, so no cluster ends with a 429 error."""
    emulator.arm_writes = (2.0, 10.0)  # two tokens, then the documented refill of 10 a second
    strict = replace(clients, retries=1)  # one retry only: pacing, not retrying, must absorb the shortage
    raws = run(strict)
    assert len(raws) == 8 and not [
        (name, source)
        for name, raw in raws.items()
        for source, problem in raw.problems.items()
        if "429" in problem.message
    ]
    assert emulator.throttled["arm"] <= 4  # only requests sent before the first answer said the bucket ran low


def test_a_malformed_body_in_the_inventory_is_named_and_costs_only_the_clusters_that_reference_it(emulator) -> None:
    """Resource Graph answers one resource nested past the loader's bounds: the others are kept, and that one
    reads as unreadable with why, as a 403 would, instead of failing every cluster's network walk."""
    raw = estate.healthy()
    good, bad = (copy.deepcopy(resource) for resource in raw.network[:2])
    nested: dict[str, object] = {}
    for _ in range(70):
        nested = {"deeper": nested}
    bad["properties"] = {**bad.get("properties", {}), "tags": nested}
    inventory = BulkNetworkIndex(iter([good, bad]), emulator.live_clients())
    assert inventory.get(good["id"]) == good
    assert inventory.get(bad["id"]) is None
    assert (inventory.why_unreadable(bad["id"]) or "").startswith("malformed answer: nested deeper than 64 levels")
    assert emulator.count("") == 0  # nothing read again through ARM


def test_the_inventory_is_read_in_chunks_and_a_cluster_waits_only_for_the_chunks_it_looks_in(
    emulator, clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One chunk a subscription. Resource Graph holds its answer for the second chunk until every cluster is
    done: each walk waits only for the chunk of the subscription it looks in (aks-payments-dr's VNet and hub
    are in the first), never for the whole estate's pages."""
    monkeypatch.setattr(estate_module, "INVENTORY_CHUNK_CLUSTERS", 1)
    discovered = discover_clusters(clients, Scope())
    assert inventory_chunks(discovered) == [[estate.SUB], [OTHER_SUB]]
    emulator.page_size = 1000  # one page a chunk
    before = emulator.count("ResourceGraph")
    second = Fault("ResourceGraph", 0, times=1, hold=threading.Event())
    emulator.faults += [Fault("ResourceGraph", 0, times=1), second]
    names = []
    for collected in sweep(clients, discovered, {}, concurrency=8, probe_timeout=2):
        assert isinstance(collected, RawCluster) and Source.NETWORK not in collected.problems
        names.append(collected.cluster["name"])
        if len(names) == len(discovered):
            assert second.hold is not None
            second.hold.set()  # every cluster is done: the second chunk may answer now
    assert len(names) == 8 and not second.held_too_long
    assert emulator.count("ResourceGraph") - before == 2


def test_a_chunk_resource_graph_cannot_read_is_the_network_error_of_the_clusters_that_look_in_it(
    emulator, clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cluster's network (aks-payments-dr's too) is in the first subscription: the second chunk failing
    costs none of them, the first failing costs all their network checks and nothing else."""
    monkeypatch.setattr(estate_module, "INVENTORY_CHUNK_CLUSTERS", 1)
    discovered = discover_clusters(clients, Scope())
    emulator.page_size = 1000  # one page a chunk

    def swept() -> dict[str, RawCluster]:
        raws = {raw.cluster["name"]: raw for raw in sweep(clients, discovered, {}, concurrency=4, probe_timeout=2)}
        assert len(raws) == 8
        return raws

    emulator.faults += [Fault("ResourceGraph", 0, times=1), Fault("ResourceGraph", 400, times=1)]
    assert not [name for name, raw in swept().items() if Source.NETWORK in raw.problems]
    emulator.faults.append(Fault("ResourceGraph", 400, times=1))
    before = emulator.count("ResourceGraph")
    raws = swept()
    assert emulator.count("ResourceGraph") - before == 2  # the second chunk is still read
    assert all(
        "network resources: Resource Graph failed" in raw.problems[Source.NETWORK].message for raw in raws.values()
    )
    assert findings(raws["aks-payments-dr"])["egress-rules"].status is Status.ERROR
    assert findings(raws["aks-legacy-batch"])["konnectivity-agent"].status is Status.FAIL  # its other checks judged


@given(st.lists(st.sampled_from(["a", "B", "c", "d", "E", "f"]), max_size=60), st.integers(min_value=1, max_value=8))
def test_inventory_chunks_cover_each_subscription_once_in_sweep_order_at_about_the_chunk_size(
    subscriptions: list[str], size: int
) -> None:
    clusters = [
        {"id": f"/subscriptions/{sub}/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c{i}"}
        for i, sub in enumerate(sorted(subscriptions, key=str.lower))
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(estate_module, "INVENTORY_CHUNK_CLUSTERS", size)
        chunks = inventory_chunks(clusters)
    order = list(dict.fromkeys(sub.lower() for sub in sorted(subscriptions, key=str.lower)))
    assert [sub for chunk in chunks for sub in chunk] == order
    counts = {sub: sum(1 for s in subscriptions if s.lower() == sub) for sub in order}
    for chunk in chunks[:-1]:  # each chunk but the last holds enough, and was closed as soon as it did
        assert sum(counts[sub] for sub in chunk) >= size > sum(counts[sub] for sub in chunk[:-1])
