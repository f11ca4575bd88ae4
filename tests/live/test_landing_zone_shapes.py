"""Issue 26's landing-zone shapes, live: the same ARM bodies served by the emulator (hubs and their firewalls,
policies and IP groups in the connectivity subscription; a secured Virtual WAN hub; a DNS Private Resolver; the
Service Tag Discovery API), collected by the real sweep and by the Function app's per-cluster path, and saved as a
snapshot: every path reaches the verdict the offline shape gets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from collect.live.clients import LiveClients
from collect.live.estate import CollectionFailure, Scope, collect_one, discover_clusters, sweep
from collect.raw import RawCluster
from collect.snapshot_folder import read_cluster, write_cluster
from model.finding import Finding, Status
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.landing_zone import (
    SHAPES_SUB,
    forced_tunnel,
    hub_deleted,
    hub_spoke,
    nat_on_firewall_subnet,
    nsg_to_azure_cloud_only,
    service_tags,
    without,
)
from tests.emulator.server import AzureEmulator, EmulatedCluster
from tools import make_example_estate as estate

CHECKS = ("egress-rules", "alpn-tls", "authorized-ip-ranges", "private-cluster-reach")


def shapes() -> dict[str, tuple[RawCluster, RawCluster, dict[str, Status]]]:
    """name -> (the shape as served, as a saved snapshot of an identity that cannot read all of it, its verdicts).
    What the snapshot names unreadable, the emulator answers with 403."""
    built = {
        "aks-dns-off": (
            hub_spoke("aks-dns-off", 243, dns_servers=[estate.FIREWALL_IP]),
            "",
            {"egress-rules": Status.FAIL},
        ),
        "aks-orphan": (hub_deleted(hub_spoke("aks-orphan", 244)), "", {"egress-rules": Status.FAIL}),
        "aks-hidden": (hub_spoke("aks-hidden", 245), "virtualNetworks", {"egress-rules": Status.PASS}),
        "aks-ipg": (hub_spoke("aks-ipg", 246), "ipGroups", {"egress-rules": Status.WARN}),
        "aks-natfw": (
            nat_on_firewall_subnet(hub_spoke("aks-natfw", 248, firewall_public_ip="198.51.100.91"), "198.51.100.92"),
            "",
            {"authorized-ip-ranges": Status.FAIL},
        ),
        "aks-tunnel": (
            forced_tunnel(hub_spoke("aks-tunnel", 249)),
            "",
            {"egress-rules": Status.WARN, "alpn-tls": Status.WARN},
        ),
        "aks-ops-private": (
            estate.resolver_hub_private_cluster("aks-ops-private", 234),
            "",
            {"private-cluster-reach": Status.PASS},
        ),
        "aks-tags": (nsg_to_azure_cloud_only("aks-tags", 250), "", {"egress-rules": Status.WARN}),
        "aks-vwan-prod": (estate.virtual_wan_cluster("aks-vwan-prod", 251), "", {"egress-rules": Status.PASS}),
    }
    return {name: (raw, without(raw, kind) if kind else raw, expected) for name, (raw, kind, expected) in built.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AzureEmulator, dict]]:
    built = shapes()
    network = {r["id"].lower(): r for raw, _, _ in built.values() for r in raw.network or ()}  # shared bodies once
    clusters = [EmulatedCluster(replace(raw, network=None, context={})) for raw, _, _ in built.values()]
    server = AzureEmulator(clusters, list(network.values()))
    server.service_tags = service_tags(SHAPES_SUB)
    server.denied_scopes += [resource for _, offline, _ in built.values() for resource in offline.unread_references]
    server.start(tmp_path_factory.mktemp("ca") / "ca.pem")
    yield server, built
    server.stop()


def findings(raw: RawCluster) -> dict[str, Finding]:
    return {f.check: f for f in evaluate_raw(raw, Settings.from_env({})).findings}


def swept(clients: LiveClients, built: dict) -> dict[str, RawCluster]:
    scope = Scope(subscriptions=(SHAPES_SUB, estate.WORKLOAD_SUB))
    contexts = {name: raw.context for name, (raw, _, _) in built.items()}
    collected = []
    for name, context in contexts.items():  # each shape declares its own clients
        rows = [row for row in discover_clusters(clients, scope) if row["name"] == name]
        collected += list(sweep(clients, rows, context, concurrency=2, probe_timeout=1))
    assert not [c for c in collected if isinstance(c, CollectionFailure)]
    return {raw.cluster["name"]: raw for raw in collected}


def test_every_shape_gets_its_verdict_live_per_cluster_and_from_its_saved_snapshot(served, tmp_path: Path) -> None:
    server, built = served
    clients = server.live_clients(retries=1)
    live = swept(clients, built)
    for name, (raw, snapshot, expected) in built.items():
        offline = findings(snapshot)
        swept_findings = findings(live[name])
        one = collect_one(clients, raw.cluster["id"], raw.context, 1, "aks-reach-clients")
        assert isinstance(one, RawCluster)
        write_cluster(live[name], tmp_path / name)
        saved = findings(read_cluster(tmp_path / name))
        for check, status in expected.items():
            assert offline[check].status is status, (name, check, offline[check].detail)
            assert swept_findings[check].status is status, (name, check, swept_findings[check].detail)
            assert findings(one)[check].status is status, (name, check)
            assert saved[check].status is status, (name, check)


def test_the_saved_snapshot_holds_what_the_checks_read(served) -> None:
    server, built = served
    live = swept(server.live_clients(retries=1), built)
    types = {r["type"] for r in live["aks-vwan-prod"].network or ()}
    assert {
        "Microsoft.Network/virtualHubs",
        "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
        "Microsoft.Network/virtualHubs/routingIntent",
        "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
    } <= types
    (tags,) = [r for r in live["aks-tags"].network or () if r["type"] == "Microsoft.Network/serviceTags"]
    assert [value["name"] for value in tags["values"]] == ["AzureCloud.westeurope"]  # cut to what the NSG names
    natfw = {r["type"] for r in live["aks-natfw"].network or ()}
    assert "Microsoft.Network/natGateways" in natfw
    assert set(built["aks-ipg"][1].unread_references) <= set(live["aks-ipg"].unread_references)
