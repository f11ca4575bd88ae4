"""A 600-cluster live sweep against the local emulator with the command line's defaults (192 clusters at once):
no connection is discarded for want of room in a pool, every cluster is reported, and the progress display
gives a heartbeat. (Speed is measured by bench/sweep.py, not asserted here.)"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bench.sweep import bench_estate
from checks.registry import CHECKS
from collect.live.estate import Scope
from sweep.cli.console import Progress
from sweep.cli.live import run_live
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, StaticToken

CLUSTERS, SUBSCRIPTIONS = 600, 12


def test_a_600_cluster_sweep_keeps_its_connections_and_shows_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clusters, network = bench_estate(CLUSTERS, SUBSCRIPTIONS)
    emulator = AzureEmulator(clusters, network)
    emulator.latency_seconds = 0.02  # answers take time, as Azure's do: threads hold their connections meanwhile
    emulator.start(tmp_path / "ca.pem")
    settings = replace(Settings.from_env({}), arm_endpoint=emulator.url, logs_endpoint=f"{emulator.url}/v1")
    assert settings.concurrency == 160  # the default a user gets
    heartbeat = io.StringIO()
    caplog.set_level(logging.WARNING)
    try:
        results = run_live(
            Scope(),
            {},
            settings,
            StaticToken(),
            CHECKS,
            connection_verify=str(emulator.ca_path),
            on_progress=Progress(heartbeat, terminal=False, interval=2.0),
        )
    finally:
        emulator.stop()
    discarded = [record.getMessage() for record in caplog.records if "Connection pool is full" in record.getMessage()]
    assert discarded == []
    assert len(results) == CLUSTERS and all(len(result.findings) == len(CHECKS) for result in results)
    lines = heartbeat.getvalue().splitlines()
    assert lines[-1].startswith(f"collected {CLUSTERS}/{CLUSTERS} clusters (100%)")
    assert all(line.startswith("collected ") for line in lines)
