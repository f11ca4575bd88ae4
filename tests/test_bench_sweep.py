"""The estate-scale benchmark's own parts: the estate it builds, its lower bound, and one tiny end-to-end run
(the emulator in its own process, the sweep, the naive sample). Its speed targets are the benchmark's, not
asserted here."""

from __future__ import annotations

from bench import sweep as bench
from bench.sweep import Phase


def test_the_bench_estate_spreads_renamed_clusters_over_subscriptions_with_shared_hubs() -> None:
    clusters, network = bench.bench_estate(clusters=12, subscriptions=3)
    ids = {c.id.lower() for c in clusters}
    assert len(ids) == 12 and len({c.name for c in clusters}) == 12
    assert {c.id.split("/")[2] for c in clusters} == {bench.subscription_id(i) for i in range(3)}
    firewalls = [r for r in network if r["type"].lower() == "microsoft.network/azurefirewalls"]
    assert len(firewalls) == 3  # one hub firewall per subscription, shared by its routed clusters
    assert len({r["id"].lower() for r in network}) == len(network)
    assert [c.diagnostics for c in clusters].count(False) == 0  # every 25th has none; 12 has none of those


def test_the_lower_bound_is_the_slowest_service_under_its_throttling() -> None:
    sweep = Phase(seconds=0, requests={"arm": 0, "graph": 0, "logs": 0, "kube": 55_000}, throttled={})
    bound = bench.lower_bound(5000, 100, network_rows=15_200, latency=0.1, concurrency=32, sweep=sweep)
    assert bound["Resource Graph"] == 5.1  # 21 pages: 15 at once, then the window resets once
    assert bound["cluster workers"] == (55_000 + 2 * 5000) * 0.1 / 32
    one_subscription = bench.lower_bound(5000, 1, network_rows=15_200, latency=0.1, concurrency=32, sweep=sweep)
    assert one_subscription["ARM"] == (5000 - 200) / 10 + 0.1  # the write bucket (credentials are POSTs) binds


def test_a_tiny_run_prints_the_table(capsys) -> None:
    assert bench.main(["--clusters", "6", "--subscriptions", "2", "--latency-ms", "0", "--naive-sample", "2"]) == 0
    table = capsys.readouterr().out
    assert "6 / 2 (checked 6)" in table and "naive baseline" in table and "extrapolated from 2 clusters" in table
    assert "Kubernetes requests       66" in table  # 11 reads a cluster
