"""The Function-app benchmark end to end on a tiny estate: the real timer and two instance processes over
Azurite and the emulator check every cluster once, the last one closes the sweep, its summary counts them
all, and the instances report their rates (what the README's figures are computed from)."""

from __future__ import annotations

import argparse

import pytest

from bench import function_sweep
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
