"""authorized-ip-ranges: the API server's authorized IP ranges admit every declared client and the
cluster's own egress IPs, and stay clear of the documented limit.

Follows https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges
(articles/aks/api-server-authorized-ip-ranges.md):
- AKS itself adds the outbound public IPs of the Standard load balancer to the allowed list, so they
  need not be listed; `0.0.0.0/32` is a placeholder meaning "only the load balancer's outbound IP" (it
  admits no other address). The egress IPs of a firewall or NAT gateway are not added: "the cluster
  egress IP address (firewall, NAT gateway, or other address, depending on your outbound type)" must
  be listed. A NAT gateway on the firewall's AzureFirewallSubnet carries all the firewall's outbound
  traffic (https://learn.microsoft.com/azure/firewall/integrate-with-nat-gateway): its public IPs are the
  egress IPs then, not the firewall's.
- Up to 200 ranges; up to 2,000 with API Server VNet Integration.

skipped: a private cluster (ranges do not apply). pass: no ranges (open to all; says so) or every
address inside. fail: a declared client address/CIDR not wholly inside the ranges, or an egress IP
that AKS does not add (firewall or NAT gateway public IP) not inside them. warn: the list holds at
least `near_limit_percent` of the documented limit (naming the count), or ranges set but no client
declared.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.check import Check, Verdict, need
from checks.netrules.addresses import within_any
from checks.netrules.routes import egress_public_ips
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot, Source

DOCS = "https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges"
ONLY_LOAD_BALANCER = "0.0.0.0/32"  # the documented placeholder: only the load balancer's outbound IP
RANGE_LIMIT = 200
RANGE_LIMIT_VNET_INTEGRATION = 2000


@dataclass(frozen=True)
class Limits:
    near_limit_percent: float = 90.0
    """share of the documented limit of authorized IP ranges (200; 2,000 with API Server VNet Integration) at
    which authorized-ip-ranges warns, naming the count"""


def evaluate(snapshot: ClusterSnapshot, limits: Limits) -> Verdict:
    cluster = snapshot.cluster
    if cluster.is_private:
        return Verdict(
            Status.SKIPPED,
            "Private cluster: authorized IP ranges do not apply",
            "The API server has no public endpoint to restrict.",
        )
    ranges = list(cluster.authorized_ranges)
    listed = [cidr for cidr in ranges if cidr.strip() != ONLY_LOAD_BALANCER]
    egress, unresolved = egress_public_ips(snapshot)
    added_by_aks = _load_balancer_ips(snapshot)
    must_list = [ip for ip in egress if ip not in added_by_aks]
    limit = RANGE_LIMIT_VNET_INTEGRATION if cluster.vnet_integration else RANGE_LIMIT
    evidence = {
        "authorizedRanges": ranges,
        "rangeCount": len(ranges),
        "rangeLimit": limit,
        "clients": [{"name": c.name, "ips": list(c.ips)} for c in snapshot.clients or ()],
        "egressIps": egress,
        "addedByAks": sorted(added_by_aks),
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
    clients = need(snapshot.clients, Source.CONTEXT)
    outside = [f"client {c.name} {ip}" for c in clients if not c.vnet for ip in c.ips if not within_any(ip, listed)]
    outside += [f"the cluster's egress IP {ip}" for ip in must_list if not within_any(ip, listed)]
    lb_note = (
        f" AKS adds the load balancer's outbound IP(s) {', '.join(sorted(added_by_aks))} itself."
        if added_by_aks
        else ""
    )
    if outside:
        missing = [item.rsplit(" ", 1)[1] for item in outside]
        new_ranges = ",".join(dict.fromkeys([*listed, *(m if "/" in m else f"{m}/32" for m in missing)]))
        placeholder = (
            f" {ONLY_LOAD_BALANCER} admits only the load balancer's outbound IP: list the other ranges instead."
            if ONLY_LOAD_BALANCER in ranges
            else ""
        )
        return Verdict(
            Status.FAIL,
            f"{len(outside)} address(es) outside the API server's authorized IP ranges",
            f"Outside {', '.join(ranges)}: {'; '.join(outside)}. Their kubectl calls time out (the API server "
            f"drops them); a firewall's or NAT gateway's egress IP is not added by AKS.{placeholder}{lb_note}",
            f"az aks update -g {cluster.resource_group} -n {cluster.name} --api-server-authorized-ip-ranges {new_ranges}",
            evidence,
        )
    if len(ranges) >= limits.near_limit_percent / 100 * limit:
        advice = (
            "merge adjacent CIDRs into wider ones"
            if cluster.vnet_integration
            else "merge adjacent CIDRs, or enable API Server VNet Integration (up to 2,000 ranges)"
        )
        return Verdict(
            Status.WARN,
            f"{len(ranges)} authorized IP ranges: near the limit of {limit:,}",
            f"The API server accepts at most {limit:,} authorized ranges"
            f"{' with API Server VNet Integration' if cluster.vnet_integration else ''}; {len(ranges)} are set "
            f"({100 * len(ranges) / limit:.0f}%). The next client (a CI runner pool) may not fit.",
            f"Before adding more, {advice}: az aks update -g {cluster.resource_group} -n {cluster.name} "
            "--api-server-authorized-ip-ranges <merged list>",
            evidence,
        )
    if not clients:
        return Verdict(
            Status.WARN,
            f"Authorized IP ranges set ({len(ranges)}), but no client declared to check them against",
            "Declare who must reach the API server (context.json clients, AKS_REACH_CLIENTS or the clients tag) so gaps are found before users hit them."
            + (f" Egress IPs {', '.join(must_list)} are inside." if must_list else "")
            + lb_note,
            'Add {"clients": [{"name": "...", "ips": ["..."]}]} to context.json, or tag the cluster (Merge keeps its other tags): '
            f"az tag update --resource-id {cluster.id} --operation Merge --tags aks-reach-clients=<cidr>,<cidr>",
            evidence,
        )
    note = f" (could not resolve {len(unresolved)} egress IP resource(s))" if unresolved else ""
    return Verdict(
        Status.PASS,
        "Every declared client and egress IP is inside the authorized ranges",
        f"Ranges: {', '.join(ranges)}{note}.{lb_note}",
        "",
        evidence,
    )


def _load_balancer_ips(snapshot: ClusterSnapshot) -> set[str]:
    """The Standard load balancer's outbound public addresses, which AKS allows by itself."""
    inventory = snapshot.network
    if inventory is None:
        return set()
    found = (inventory.public_ips.get(pip.lower()) for pip in snapshot.cluster.load_balancer_outbound_ip_ids)
    return {pip.ip_address for pip in found if pip and pip.ip_address}


CHECK = Check(
    id="authorized-ip-ranges",
    title="API server authorized IP ranges",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
    limits=Limits,
)
