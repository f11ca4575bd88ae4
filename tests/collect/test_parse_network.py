"""Network resources in both spellings, built from the azure-mgmt-network / privatedns models."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models as net
from azure.mgmt.privatedns import models as dns

from collect.parse_network import NetworkParseError, parse_network
from tests.emulator.landing_zone import WESTEUROPE_TAGS, service_tags
from tools import make_example_estate as estate

RG = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-net/providers"
VNET = f"{RG}/Microsoft.Network/virtualNetworks/vnet-spoke"
SUBNET = f"{VNET}/subnets/nodes"
NSG = f"{RG}/Microsoft.Network/networkSecurityGroups/nsg-nodes"
POLICY = f"{RG}/Microsoft.Network/firewallPolicies/fwp-hub"
ZONE = f"{RG}/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"


def arm(model, resource_id: str, resource_type: str) -> dict:
    body = model.as_dict()
    body.update(id=resource_id, name=resource_id.rsplit("/", 1)[-1], type=resource_type)
    return body


def nsg_body() -> dict:
    rule = net.SecurityRule(
        name="deny-kubelet",
        priority=100,
        direction="Inbound",
        access="Deny",
        protocol="Tcp",
        source_address_prefix="VirtualNetwork",
        source_port_range="*",
        destination_address_prefixes=["10.224.0.0/16", "10.225.0.0/16"],
        destination_port_ranges=["10250", "10255"],
    )
    model = net.NetworkSecurityGroup(location="westeurope", security_rules=[rule], subnets=[net.Subnet(id=SUBNET)])
    return arm(model, NSG, "Microsoft.Network/networkSecurityGroups")


def test_nsg_rules_singular_and_plural_fields_and_default_rules() -> None:
    body = nsg_body()
    body["properties"]["defaultSecurityRules"] = [
        {
            "name": "DenyAllInBound",
            "properties": {
                "priority": 65500,
                "direction": "Inbound",
                "access": "Deny",
                "protocol": "*",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": "*",
                "destinationPortRange": "*",
            },
        }
    ]
    group = parse_network([body]).security_groups[NSG.lower()]
    custom, default = group.rules
    assert (custom.name, custom.priority, custom.access, custom.default) == ("deny-kubelet", 100, "Deny", False)
    assert custom.destination_prefixes == ("10.224.0.0/16", "10.225.0.0/16")
    assert custom.destination_ports == ("10250", "10255")
    assert custom.source_prefixes == ("VirtualNetwork",)
    assert default.default and default.priority == 65500
    assert group.subnet_ids == (SUBNET,)


def test_az_flattened_nsg() -> None:
    body = {
        "id": NSG,
        "name": "nsg-nodes",
        "type": "Microsoft.Network/networkSecurityGroups",
        "securityRules": [
            {
                "name": "allow-https",
                "priority": 200,
                "direction": "Outbound",
                "access": "Allow",
                "protocol": "Tcp",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": "AzureCloud.westeurope",
                "destinationPortRange": "443",
                "destinationAddressPrefixes": [],
                "destinationPortRanges": [],
            }
        ],
        "subnets": [{"id": SUBNET, "resourceGroup": "rg-net"}],
    }
    (rule,) = parse_network([body]).security_groups[NSG.lower()].rules
    assert rule.destination_prefixes == ("AzureCloud.westeurope",) and rule.destination_ports == ("443",)


def test_vnet_subnets_peerings_and_standalone_subnet() -> None:
    model = net.VirtualNetwork(
        location="westeurope",
        address_space=net.AddressSpace(address_prefixes=["10.224.0.0/12"]),
        subnets=[
            net.Subnet(
                id=SUBNET,
                name="nodes",
                address_prefix="10.224.0.0/16",
                network_security_group=net.NetworkSecurityGroup(id=NSG),
            )
        ],
        virtual_network_peerings=[
            net.VirtualNetworkPeering(
                name="to-hub",
                remote_virtual_network=net.SubResource(id=f"{RG}/Microsoft.Network/virtualNetworks/vnet-hub"),
                peering_state="Connected",
            )
        ],
        dhcp_options=net.DhcpOptions(dns_servers=["10.0.0.4"]),
    )
    vnet_body = arm(model, VNET, "Microsoft.Network/virtualNetworks")
    extra = arm(
        net.Subnet(address_prefix="10.225.0.0/24"),
        f"{VNET}/subnets/apiserver",
        "Microsoft.Network/virtualNetworks/subnets",
    )
    inventory = parse_network([vnet_body, extra])
    vnet = inventory.virtual_networks[VNET.lower()]
    assert vnet.address_prefixes == ("10.224.0.0/12",) and vnet.dns_servers == ("10.0.0.4",)
    assert vnet.peerings[0].state == "Connected" and vnet.peerings[0].remote_vnet_id.endswith("vnet-hub")
    assert inventory.subnet(SUBNET.upper()).nsg_id == NSG
    assert inventory.subnet(f"{VNET}/subnets/apiserver").address_prefixes == ("10.225.0.0/24",)


def test_classic_firewall_rules_and_policy_groups() -> None:
    firewall = net.AzureFirewall(
        location="westeurope",
        ip_configurations=[
            net.AzureFirewallIPConfiguration(
                name="ipconfig",
                private_ip_address="10.0.1.4",
                public_ip_address=net.SubResource(id=f"{RG}/x/publicIPAddresses/pip-fw"),
            )
        ],
        application_rule_collections=[
            net.AzureFirewallApplicationRuleCollection(
                name="aks",
                priority=200,
                action=net.AzureFirewallRCAction(type="Allow"),
                rules=[
                    net.AzureFirewallApplicationRule(
                        name="fqdn-tag",
                        source_addresses=["10.224.0.0/16"],
                        protocols=[net.AzureFirewallApplicationRuleProtocol(protocol_type="Https", port=443)],
                        fqdn_tags=["AzureKubernetesService"],
                    )
                ],
            )
        ],
        firewall_policy=net.SubResource(id=POLICY),
    )
    group = net.FirewallPolicyRuleCollectionGroup(
        priority=300,
        rule_collections=[
            net.FirewallPolicyFilterRuleCollection(
                name="inspect",
                priority=100,
                action=net.FirewallPolicyFilterRuleCollectionAction(type="Allow"),
                rules=[
                    net.ApplicationRule(
                        name="tls",
                        source_ip_groups=[f"{RG}/Microsoft.Network/ipGroups/nodes"],
                        protocols=[net.FirewallPolicyRuleApplicationProtocol(protocol_type="Https", port=443)],
                        target_fqdns=["*.azmk8s.io"],
                        terminate_tls=True,
                    )
                ],
            )
        ],
    )
    inventory = parse_network(
        [
            arm(firewall, f"{RG}/Microsoft.Network/azureFirewalls/fw-hub", "Microsoft.Network/azureFirewalls"),
            arm(group, f"{POLICY}/ruleCollectionGroups/aks", "Microsoft.Network/FirewallPolicies/RuleCollectionGroups"),
        ]
    )
    (fw,) = inventory.firewalls.values()
    assert fw.private_ip == "10.0.1.4" and fw.policy_id == POLICY and fw.public_ip_ids[0].endswith("pip-fw")
    (collection,) = fw.rule_collections
    assert collection.kind == "application" and collection.rules[0].fqdn_tags == ("AzureKubernetesService",)
    assert collection.rules[0].protocols == ("Https:443",)
    (rcg,) = inventory.rule_collection_groups.values()
    assert rcg.policy_id == POLICY and rcg.priority == 300
    rule = rcg.rule_collections[0].rules[0]
    assert rule.terminate_tls and rule.kind == "application" and rule.target_fqdns == ("*.azmk8s.io",)
    assert rcg.rule_collections[0].group == "aks"


def test_private_dns_zone_and_links_in_any_order() -> None:
    link = dns.VirtualNetworkLink(location="global", virtual_network=dns.SubResource(id=VNET))
    zone = dns.PrivateZone(location="global")
    inventory = parse_network(
        [
            arm(link, f"{ZONE}/virtualNetworkLinks/spoke", "Microsoft.Network/privateDnsZones/virtualNetworkLinks"),
            arm(zone, ZONE, "Microsoft.Network/privateDnsZones"),
        ]
    )
    assert inventory.private_dns_zones[ZONE.lower()].linked_vnet_ids == (VNET,)


def test_unknown_types_are_ignored() -> None:
    inventory = parse_network([{"id": "/x", "type": "Microsoft.Storage/storageAccounts"}])
    assert not inventory.security_groups and not inventory.virtual_networks


def test_bad_rule_names_the_resource() -> None:
    body = nsg_body()
    body["properties"]["securityRules"][0]["properties"]["priority"] = "high"
    with pytest.raises(NetworkParseError, match='nsg-nodes: "priority" should be a number'):
        parse_network([body])


def test_dns_proxy_from_a_policys_dns_settings_and_a_classic_firewalls_additional_properties() -> None:
    policy = arm(
        net.FirewallPolicy(
            location="westeurope", dns_settings=net.DnsSettings(enable_proxy=True, servers=["10.0.2.4"])
        ),
        POLICY,
        "Microsoft.Network/firewallPolicies",
    )
    classic_id = f"{RG}/Microsoft.Network/azureFirewalls/fw-classic"
    # `az network firewall create --enable-dns-proxy true` stores the switch as a string
    classic = arm(
        net.AzureFirewall(location="westeurope", additional_properties={"Network.DNS.EnableProxy": "true"}),
        classic_id,
        "Microsoft.Network/azureFirewalls",
    )
    off = arm(net.FirewallPolicy(location="westeurope"), f"{POLICY}-off", "Microsoft.Network/firewallPolicies")
    inventory = parse_network([policy, classic, off])
    assert inventory.firewall_policies[POLICY.lower()].dns_proxy is True
    assert inventory.firewall_policies[f"{POLICY}-off".lower()].dns_proxy is False
    assert inventory.firewalls[classic_id.lower()].dns_proxy is True
    flattened = {**policy.pop("properties"), **policy}  # az prints properties flattened
    assert parse_network([flattened]).firewall_policies[POLICY.lower()].dns_proxy is True


def test_service_tags_from_the_discovery_api_answer() -> None:
    inventory = parse_network([service_tags("11111111-2222-3333-4444-555555555555")])
    assert inventory.service_tags["azurecloud.westeurope"].address_prefixes == tuple(
        WESTEUROPE_TAGS["AzureCloud.westeurope"]
    )


def test_a_secured_virtual_hub_with_its_connections_routing_intent_and_firewall() -> None:
    raw = estate.virtual_wan_cluster("aks-vwan", 251)
    inventory = parse_network(raw.network or [])
    hub = inventory.virtual_hubs[estate.VWAN_HUB.lower()]
    assert hub.routing_intent_read and hub.internet_next_hop == hub.firewall_id == hub.private_next_hop
    spoke_vnet = next(r["id"] for r in raw.network or [] if r["type"] == "Microsoft.Network/virtualNetworks")
    assert inventory.hub_of(spoke_vnet) == hub
    firewall = inventory.firewalls[hub.firewall_id.lower()]
    assert firewall.private_ip == "10.100.0.132" and firewall.public_addresses == ("198.51.100.96",)
    assert firewall.virtual_hub_id == estate.VWAN_HUB
