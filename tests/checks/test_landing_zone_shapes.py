"""Issue 26: verdicts on the landing-zone shapes Microsoft documents, built as ARM bodies (SDK models) and read
through the snapshot parser, as a saved snapshot would be.

- DNS proxy (firewall/dns-settings.md): the spoke's DNS server is the hub firewall's private IP; the firewall
  answers on port 53 only with the policy's dnsSettings.enableProxy, and FQDNs in network rules need it.
- Disconnected peering (virtual-network-manage-peering.md, udr-overview.md): the hub's side deleted, the spoke's
  route to the hub firewall is invalid.
- The firewall's own body (next_hop): a hub VNet the identity cannot read, but a firewall whose IP configuration
  puts the next-hop address on a subnet of it, is that firewall.
- Unreadable references (docs/snapshot.md): an IP group (or rule collection group) the identity cannot read is
  named, and the verdict is a warning, unless it holds whatever the group contains.
- NAT gateway on AzureFirewallSubnet (firewall/integrate-with-nat-gateway.md): the firewall's egress address is
  the NAT gateway's, which authorized-ip-ranges must require.
- Forced tunnelling (firewall/forced-tunneling.md): the AzureFirewallSubnet's route table sends 0.0.0.0/0 to a
  gateway; what the firewall allows meets a device whose rules are not in the data.
- Hub and spoke with custom DNS (aks/private-clusters.md): the zone linked to the hub only, the spoke's DNS server
  the hub's DNS Private Resolver inbound endpoint.
- Service tags (aks/outbound-rules-control-egress.md, virtual-network/service-tags-overview.md): a tag is the
  address list the Service Tag Discovery API publishes, not "any public address".
- Virtual WAN (virtual-wan/how-to-routing-policies.md): a spoke of a secured hub gets its default route from the
  hub's routing intent, with no route table of its own.
"""

from __future__ import annotations

from azure.mgmt.network import models as net

from checks import alpn_tls, authorized_ip_ranges, egress_rules, private_cluster_reach
from checks.engine import run_check
from collect.parse import parse_cluster
from collect.raw import RawCluster
from model.finding import Finding, Status
from tests.emulator.landing_zone import (
    SHAPES_SUB,
    forced_tunnel,
    hub_deleted,
    hub_spoke,
    nat_on_firewall_subnet,
    nsg_to_azure_cloud_only,
    service_tags,
    spoke_ip_group,
    udp53_to_firewall,
    without,
)
from tools import make_example_estate as estate


def judge(module, raw: RawCluster) -> Finding:
    snapshot = parse_cluster(raw)
    return run_check(module.CHECK, snapshot, module.CHECK.limits())


# --- 1. Azure Firewall DNS proxy ------------------------------------------------------------------------------


def test_the_firewall_as_dns_proxy_needs_no_network_rule() -> None:
    finding = judge(egress_rules, hub_spoke("aks-dns", 243, dns_proxy=True, dns_servers=[estate.FIREWALL_IP]))
    assert finding.status is Status.PASS, finding.detail
    assert "DNS server 10.0.1.4 is Azure Firewall afw-hub-aks-dns-weu with DNS proxy enabled" in finding.detail
    record = finding.evidence["subnets"]["snet-aks-nodes"]["dnsServers"]["10.0.1.4"]
    assert record["dnsProxy"] is True and record["policy"].endswith("/firewallPolicies/afwp-hub-aks-dns-weu")


def test_dns_proxy_off_nothing_answers_whatever_the_rules_allow() -> None:
    bare = hub_spoke("aks-dns", 243, dns_servers=[estate.FIREWALL_IP])
    allowed = hub_spoke(
        "aks-dns", 243, dns_servers=[estate.FIREWALL_IP], extra_collections=[udp53_to_firewall(spoke_ip_group(bare))]
    )
    for raw in (bare, allowed):
        finding = judge(egress_rules, raw)
        assert finding.status is Status.FAIL, finding.detail
        assert (
            "DNS server 10.0.1.4 is Azure Firewall afw-hub-aks-dns-weu, whose DNS proxy is off "
            "(policy afwp-hub-aks-dns-weu): nothing answers on its port 53" in finding.detail
        )
        assert finding.remediation == (
            f"az network firewall policy update -g {estate.POLICY_RG} -n afwp-hub-aks-dns-weu --enable-dns-proxy true"
        )
        (cause,) = finding.root_causes  # the policy at fault, whichever spoke shows it
        assert cause.key.endswith("/firewallpolicies/afwp-hub-aks-dns-weu#dns-proxy")


