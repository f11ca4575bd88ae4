"""The change benchmark's premise: the routed clusters share one firewall whose AKS rule the change removes."""

from __future__ import annotations

from bench.changes import AKS_RULE, bench_estate


def test_the_affected_clusters_share_one_firewall_that_allows_aks_until_the_change() -> None:
    clusters, network, firewall = bench_estate(3)
    assert len(clusters) == 6 and len({c.name for c in clusters}) == 6
    firewalls = [r for r in network if r["type"] == "Microsoft.Network/azureFirewalls"]
    assert firewalls == [firewall]
    rules = firewall["properties"]["applicationRuleCollections"][0]["properties"]["rules"]
    assert rules[-1] == AKS_RULE
    routed = [
        c
        for c in clusters
        if (c.raw.cluster.get("properties") or c.raw.cluster)["networkProfile"]["outboundType"] == "userDefinedRouting"
    ]
    assert len(routed) == 3
