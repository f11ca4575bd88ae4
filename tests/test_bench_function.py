"""The Function-app benchmark end to end on a tiny estate: the real timer and two instance processes over
Azurite and the emulator check every cluster once, the last one closes the sweep, its summary counts them
all, and the instances report their rates (what the README's figures are computed from)."""

from __future__ import annotations

import argparse

import pytest

from bench import fanout, function_sweep
from checks.registry import CHECK_IDS

pytestmark = pytest.mark.azurite


def test_a_tiny_sweep_is_checked_closed_and_summarised() -> None:
    args = argparse.Namespace(
        clusters=12,
        subscriptions=3,
        workspaces=2,
        instances=2,
        latency_ms=5.0,
        logs_latency_ms=50.0,
        sample=0,
        own_core=False,
    )
    run = function_sweep.run_once(args)
    assert run["enqueued"] == run["checked"] == 12 and run["checked twice"] == 0
    assert run["sweep closed"] and [s["clusters"] for s in run["summaries"]] == ["12"]
    assert run["finding events"] == 12 * len(CHECK_IDS)
    assert run["audit error clusters"] == 0 and run["requests"]["logs"] == 2  # one query per workspace
    assert sum(i["clusters"] for i in run["per instance"].values()) == 12
    plan = function_sweep.on_paper(run, instances=20)
    assert plan["measured rate"] > 0 and plan["sweep s"] >= run["timer s"]
    assert "closed and finished" in function_sweep.table(run)


def test_the_fanout_bench_enqueues_and_records_every_cluster_and_prints_its_bound() -> None:
    args = argparse.Namespace(clusters=40, subscriptions=4, workspaces=3, latency_ms=5.0, logs_latency_ms=50.0)
    run = fanout.run_once(args)
    assert run["enqueued"] == run["on the queue"] == run["pending rows"] == 40 and run["unsent"] == 0
    assert run["workspace queries"] == run["requests"]["logs"] == 3  # one query per workspace
    assert run["requests"]["arm"] == 40  # each cluster's diagnostic settings, read once
    assert run["discovered s"] <= run["recorded s"] <= run["sent s"] <= run["wall s"]
    assert run["queried s"] <= run["sent s"] and run["cpu ms a cluster"] > 0
    assert "40 clusters (the bound, 60 s, is for 10,000 clusters)" in fanout.table(run)
    assert "3 queries, 5 at once" in fanout.table(run)
    assert fanout.verdict({**run, "clusters": 10_000, "wall s": 59.9}) == "bound 60 s: met"
    assert fanout.verdict({**run, "clusters": 10_000, "wall s": 60.1}) == "bound 60 s: NOT met"
