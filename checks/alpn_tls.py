"""alpn-tls: TLS ALPN survives the path to the API server (konnectivity agents dial it on TCP 443
with ALPN protocol `konnectivity`; TLS inspection strips it).

fail: the Azure Firewall rule that decides the nodes' HTTPS traffic to the API server FQDN (or a
wildcard covering it) terminates TLS (terminateTLS); or tunnel pod logs mention ALPN / "no
application protocol"; or the probe completed TLS but negotiated no ALPN protocol.
warn: egress passes a virtual appliance that is not in the snapshot (cannot be inspected), or the firewall's
own subnet routes 0.0.0.0/0 onward to a gateway or appliance (forced tunnelling,
https://learn.microsoft.com/azure/firewall/forced-tunneling).
pass otherwise, naming only the sources that held data: the node subnets' egress path (network), tunnel
pod log lines, a probe whose TLS handshake completed (a refused or timed-out probe shows nothing about
ALPN). skipped when none held data.
Follows https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tunnel-connectivity-issues
(konnectivity relies on TCP 443 with ALPN; TLS inspection on the path breaks it).
"""

from __future__ import annotations

import re

from checks.check import Check, Verdict
from checks.netrules.firewall import Requirement, evaluate_firewall
from checks.netrules.routes import egress_path, onward_route
from checks.tunnel import LOG_LINE_CHARS, tunnel_logs
from model.arm_ids import last_segment
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot
from model.text import shorten

DOCS = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tunnel-connectivity-issues"
ALPN_ERROR = re.compile(r"alpn|no application protocol", re.IGNORECASE)


def evaluate(snapshot: ClusterSnapshot, limits: object) -> Verdict:
    cluster = snapshot.cluster
    probe = snapshot.apiserver_probe
    handshake = probe is not None and not probe.error and probe.tls_ms is not None  # a refused probe shows nothing
    logs = tunnel_logs(snapshot)
    path_known = snapshot.network is not None and any(
        snapshot.network.subnet(subnet_id) for subnet_id in cluster.node_subnet_ids
    )
    seen = [what for what, held in (("egress path", path_known), ("tunnel logs", logs), ("probe", handshake)) if held]
    if not seen:
        return Verdict(
            Status.SKIPPED,
            "Nothing to judge ALPN from",
            "No node subnet egress path, tunnel pod log or completed TLS handshake with the API server held data"
            + (f" (the probe failed: {probe.error})" if probe and probe.error else "")
            + ".",
            "Collect the node subnets' route tables and firewall policy, `kubectl logs -n kube-system -l app=konnectivity-agent --tail 200`, or run the sweep live (it probes TLS+ALPN).",
        )
    host = cluster.apiserver_host or f"x.hcp.{cluster.location}.azmk8s.io"
    causes: list[str] = []
    fixes: list[str] = []
    unverifiable: list[str] = []
    evidence: dict[str, object] = {"apiServer": host, "judgedFrom": seen}
    for subnet_id in cluster.node_subnet_ids if snapshot.network else ():
        path = egress_path(snapshot, subnet_id)
        subnet = snapshot.network.subnet(subnet_id)
        if path.kind == "appliance":
            unverifiable.append(
                f"subnet {last_segment(subnet_id)} egresses through a virtual appliance: {path.unresolved()}"
            )
        if path.firewall is None or subnet is None:
            continue
        onward = onward_route(snapshot.network, path.firewall)
        if onward is not None:
            evidence["forcedTunnel"] = onward.evidence()
            unverifiable.append(
                f"subnet {last_segment(subnet_id)}'s traffic leaves Azure Firewall {path.firewall.name} for another "
                f"device ({onward.describe()}, forced tunnelling), which may inspect TLS"
            )
        decision = evaluate_firewall(
            snapshot.network, path.firewall, subnet.address_prefixes, Requirement("API server", "TCP", 443, fqdn=host)
        )
        if decision.rule is not None and decision.rule.terminate_tls and decision.collection is not None:
            collection = decision.collection
            causes.append(
                f"Azure Firewall {path.firewall.name} inspects TLS to {host} from {last_segment(subnet_id)}: {decision.describe(path.firewall)} has terminateTLS"
            )
            if collection.policy_id:
                fixes.append(
                    f"az network firewall policy rule-collection-group collection rule update -g {collection.policy_id.split('/')[4]} "
                    f"--policy-name {last_segment(collection.policy_id)} --rcg-name {collection.group} --collection-name {collection.name} "
                    f"-n {decision.rule.name} --enable-tls-inspection false   # or exclude *.azmk8s.io from the inspected FQDNs"
                )
    for pod, text in logs.items():
        line = next((line.strip() for line in text.splitlines() if ALPN_ERROR.search(line)), None)
        if line:
            causes.append(f"{pod} logs: {shorten(line, LOG_LINE_CHARS)}")
            fixes.append(
                "Exclude the API server FQDN (*.azmk8s.io) from TLS inspection on every proxy/firewall on the path"
            )
    if probe and handshake and not probe.alpn:
        causes.append(f"the TLS handshake with {probe.target} negotiated no ALPN protocol (offered h2, http/1.1)")
        fixes.append(
            "A TLS-intercepting proxy between the checker and the API server drops ALPN: bypass it for *.azmk8s.io"
        )
    if causes:
        return Verdict(
            Status.FAIL,
            "TLS ALPN is broken on the path to the API server",
            "; ".join(causes),
            "; ".join(dict.fromkeys(fixes)),
            evidence,
        )
    if unverifiable:
        return Verdict(
            Status.WARN,
            "TLS on the egress path cannot be verified",
            "; ".join(unverifiable),
            f"Check the appliance does not inspect TLS to {host}; run konnectivity-agent logs: kubectl logs -n kube-system -l app=konnectivity-agent --tail 100",
            evidence,
        )
    return Verdict(
        Status.PASS, "No TLS inspection or ALPN error on the path", f"Judged from: {', '.join(seen)}.", "", evidence
    )


CHECK = Check(
    id="alpn-tls",
    title="TLS ALPN on the API server path",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
)
