"""A landing zone, live: hubs (firewalls at the same 10.0.1.4, policies with their parent, IP groups, private DNS
zone) in a connectivity subscription outside the sweep's scope, spokes in two workload subscriptions. Real SDK
clients against the emulator; the sweep, the Function app's per-cluster path and a saved snapshot agree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from collect.live.clients import LiveClients
from collect.live.estate import CollectionFailure, Scope, collect_one, discover_clusters, sweep
from collect.raw import RawCluster
from collect.snapshot_folder import read_cluster, write_cluster
from model.finding import Finding, Status
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.landing_zone import CONNECTIVITY_SUB, NONPROD_SUB, PROD_SUB, ZONE, LandingZone, landing_zone
from tests.emulator.server import AzureEmulator, EmulatedCluster
from tools import make_example_estate as estate

SCOPE = Scope(subscriptions=(PROD_SUB, NONPROD_SUB))


@pytest.fixture
def zone() -> LandingZone:
    return landing_zone()


@pytest.fixture
def emulator(zone: LandingZone, tmp_path: Path) -> Iterator[AzureEmulator]:
    server = AzureEmulator(zone.clusters, zone.network).start(tmp_path / "ca.pem")
    yield server
    server.stop()


@pytest.fixture
def clients(emulator: AzureEmulator) -> LiveClients:
    return emulator.live_clients(retries=1)


def swept(clients: LiveClients, zone: LandingZone) -> dict[str, RawCluster]:
    collected = list(sweep(clients, discover_clusters(clients, SCOPE), zone.context, concurrency=2, probe_timeout=2))
    assert not [c for c in collected if isinstance(c, CollectionFailure)]
    return {raw.cluster["name"]: raw for raw in collected}


def findings(raw: RawCluster) -> dict[str, Finding]:
    return {f.check: f for f in evaluate_raw(raw, Settings.from_env({})).findings}


def test_each_spoke_is_judged_against_its_own_hub_in_the_connectivity_subscription(emulator, clients, zone) -> None:
    raws = swept(clients, zone)
    prod = findings(raws["aks-orders-prod"])["egress-rules"]
    assert prod.status is Status.PASS, prod.detail
    assert "Azure Firewall afw-hub-prod-weu" in prod.evidence["subnets"]["snet-aks-nodes"]["path"]
    dev = findings(raws["aks-orders-dev"])["egress-rules"]  # outboundType loadBalancer, routed to the hub
    assert dev.status is Status.FAIL and "no rule of Azure Firewall afw-hub-nonprod-weu allows it" in dev.detail
    assert f"--subscription {CONNECTIVITY_SUB} -g rg-firewall-policies --policy-name afwp-hub-nonprod-weu" in (
        dev.remediation
    )
    # The hubs, outside the swept subscriptions, were followed by ARM id: each read once for the sweep.
    assert emulator.count(rf"GET /subscriptions/{CONNECTIVITY_SUB}/.*/virtualNetworks/vnet-hub-prod-weu$") == 1
    assert emulator.count(r"GET .*/azureFirewalls$") == 0  # no listing by IP anywhere
    prod_types = {r["type"].lower().rsplit("/", 1)[-1] for r in raws["aks-orders-prod"].network}
    assert {"firewallpolicies", "rulecollectiongroups", "ipgroups", "privatednszones", "virtualnetworklinks"} <= (
        prod_types
    )
    assert len({r["id"] for r in raws["aks-orders-prod"].network if "afwp-platform-base" in r["id"]}) == 2


def test_a_saved_landing_zone_snapshot_evaluates_like_the_live_run(emulator, clients, zone, tmp_path: Path) -> None:
    for name, raw in swept(clients, zone).items():
        write_cluster(raw, tmp_path / name)
        offline, live = findings(read_cluster(tmp_path / name)), findings(raw)
        assert {k: f for k, f in offline.items() if k != "apiserver-probe"} == {
            k: f for k, f in live.items() if k != "apiserver-probe"
        }, name
        saved = [json.loads(path.read_text()) for path in (tmp_path / name / "network").glob("*.json")]
        firewalls = {
            r["name"] for resources in saved for r in resources if r["type"].lower().endswith("/azurefirewalls")
        }
        assert firewalls == {"afw-hub-prod-weu" if name.endswith("prod") else "afw-hub-nonprod-weu"}, name


def test_the_private_dns_zone_in_the_connectivity_subscription_is_verified(emulator, clients, zone) -> None:
    reach = findings(swept(clients, zone)["aks-orders-prod"])["private-cluster-reach"]
    assert reach.status is Status.FAIL
    assert "vnet-hub-prod-weu is not linked to private DNS zone privatelink.westeurope.azmk8s.io" in reach.detail
    assert f"-g {ZONE.split('/')[4]}" in reach.remediation


def test_the_function_apps_per_cluster_path_agrees_with_the_sweep(emulator, clients, zone) -> None:
    raws = swept(clients, zone)
    for raw in raws.values():
        one = collect_one(clients, raw.cluster["id"], zone.context, 2, "aks-reach-clients")
        assert isinstance(one, RawCluster)
        for check in ("egress-rules", "private-cluster-reach", "authorized-ip-ranges"):
            assert findings(one)[check] == findings(raw)[check], check


def test_without_reader_on_the_connectivity_subscription_every_unread_hub_is_named(
    emulator, clients, zone, tmp_path: Path
) -> None:
    emulator.denied_scopes.append(f"/subscriptions/{CONNECTIVITY_SUB}")
    raws = swept(clients, zone)
    for name, hub in (("aks-orders-prod", zone.prod_hub), ("aks-orders-dev", zone.nonprod_hub)):
        egress = findings(raws[name])["egress-rules"]
        assert egress.status is Status.WARN
        assert f"{hub.rsplit('/', 1)[-1]} could not be read (403 AuthorizationFailed" in egress.detail
        assert hub in raws[name].unread_references
        write_cluster(raws[name], tmp_path / name)
        saved = json.loads((tmp_path / name / "problems.json").read_text())
        assert saved["unreadableReferences"][hub].startswith("403 AuthorizationFailed")
        offline = findings(read_cluster(tmp_path / name))
        assert offline["egress-rules"] == egress
    assert raws["aks-orders-prod"].unread_references[ZONE].startswith("403")  # the private DNS zone, named too
    reach = findings(raws["aks-orders-prod"])["private-cluster-reach"]
    assert (
        reach.status is Status.WARN
        and "private DNS zone privatelink.westeurope.azmk8s.io could not be read (403" in (reach.detail)
    )


def test_an_unreadable_parent_policy_is_named_not_skipped(emulator, clients, zone) -> None:
    emulator.denied_scopes.append(estate.BASE_POLICY)  # the platform's base policy, parent of both hub policies
    raws = swept(clients, zone)
    for name in ("aks-orders-prod", "aks-orders-dev"):
        egress = findings(raws[name])["egress-rules"]
        assert egress.status is Status.WARN
        assert "policy afwp-platform-base whose rule collection groups could not be read (403" in egress.detail


def test_a_hub_shared_by_many_spokes_is_read_once_per_sweep(tmp_path: Path) -> None:
    spokes = [estate.Spoke(f"aks-team{index}", 243 + index, subscription=PROD_SUB) for index in range(6)]
    hub_id, hub_resources = estate.landing_zone_hub(
        "shared", spokes, aks_rules=True, firewall_public_ip="198.51.100.90"
    )
    network = [resource for spoke in spokes for resource in estate.landing_zone_spoke(spoke, hub_id)]
    clusters = [
        EmulatedCluster(
            RawCluster(cluster=estate.landing_zone_cluster(spoke, "team", "198.51.100.90"), kube=spoke.kube())
        )
        for spoke in spokes
    ]
    server = AzureEmulator(clusters, [*network, *hub_resources, *estate.platform_base_policy()]).start(
        tmp_path / "ca.pem"
    )
    try:
        clients = server.live_clients()
        clusters = discover_clusters(clients, Scope(subscriptions=(PROD_SUB,)))
        collected = list(sweep(clients, clusters, {}, concurrency=4, probe_timeout=2))
        verdicts = {raw.cluster["name"]: findings(raw)["egress-rules"].status for raw in collected}
        assert verdicts == {spoke.name: Status.PASS for spoke in spokes}
        for shared in (
            r"virtualNetworks/vnet-hub-shared-weu",
            r"azureFirewalls/afw-hub-shared-weu",
            "afwp-hub-shared-weu/ruleCollectionGroups",
        ):
            assert server.count(rf"GET .*/{shared}$") == 1, shared
    finally:
        server.stop()


def test_a_hub_subnet_without_its_ip_configuration_list_still_names_its_firewall(zone, tmp_path: Path) -> None:
    for resource in zone.network:  # as a body that leaves out the subnets' read-only ipConfigurations
        for subnet in (resource.get("properties") or {}).get("subnets") or []:
            (subnet.get("properties") or subnet).pop("ipConfigurations", None)
    server = AzureEmulator(zone.clusters, zone.network).start(tmp_path / "ca.pem")
    try:
        raws = swept(server.live_clients(), zone)
        assert findings(raws["aks-orders-prod"])["egress-rules"].status is Status.PASS
        dev = findings(raws["aks-orders-dev"])["egress-rules"]
        assert dev.status is Status.FAIL and "afw-hub-nonprod-weu" in dev.detail
        assert server.count(r"GET .*/rg-hub-nonprod-weu/providers/Microsoft.Network/azureFirewalls$") == 1
    finally:
        server.stop()