def test_a_dns_server_in_the_peered_hub_is_reached_over_the_peering_not_the_firewall() -> None:
    forwarder = "10.0.2.4"  # a DNS forwarder VM in the hub: the peering's system route beats 0.0.0.0/0
    finding = judge(egress_rules, hub_spoke("aks-dns", 243, dns_servers=[forwarder]))
    assert finding.status is Status.PASS, finding.detail
    assert "Custom DNS servers 10.0.2.4" in finding.evidence["requirements"]


# --- 7. A Disconnected peering -----------------------------------------------------------------------------


def test_a_route_whose_next_hop_lies_only_behind_a_disconnected_peering_fails() -> None:
    finding = judge(egress_rules, hub_deleted(hub_spoke("aks-orphan", 244)))
    assert finding.status is Status.FAIL, finding.detail
    assert (
        "next hop 10.0.1.4 lies only behind peering spoke-to-hub (to vnet-hub-aks-orphan-weu), whose state is "
        "Disconnected" in finding.detail
    )
    assert "az network vnet peering delete -g rg-aks-orphan --vnet-name vnet-aks-orphan -n spoke-to-hub" in (
        finding.remediation
    )
    hop = finding.evidence["subnets"]["snet-aks-nodes"]["nextHop"]
    assert hop["disconnectedPeerings"][0]["state"] == "Disconnected"
    (cause,) = finding.root_causes
    assert cause.kind.value == "peering" and cause.key.endswith("/vnet-aks-orphan#spoke-to-hub")


# --- 9. The firewall's own body names the hub subnet -----------------------------------------------------------


def test_an_unreadable_hub_vnet_is_resolved_through_the_firewalls_ip_configuration() -> None:
    hidden_hub = without(hub_spoke("aks-hidden", 245), "virtualNetworks")
    finding = judge(egress_rules, hidden_hub)
    assert finding.status is Status.PASS, finding.detail
    assert "Azure Firewall afw-hub-aks-hidden-weu" in finding.evidence["subnets"]["snet-aks-nodes"]["path"]
    no_firewall = judge(egress_rules, without(hidden_hub, "azureFirewalls"))
    assert no_firewall.status is Status.WARN
    assert "may sit in a virtual network that could not be read (vnet-hub-aks-hidden-weu could not be read (403" in (
        no_firewall.detail
    )


# --- 5. A reference the identity cannot read is not an empty one ---------------------------------------------


def aks_fqdn_tag_from(prefix: str) -> net.FirewallPolicyFilterRuleCollection:
    """The egress tutorial's application rule (the AzureKubernetesService FQDN tag) with the spoke's prefix as its
    source instead of the IP group, at a higher priority."""
    rule = net.ApplicationRule(
        name="fqdn-by-prefix",
        source_addresses=[prefix],
        protocols=[net.FirewallPolicyRuleApplicationProtocol(protocol_type="Https", port=443)],
        fqdn_tags=["AzureKubernetesService"],
    )
    return estate.allow_collection("aks-by-prefix", 50, [rule])


def test_an_unreadable_ip_group_is_named_not_treated_as_empty() -> None:
    raw = hub_spoke("aks-ipg", 246)
    group = spoke_ip_group(raw)
    finding = judge(egress_rules, without(raw, "ipGroups"))
    assert finding.status is Status.WARN, finding.detail
    assert f"depends on IP group(s) the snapshot lacks: {group} could not be read (403 AuthorizationFailed" in (
        finding.detail
    )
    assert group in finding.evidence["subnets"]["snet-aks-nodes"]["unreadable"]


def test_an_unreadable_ip_group_that_cannot_change_the_verdict_is_not_a_warning() -> None:
    raw = hub_spoke("aks-ipg", 246, extra_collections=[aks_fqdn_tag_from("10.246.0.0/16")])
    finding = judge(egress_rules, without(raw, "ipGroups"))
    assert finding.status is Status.PASS, finding.detail


def test_an_unreadable_rule_collection_group_is_named() -> None:
    raw = without(hub_spoke("aks-rcg", 247), "ruleCollectionGroups")
    finding = judge(egress_rules, raw)
    assert finding.status is Status.WARN, finding.detail
    assert "whose rule collection groups are not all in the snapshot: " in finding.detail
    assert "/ruleCollectionGroups/rcg-aks could not be read (403 AuthorizationFailed" in finding.detail


# --- 4. NAT gateway on the firewall's subnet ---------------------------------------------------------------------


