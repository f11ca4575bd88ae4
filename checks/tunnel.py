"""Which kube-system pods are the API server tunnel (shared by the checks that read them)."""

from __future__ import annotations

from collections.abc import Mapping

from model.snapshot import ClusterSnapshot, Pod

TUNNEL_PREFIXES = ("konnectivity-agent-", "tunnelfront-", "aks-link-")
LEGACY_PREFIXES = ("tunnelfront-", "aks-link-")
# A cluster-proportional autoscaler that AKS runs beside the agents: never a tunnel pod.
AUTOSCALER_PREFIX = "konnectivity-agent-autoscaler-"
LOG_LINE_CHARS = 200  # a log line quoted in a finding, shortened at a word boundary


def is_tunnel_pod(pod: Pod) -> bool:
    if pod.namespace != "kube-system" or pod.name.startswith(AUTOSCALER_PREFIX):
        return False
    return pod.labels.get("app") == "konnectivity-agent" or pod.name.startswith(TUNNEL_PREFIXES)


def tunnel_pods(snapshot: ClusterSnapshot) -> list[Pod]:
    return [pod for pod in snapshot.pods or () if is_tunnel_pod(pod)]


def legacy_tunnels(snapshot: ClusterSnapshot) -> set[str]:
    """The legacy tunnel components running ("tunnelfront", "aks-link"): each needs its own egress port
    (tunnelfront TCP 9000, aks-link UDP 1194; tunnel-connectivity-issues, cause 4)."""
    return {
        prefix.rstrip("-") for pod in tunnel_pods(snapshot) for prefix in LEGACY_PREFIXES if pod.name.startswith(prefix)
    }


def tunnel_logs(snapshot: ClusterSnapshot) -> Mapping[str, str]:
    """Log tails of tunnel pods ("kube-system/<pod>" -> text)."""
    return {
        name: text
        for name, text in (snapshot.pod_logs or {}).items()
        if name.startswith("kube-system/")
        and name.split("/", 1)[1].startswith(TUNNEL_PREFIXES)
        and not name.split("/", 1)[1].startswith(AUTOSCALER_PREFIX)
    }
