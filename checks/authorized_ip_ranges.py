"""authorized-ip-ranges: the API server's authorized IP ranges admit every declared client and the
cluster's own egress IPs.

skipped: a private cluster (ranges do not apply). pass: no ranges (open to all; says so) or every
address inside. fail: a declared client address/CIDR not wholly inside the ranges, or the
cluster's egress IP (Azure Firewall public IP with UDR, load balancer or NAT gateway outbound IP)
not inside them. warn: ranges set but no client declared.
"""

from __future__ import annotations

from checks.finding import Check, Verdict
from checks.netrules.addresses import within_any
from checks.netrules.routes import egress_public_ips
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot

DOCS = "https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges"


def evaluate(snapshot: ClusterSnapshot, limits: object) -> Verdict:
    cluster = snapshot.cluster
    if cluster.is_private:
        return Verdict(
            Status.SKIPPED,
            "Private cluster: authorized IP ranges do not apply",
            "The API server has no public endpoint to restrict.",
        )
    ranges = list(cluster.authorized_ranges)
    egress, unresolved = egress_public_ips(snapshot)
    evidence = {
        "authorizedRanges": ranges,
        "clients": [{"name": c.name, "ips": list(c.ips)} for c in snapshot.clients],
        "egressIps": egress,
        "unresolvedEgressIps": unresolved,
    }
    if not ranges:
        return Verdict(
            Status.PASS,
            "No authorized IP ranges: the API server accepts every address",
            "Any client can reach the public endpoint (authentication still applies).",
            "",
            evidence,
        )
    outside = [
        f"client {c.name} {ip}" for c in snapshot.clients if not c.vnet for ip in c.ips if not within_any(ip, ranges)
    ]
    outside += [f"the cluster's egress IP {ip}" for ip in egress if not within_any(ip, ranges)]
    if outside:
        missing = [item.rsplit(" ", 1)[1] for item in outside]
        new_ranges = ",".join(dict.fromkeys([*ranges, *(m if "/" in m else f"{m}/32" for m in missing)]))
        return Verdict(
            Status.FAIL,
            f"{len(outside)} address(es) outside the API server's authorized IP ranges",
            f"Outside {', '.join(ranges)}: {'; '.join(outside)}. Their kubectl calls time out (the API server drops them).",
            f"az aks update -g {cluster.resource_group} -n {cluster.name} --api-server-authorized-ip-ranges {new_ranges}",
            evidence,
        )
    if not snapshot.clients:
        return Verdict(
            Status.WARN,
            f"Authorized IP ranges set ({len(ranges)}), but no client declared to check them against",
            "Declare who must reach the API server (context.json clients, AKS_REACH_CLIENTS or the clients tag) so gaps are found before users hit them."
            + (f" Egress IPs {', '.join(egress)} are inside." if egress else ""),
            'Add {"clients": [{"name": "...", "ips": ["..."]}]} to context.json, or tag the cluster: az aks update --tags aks-reach-clients=<cidr>,<cidr>',
            evidence,
        )
    note = f" (could not resolve {len(unresolved)} egress IP resource(s))" if unresolved else ""
    return Verdict(
        Status.PASS,
        "Every declared client and egress IP is inside the authorized ranges",
        f"Ranges: {', '.join(ranges)}{note}",
        "",
        evidence,
    )


CHECK = Check(
    id="authorized-ip-ranges",
    title="API server authorized IP ranges",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
)
