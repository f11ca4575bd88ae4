"""The estate-scale benchmark's own parts: the estate it builds, its lower bound, and one tiny end-to-end run
(the emulator in its own process, the sweep, the naive sample). Its speed targets are the benchmark's, not
asserted here."""

from __future__ import annotations

from bench import sweep as bench


def test_the_bench_estate_spreads_renamed_clusters_over_subscriptions_with_shared_hubs() -> None:
    clusters, network = bench.bench_estate(clusters=12, subscriptions=3)
    ids = {c.id.lower() for c in clusters}
    assert len(ids) == 12 and len({c.name for c in clusters}) == 12
    assert {c.id.split("/")[2] for c in clusters} == {bench.subscription_id(i) for i in range(3)}
    firewalls = [r for r in network if r["type"].lower() == "microsoft.network/azurefirewalls"]
    assert len(firewalls) == 3  # one hub firewall per subscription, shared by its routed clusters
    assert len({r["id"].lower() for r in network}) == len(network)
    assert [c.diagnostics for c in clusters].count(False) == 0  # every 25th has none; 12 has none of those


def test_the_lower_bound_is_the_largest_of_rates_critical_path_and_cpu() -> None:
    bound = bench.lower_bound(5000, 100, network_rows=15_200, latency=0.1, cpu_per_cluster=0.02, cores=2)
    assert bound["Resource Graph"] == 5.1  # 21 pages: 15 at once, then the window resets once
    assert bound["critical path"] == (5 + 3) * 0.1  # five discovery pages, then credentials, pods, logs
    assert bound["CPU"] == 0.02 * 5000 / 2
    one_subscription = bench.lower_bound(1000, 1, network_rows=3_000, latency=0.1, cpu_per_cluster=0.0, cores=2)
    assert one_subscription["ARM"] == (1000 - 200) / 10 + 0.1  # the write bucket (credentials are POSTs) binds
    shared = bench.lower_bound(10_000, 100, network_rows=0, latency=2.0, cpu_per_cluster=0.0, workspaces=100)
    assert shared["Log Analytics"] == 20 * 2.0  # 100 workspace queries, 5 at once


def test_a_tiny_run_prints_the_table(capsys) -> None:
    assert bench.main(["--clusters", "6", "--subscriptions", "2", "--latency-ms", "0", "--naive-sample", "4"]) == 0
    table = capsys.readouterr().out
    assert "6 / 2 (checked 6)" in table and "extrapolated from 4 clusters" in table  # the fan-out baseline
    assert "extrapolated from 1 clusters" in table  # the sequential one, on a quarter
    # 10 reads a cluster: tunnel pods by two selectors and the kube-proxy sample, the tunnel pods' two nodes and
    # their metrics by name, kube-system Warning events, and the two tunnel pods' logs (each its node's probe)
    assert "Kubernetes requests       60" in table
