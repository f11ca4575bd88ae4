"""The HTML report benchmark's own parts: the estate it renders and a tiny run in Chromium (its speed bound
is the benchmark's, printed by `make bench-html`, not asserted here)."""

from __future__ import annotations

from bench import html_report as bench


def test_the_bench_estate_spreads_renamed_clusters_over_subscriptions_and_owners_with_mutes() -> None:
    results = bench.bench_results(120)
    assert len({r.cluster.id for r in results}) == len({r.cluster.name for r in results}) == 120
    assert len({r.cluster.subscription for r in results}) == 20 and len({r.owners for r in results}) == 120
    assert sum(1 for r in results if any(f.muted for f in r.findings)) == 3  # every 50th cluster


def test_a_tiny_run_prints_the_table(capsys) -> None:
    assert bench.main(["--clusters", "12"]) == 0
    table = capsys.readouterr().out
    assert "longest task" in table and "of 12 clusters shown" in table
