"""apiserver-probe: the symptom itself, DNS + TCP + TLS (with ALPN) to the API server from the checker.

fail: the probe reported an error. warn: TCP connect or TLS handshake above slow_ms. pass otherwise.
skipped without a probe. A live run measures a probe again, alone, when the first measure (taken amid the
sweep's own concurrent collection) was above slow_ms or timed out (sweep/core/probe_timing.py), so the timings
judged here are the path's, not the checker's load.
Follows https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tcp-timeouts-kubetctl-third-party-tools-connect-api-server
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.check import Check, Verdict
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot, Source

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/"
    "tcp-timeouts-kubetctl-third-party-tools-connect-api-server"
)


@dataclass(frozen=True)
class Limits:
    slow_ms: float = 1000.0
    """TCP connect or TLS handshake time above which the probe warns; a probe above it (or timed out) amid a
    live sweep is measured again alone, after the concurrent collection, and the fastest of three lone probes
    decides (the first measure stays in probes.json as `underLoad`)"""


def evaluate(snapshot: ClusterSnapshot, limits: Limits) -> Verdict:
    probe = snapshot.apiserver_probe
    assert probe is not None  # required source
    evidence = {
        "target": probe.target,
        "addresses": list(probe.addresses),
        "tcpMs": probe.tcp_ms,
        "tlsMs": probe.tls_ms,
        "alpn": probe.alpn,
        "error": probe.error,
        "underLoad": {"tcpMs": probe.under_load_ms[0], "tlsMs": probe.under_load_ms[1]}
        if probe.under_load_ms
        else None,
    }
    cluster = snapshot.cluster
    if probe.error:
        hint = _hint(probe.error, cluster.is_private)
        return Verdict(
            Status.FAIL,
            f"API server {probe.target} unreachable from the checker: {probe.error}",
            f"The probe from the checker failed with {probe.error!r}; {probe.target} resolved to {', '.join(probe.addresses) or 'nothing'}. {hint}",
            f"From the same network: nslookup {probe.target}; curl -v https://{probe.target}/healthz; "
            f"az aks show -g {cluster.resource_group} -n {cluster.name} --query apiServerAccessProfile",
            evidence,
        )
    slow = [
        f"{what} {ms:.0f} ms"
        for what, ms in (("TCP connect", probe.tcp_ms), ("TLS handshake", probe.tls_ms))
        if ms is not None and ms > limits.slow_ms
    ]
    if slow:
        return Verdict(
            Status.WARN,
            f"API server {probe.target} answers slowly: {', '.join(slow)}",
            f"Above {limits.slow_ms:.0f} ms: an overloaded API server, a saturated firewall/NVA or a long path.",
            "Check apiserver-load findings and the path's appliance; az aks update --tier standard for more API server capacity",
            evidence,
        )
    timings = f"TCP {probe.tcp_ms or 0:.0f} ms, TLS {probe.tls_ms or 0:.0f} ms, ALPN {probe.alpn or 'none'}"
    remeasured = ""
    if probe.under_load_ms:
        tcp, tls = probe.under_load_ms
        first = "timed out" if tcp is None and tls is None else f"TCP {tcp or 0:.0f} ms, TLS {tls or 0:.0f} ms"
        remeasured = f" Measured again alone after the sweep: amid its load the first probe took {first}."
    return Verdict(
        Status.PASS,
        f"API server {probe.target} reachable ({timings})",
        f"Addresses: {', '.join(probe.addresses)}.{remeasured}",
        "",
        evidence,
    )


def _hint(error: str, private: bool) -> str:
    lowered = error.lower()
    if lowered.startswith("dns"):
        return (
            "The name does not resolve here: for a private cluster, link the privatelink DNS zone to this VNet."
            if private
            else "The public name does not resolve: check the DNS forwarders of this network."
        )
    if "timeout" in lowered:
        return "TCP timed out: authorized IP ranges, an NSG or a firewall drops the traffic, or no route (private cluster without peering)."
    if "refused" in lowered:
        return "Connection refused: a proxy or appliance on the path rejects it."
    return "See the other findings for the cause on the path."


CHECK = Check(
    id="apiserver-probe",
    title="API server reachability probe",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
    requires=(Source.APISERVER_PROBE,),
    limits=Limits,
)
