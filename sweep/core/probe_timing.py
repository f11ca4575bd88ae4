"""A slow API server probe is measured again apart from the sweep's load before it may warn.

A live sweep collects many clusters at once on a few cores: a TCP connect or TLS handshake timed amid that
work measures the checker as much as the path (a connect to 127.0.0.1 was once timed at 1,008 ms with 32
clusters in flight). So a probe above `AKS_REACH_APISERVER_PROBE_SLOW_MS`, or one that timed out, is probed
again: in the CLI sweep
after the concurrent collection is over, one cluster at a time; in the Function app's per-cluster path at
once, never two re-measures together. Two identical runs then give identical verdicts.
"""

from __future__ import annotations

from collect.live.probes import remeasure_apiserver
from collect.raw import RawCluster
from sweep.core.settings import Settings

TIMED = ("tcpMs", "tlsMs")
TIMEOUT = "timeout"  # collect/live/probes.py's error for a connect or handshake past the probe timeout


def probe_is_slow(raw: RawCluster, settings: Settings) -> bool:
    """A timing above the check's threshold, or a timeout (the slowest probe of all; under the sweep's load
    the checker itself can miss the deadline). Other errors (refused, DNS, TLS) are answers, not timings."""
    probe = (raw.probes or {}).get("apiserver")
    if not isinstance(probe, dict):
        return False
    if probe.get("error"):
        return probe["error"] == TIMEOUT
    slow_ms = settings.limits["apiserver-probe"].slow_ms
    return any(isinstance(probe.get(key), int | float) and probe[key] > slow_ms for key in TIMED)


def settle_probe(raw: RawCluster, settings: Settings) -> None:
    """Re-measure a slow probe (alone in the process); a fast one is kept as measured."""
    if probe_is_slow(raw, settings):
        remeasure_apiserver(raw, settings.probe_timeout_seconds)
