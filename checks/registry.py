"""The checks, in the order every report lists them. Adding a check: one module, one line here."""

from __future__ import annotations

from checks import (
    alpn_tls,
    apiserver_load,
    apiserver_probe,
    authorized_ip_ranges,
    egress_rules,
    helm_history,
    konnectivity_agent,
    kubelet_port,
    private_cluster_reach,
)
from checks.check import Check

CHECKS: tuple[Check, ...] = (
    konnectivity_agent.CHECK,
    egress_rules.CHECK,
    alpn_tls.CHECK,
    authorized_ip_ranges.CHECK,
    apiserver_load.CHECK,
    helm_history.CHECK,
    kubelet_port.CHECK,
    private_cluster_reach.CHECK,
    apiserver_probe.CHECK,
)

CHECK_IDS: tuple[str, ...] = tuple(check.id for check in CHECKS)


def select(ids: list[str] | None) -> tuple[Check, ...]:
    """The checks named (in registry order), or all; unknown ids raise ValueError."""
    if not ids:
        return CHECKS
    unknown = sorted(set(ids) - set(CHECK_IDS))
    if unknown:
        raise ValueError(f"unknown check id(s): {', '.join(unknown)}; known: {', '.join(CHECK_IDS)}")
    return tuple(check for check in CHECKS if check.id in ids)