def test_a_nat_gateway_on_the_firewall_subnet_is_the_egress_ip_to_authorize() -> None:
    raw = hub_spoke("aks-natfw", 248, firewall_public_ip="198.51.100.91")  # ranges: CI runners + the firewall's IP
    assert judge(authorized_ip_ranges, raw).status is Status.WARN  # no client declared; the firewall IP is listed
    behind_nat = nat_on_firewall_subnet(raw, "198.51.100.92")
    behind_nat.context = {"clients": [{"name": "platform-ci", "ips": [estate.CI_RUNNERS]}]}
    finding = judge(authorized_ip_ranges, behind_nat)
    assert finding.status is Status.FAIL, finding.detail
    assert (
        "the cluster's egress IP 198.51.100.92" in finding.detail
        and "198.51.100.91" not in finding.evidence["egressIps"]
    )
    assert finding.remediation.endswith("198.51.100.91/32,198.51.100.92/32")
    unread = judge(authorized_ip_ranges, without(behind_nat, "natGateways"))  # not the firewall's IP instead
    assert unread.evidence["egressIps"] == [] and unread.evidence["unresolvedEgressIps"][0].endswith("/ng-afw")
    assert "could not resolve 1 egress IP resource(s)" in unread.detail


# --- 3. Forced tunnelling on the firewall ------------------------------------------------------------------------


def test_forced_tunnelling_on_the_firewall_subnet_warns_naming_the_next_device() -> None:
    raw = hub_spoke("aks-tunnel", 249)
    assert judge(egress_rules, raw).status is Status.PASS
    for next_hop, ip, shown in (
        ("VirtualNetworkGateway", None, "-> VirtualNetworkGateway)"),
        ("VirtualAppliance", "10.0.3.4", "-> VirtualAppliance 10.0.3.4)"),
    ):
        tunnelled = forced_tunnel(raw, next_hop, ip)
        egress = judge(egress_rules, tunnelled)
        assert egress.status is Status.WARN, egress.detail
        assert (
            "Azure Firewall afw-hub-aks-tunnel-weu's subnet sends 0.0.0.0/0 onward (route table rt-afw-forced-tunnel "
            f"route default-to-onprem {shown}" in egress.detail
        )
        assert egress.evidence["subnets"]["snet-aks-nodes"]["forcedTunnel"]["nextHopType"] == next_hop
        alpn = judge(alpn_tls, tunnelled)
        assert alpn.status is Status.WARN and "forced tunnelling" in alpn.detail


# --- 2. Custom DNS through the hub ------------------------------------------------------------------------------


def test_a_spoke_resolving_through_the_hub_resolver_reaches_a_zone_linked_to_the_hub_only() -> None:
    finding = judge(private_cluster_reach, estate.resolver_hub_private_cluster("aks-ops-private", 234))
    assert finding.status is Status.PASS, finding.detail
    assert finding.evidence["dnsServers"]["spoke-jumpbox"]["address"] == estate.RESOLVER_INBOUND_IP
    assert finding.evidence["dnsServers"]["spoke-jumpbox"]["vnet"].endswith("/vnet-hub-aks-ops-private-weu")


def test_azure_provided_dns_without_a_link_still_fails() -> None:
    raw = estate.resolver_hub_private_cluster("aks-ops-private", 234, spoke_dns=False)
    finding = judge(private_cluster_reach, raw)
    assert finding.status is Status.FAIL, finding.detail
    assert "VNet vnet-aks-ops-private is not linked to private DNS zone privatelink.westeurope.azmk8s.io (it uses " in (
        finding.detail
    )
    assert "-v " + raw.context["clients"][0]["vnet"] in finding.remediation


def test_the_hub_resolver_in_an_unlinked_hub_fails_naming_the_hub() -> None:
    finding = judge(private_cluster_reach, estate.resolver_hub_private_cluster("aks-ops-private", 234, link_hub=False))
    assert finding.status is Status.FAIL, finding.detail
    assert (
        "spoke-jumpbox's DNS server 10.0.4.4 (a DNS Private Resolver inbound endpoint) sits in VNet vnet-hub-aks-ops-private-weu, "
        "which is not linked to private DNS zone privatelink.westeurope.azmk8s.io" in finding.detail
    )
    assert "-n vnet-hub-aks-ops-private-weu-link" in finding.remediation
    (cause,) = finding.root_causes  # the zone lacks a link for the hub, where the spoke resolves
    assert cause.key.endswith("#" + finding.evidence["dnsServers"]["spoke-jumpbox"]["vnet"].lower())


def test_a_dns_server_outside_every_peered_network_is_a_warning() -> None:
    raw = estate.resolver_hub_private_cluster("aks-ops-private", 234, spoke_dns=False)
    for resource in raw.network or ():
        if resource["id"].endswith("/vnet-aks-ops-private"):
            resource["properties"]["dhcpOptions"] = {"dnsServers": ["192.168.10.4"]}  # on premises, over the VPN
    finding = judge(private_cluster_reach, raw)
    assert finding.status is Status.WARN, finding.detail
    assert "DNS server 192.168.10.4 sits outside its VNet and the VNets peered with it" in finding.detail


# --- 6. Service tags are address lists ------------------------------------------------------------------------


