"""A slow API server probe is measured again apart from the sweep's load before it warns (sweep/core/probe_timing.py):
with handshakes slowed while a 32-at-once sweep collects (as a loaded checker times them), two identical runs
give identical verdicts, and a probe recorded as slow is re-measured alone."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bench.sweep import bench_estate
from checks.registry import CHECKS
from collect.live.estate import Scope, collect_one
from collect.live.probes import REMEASURES
from collect.raw import RawCluster
from model.finding import Status
from sweep.cli.live import run_live
from sweep.core.evaluate import evaluate_raw
from sweep.core.probe_timing import probe_is_slow, settle_probe
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, StaticToken

SLOW_MS = 1000.0  # the default: a lone loopback handshake is far below it, one queued behind a loaded sweep is not


def settings_for(emulator: AzureEmulator) -> Settings:
    tuned = Settings.from_env({"AKS_REACH_APISERVER_PROBE_SLOW_MS": str(SLOW_MS)})
    return replace(tuned, arm_endpoint=emulator.url, logs_endpoint=f"{emulator.url}/v1")


class SlowHandshakes:
    """While the concurrent collection runs, every third TLS handshake with the emulator takes 1.2 s, as probes
    timed amid a big sweep on a small checker do; from its last cluster on (the re-measures), none is slowed."""

    def __init__(self, emulator: AzureEmulator) -> None:
        self._emulator = emulator

    def __enter__(self) -> SlowHandshakes:
        self._emulator.slow_handshakes = (3, 1.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def progress(self, done: int, total: int) -> None:
        if done == total:  # the concurrent collection is over: the re-measures run at the path's own pace
            self.stop()

    def stop(self) -> None:
        self._emulator.slow_handshakes = (0, 0.0)


def test_a_probe_timed_slow_is_measured_again_and_the_alone_measure_decides(tmp_path: Path) -> None:
    clusters, network = bench_estate(1, 1)
    emulator = AzureEmulator(clusters, network).start(tmp_path / "ca.pem")
    try:
        settings = settings_for(emulator)
        raw = collect_one(emulator.live_clients(), clusters[0].id, {}, 5, "aks-reach-clients")
        assert isinstance(raw, RawCluster) and raw.probe_endpoint is not None
        raw.probes["apiserver"] = {**raw.probes["apiserver"], "tcpMs": 1008.0}  # as timed amid 32 clusters
        assert probe_is_slow(raw, settings)
        connections, requests = emulator.connections, emulator.count("")
        settle_probe(raw, settings)
    finally:
        emulator.stop()  # its accept loop has counted every connection once it stopped
    # the re-measure dialled the API server again (TLS handshakes, no HTTP request): it is not recomputed
    assert emulator.connections - connections == REMEASURES and emulator.count("") == requests
    probe = raw.probes["apiserver"]
    assert probe["underLoad"]["tcpMs"] == 1008.0 and probe["tcpMs"] < SLOW_MS and probe["error"] is None
    assert not probe_is_slow(raw, settings)
    finding = next(f for f in evaluate_raw(raw, settings).findings if f.check == "apiserver-probe")
    assert finding.status is Status.PASS and finding.evidence["underLoad"]["tcpMs"] == 1008.0
    assert "Measured again alone after the sweep: amid its load the first probe took TCP 1008 ms" in finding.detail
    refused = {**probe, "error": "refused", "tcpMs": None, "tlsMs": None}
    assert not probe_is_slow(replace(raw, probes={"apiserver": refused}), settings)  # an answer, not a timing
    assert probe_is_slow(replace(raw, probes={"apiserver": {**refused, "error": "timeout"}}), settings)


def test_identical_sweeps_under_load_give_identical_verdicts(tmp_path: Path) -> None:
    clusters, network = bench_estate(64, 2)
    emulator = AzureEmulator(clusters, network).start(tmp_path / "ca.pem")
    settings = replace(settings_for(emulator), concurrency=32)
    runs = []
    try:
        for attempt in range(2):
            saved = tmp_path / f"run-{attempt}"
            with SlowHandshakes(emulator) as load:
                results = run_live(
                    Scope(), {}, settings, StaticToken(), CHECKS, saved, str(emulator.ca_path), load.progress
                )
            probes = {p.parent.name: json.loads(p.read_text())["apiserver"] for p in saved.glob("*/probes.json")}
            verdicts = {r.cluster.name: f.status for r in results for f in r.findings if f.check == "apiserver-probe"}
            runs.append((verdicts, probes))
    finally:
        emulator.stop()
    (first, probes_1), (second, probes_2) = runs
    differing = {
        name: (first.get(name), second.get(name), probes_1.get(name), probes_2.get(name))
        for name in first.keys() | second.keys()
        if first.get(name) is not Status.PASS or second.get(name) is not Status.PASS
    }
    assert not differing and len(first) == len(second) == 64, differing  # the probes say why, if it ever fails
    for probes in (probes_1, probes_2):
        remeasured = [p for p in probes.values() if "underLoad" in p]
        assert remeasured, "the load made no probe slow: the test proves nothing"
        # only probes timed above the threshold amid the sweep were measured again, and alone they are fast
        assert all(
            p["underLoad"]["tlsMs"] is None or max(p["underLoad"]["tcpMs"] or 0, p["underLoad"]["tlsMs"]) > SLOW_MS
            for p in remeasured
        )  # timed out (no handshake time) or slow
        assert all(max(p["tcpMs"], p["tlsMs"]) <= SLOW_MS for p in probes.values())
    slowest = max(
        max(p["underLoad"]["tcpMs"] or 0, p["underLoad"]["tlsMs"] or 0)
        for p in [*probes_1.values(), *probes_2.values()]
        if "underLoad" in p
    )
    counts = [sum("underLoad" in p for p in probes.values()) for probes in (probes_1, probes_2)]
    print(f"re-measured alone: {counts[0]} and {counts[1]} of 64 probes; slowest under load {slowest:.0f} ms")