def test_an_nsg_allowing_only_azure_cloud_then_denying_internet_warns_naming_the_tag() -> None:
    finding = judge(egress_rules, nsg_to_azure_cloud_only("aks-tags", 250))
    assert finding.status is Status.WARN, finding.detail
    assert (
        "Microsoft Container Registry (mcr.microsoft.com TCP 443) from snet-aks-nodes: NSG nsg-aks-tags-nodes rule "
        "allow-azurecloud-https (priority 100, Allow) to service tag AzureCloud.westeurope may or may not match "
        "mcr.microsoft.com (it sits behind global front ends" in finding.detail
    )
    assert "otherwise NSG nsg-aks-tags-nodes rule deny-internet (priority 200, Deny) decides" in finding.detail
    doubts = finding.evidence["subnets"]["snet-aks-nodes"]["serviceTagDoubts"]
    assert {d["requirement"] for d in doubts} >= {"Microsoft Entra ID", "AKS packages"}


def test_an_address_is_inside_a_tag_only_when_the_published_prefixes_hold_it() -> None:
    inside = nsg_to_azure_cloud_only("aks-tags", 250, apiserver="20.103.5.6")
    outside = nsg_to_azure_cloud_only("aks-tags", 250, apiserver="51.124.7.8")
    for raw in (inside, outside):
        raw.network = [*(raw.network or []), service_tags(SHAPES_SUB)]
    judged_inside = judge(egress_rules, inside)
    assert not any(
        d["requirement"] == "API server (public)"
        for d in judged_inside.evidence["subnets"]["snet-aks-nodes"]["serviceTagDoubts"]
    )
    judged_outside = judge(egress_rules, outside)
    assert judged_outside.status is Status.FAIL
    assert (
        "API server (public) (" in judged_outside.detail
        and "denied by NSG nsg-aks-tags-nodes rule deny-internet" in (judged_outside.detail)
    )
    untagged = judge(egress_rules, nsg_to_azure_cloud_only("aks-tags", 250, apiserver="51.124.7.8"))
    assert untagged.status is Status.WARN  # the tag's prefixes were not collected: not judged either way
    assert "the tag's address prefixes were not collected (Service Tag Discovery API)" in untagged.detail


# --- 8. Virtual WAN routing intent --------------------------------------------------------------------------------


def vwan(**options: object) -> RawCluster:
    return estate.virtual_wan_cluster("aks-vwan-prod", 251, **options)  # type: ignore[arg-type]


def test_a_secured_hub_spoke_is_judged_against_the_hubs_firewall() -> None:
    finding = judge(egress_rules, vwan())
    assert finding.status is Status.PASS, finding.detail
    record = finding.evidence["subnets"]["snet-aks-nodes"]
    assert record["path"] == "Virtual WAN hub vhub-weu's routing intent (Internet) -> Azure Firewall afw-vhub-weu"
    assert record["virtualHub"]["id"] == estate.VWAN_HUB
    ranges = judge(authorized_ip_ranges, vwan())
    assert ranges.evidence["egressIps"] == ["198.51.100.96"]  # hubIPAddresses.publicIPs


def test_the_hubs_firewall_without_the_aks_rules_fails() -> None:
    raw = vwan()
    raw.network = [r for r in raw.network or () if not r["type"].endswith("/ruleCollectionGroups")]
    for resource in raw.network:
        if resource["type"] == "Microsoft.Network/firewallPolicies":
            resource["properties"]["ruleCollectionGroups"] = []
    finding = judge(egress_rules, raw)
    assert finding.status is Status.FAIL
    assert "no rule of Azure Firewall afw-vhub-weu allows it" in finding.detail


def test_an_unreadable_hub_warns_naming_it() -> None:
    no_intent = judge(egress_rules, vwan(routing_intent=False))  # a secured hub whose routing intent is not known
    assert no_intent.status is Status.WARN and "routing intent (" in no_intent.detail
    assert "/routingIntent) was not collected" in no_intent.detail
    unread_intent = vwan(routing_intent=False)
    unread_intent.unread_references = {f"{estate.VWAN_HUB}/routingIntent": "403 AuthorizationFailed"}
    finding = judge(egress_rules, unread_intent)
    assert finding.status is Status.WARN
    assert f"Virtual WAN hub vhub-weu's routing intent ({estate.VWAN_HUB}/routingIntent) could not be read (403" in (
        finding.detail
    )
    hub_gone = vwan()
    hub_gone.network = [r for r in hub_gone.network or () if "/virtualHubs/" not in r["id"]]
    finding = judge(egress_rules, hub_gone)
    assert finding.status is Status.WARN
    assert "is connected to a Virtual WAN hub (peering RemoteVnetToHubPeering_" in finding.detail
    firewall_unread = judge(egress_rules, without(vwan(), "azureFirewalls"))
    assert (
        firewall_unread.status is Status.WARN and "sends Internet traffic to Azure Firewall" in firewall_unread.detail
    )
