"""Resource Manager reads (collect/live/resource_manager.py) against the emulator: the management SDKs' typed
operations with `stream=True` give the JSON ARM sent (what the typed models read, too), lists follow nextLinks
within a bound, ARM's errors are raised as the generated operations raise them, the api-versions sent are those
the app was checked against, and no URL off the endpoint gets the token."""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import DecodeError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as net
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from collect.live import resource_graph, resource_manager
from collect.live.clients import LiveClients
from collect.live.network import ArmNetworkReader
from model.arm_ids import last_segment
from tests.emulator.server import AzureEmulator, EmulatedCluster, Fault, StaticToken
from tools import make_example_estate as estate

GROUP = "rg-storefront-prod"
NAT_GATEWAY = estate.rid(GROUP, "Microsoft.Network/natGateways", "ng-storefront-nodes")
NIC = estate.rid(GROUP, "Microsoft.Network/networkInterfaces", "nic-nva-0")

# The api-version of every ARM read the app makes, by what it reads (the resource types in the path). The card's
# SDKs send theirs (azure-mgmt-containerservice 41.8, azure-mgmt-network 33.1); private DNS zones and their links
# go through the generic pipeline at `resource_manager.PRIVATE_DNS_API`. When an SDK upgrade changes one, this
# test fails: read the new version's REST reference for that type (learn.microsoft.com/rest/api/aks or
# /rest/api/virtualnetwork) for the fields collect/parse.py, collect/parse_network.py and the walk in
# collect/live/network.py read, check the emulator's bodies (the SDK models build them) still carry them, then
# update the version here.
PINNED_API_VERSIONS = {
    "GET managedClusters": "2026-08-01",
    "POST managedClusters/listClusterUserCredential": "2026-08-01",
    "GET virtualNetworks": "2026-03-01",
    "GET networkSecurityGroups": "2026-03-01",
    "GET routeTables": "2026-03-01",
    "GET azureFirewalls": "2026-03-01",
    "GET firewallPolicies": "2026-03-01",
    "GET firewallPolicies/ruleCollectionGroups": "2026-03-01",
    "GET ipGroups": "2026-03-01",
    "GET publicIPAddresses": "2026-03-01",
    "GET natGateways": "2026-03-01",
    "GET networkInterfaces": "2026-03-01",
    "GET virtualHubs": "2026-03-01",
    "GET privateDnsZones": "2024-06-01",
    "GET privateDnsZones/virtualNetworkLinks": "2024-06-01",
}


def nat_gateway_and_nic() -> list[dict]:
    """A NAT gateway with its public IP and a network virtual appliance's NIC, as in the REST API examples
    (NatGatewayGet, NetworkInterfaceGet): the reads no sample cluster of the estate makes."""
    pip = estate.public_ip(GROUP, "pip-storefront-nat", "20.61.15.8")
    nat = net.NatGateway(
        location="westeurope",
        sku=net.NatGatewaySku(name="Standard"),
        public_ip_addresses=[net.SubResource(id=pip["id"])],
    )
    subnet = f"{estate.HUB_VNET}/subnets/snet-nva"
    nic = net.NetworkInterface(
        location="westeurope",
        ip_configurations=[
            net.NetworkInterfaceIPConfiguration(
                name="ipconfig1", private_ip_address="10.0.3.4", subnet=net.Subnet(id=subnet), primary=True
            )
        ],
    )
    return [
        pip,
        estate.arm(nat, NAT_GATEWAY, "Microsoft.Network/natGateways"),
        estate.arm(nic, NIC, "Microsoft.Network/networkInterfaces"),
    ]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[AzureEmulator]:
    raws = [
        estate.healthy(),
        estate.nsg_denies_kubelet(),
        estate.private_peered_hub(),
        estate.helm_history(),
        estate.landing_zone_missing_aks_rules(),
        estate.virtual_wan_cluster("aks-vwan-prod", 251),
    ]
    bodies = [r for raw in raws for r in raw.network or []] + nat_gateway_and_nic()
    network = {r["id"].lower(): r for r in bodies}
    server = AzureEmulator([EmulatedCluster(raw) for raw in raws], list(network.values())).start(tmp_path / "ca.pem")
    yield server
    server.stop()


@pytest.fixture
def clients(emulator: AzureEmulator) -> LiveClients:
    return emulator.live_clients(retries=0)


def typed(kind: type, emulator: AzureEmulator, subscription: str = estate.SUB):
    return kind(StaticToken(), subscription, base_url=emulator.url, connection_verify=str(emulator.ca_path))


def of_type(emulator: AzureEmulator, type_name: str) -> list[dict]:
    return [r for r in emulator.network if r["type"].lower() == type_name.lower()]


def read_by_id(emulator: AzureEmulator) -> list[dict]:
    """The emulator's resources the walk reads by id (rule collection groups and zone links come in lists)."""
    return [r for r in emulator.network if r["type"].count("/") == 1]


def test_a_cluster_and_its_credentials_read_as_the_typed_container_service_client_reads_them(emulator, clients):
    cluster = emulator.by_name["aks-storefront-prod"]
    group, name = cluster.id.split("/")[4], cluster.name
    sdk = typed(ContainerServiceClient, emulator).managed_clusters
    assert clients.arm.get(cluster.id) == sdk.get(group, name).as_dict() == cluster.raw.cluster
    credentials = clients.arm.cluster_user_credentials(cluster.id)
    kubeconfig = sdk.list_cluster_user_credentials(group, name).kubeconfigs[0]
    assert base64.b64decode(credentials["kubeconfigs"][0]["value"]) == kubeconfig.value  # the model decodes it
    assert emulator.count(r"^POST .*/listClusterUserCredential$") == 2


def test_every_network_resource_reads_as_arm_sent_it_and_as_the_typed_models_read_it(emulator, clients):
    resources = read_by_id(emulator)
    assert {r["type"].lower() for r in resources} >= set(resource_manager.NETWORK_GETS)  # every typed read
    for resource in resources:
        assert clients.arm.get(resource["id"]) == resource, resource["id"]
    nsg = of_type(emulator, "Microsoft.Network/networkSecurityGroups")[0]
    network = typed(NetworkManagementClient, emulator)
    assert (
        clients.arm.get(nsg["id"])
        == network.network_security_groups.get(nsg["id"].split("/")[4], nsg["name"]).as_dict()
    )


def test_lists_read_as_the_typed_clients_read_them(emulator, clients):
    group = of_type(emulator, "Microsoft.Network/firewallPolicies/ruleCollectionGroups")[0]
    policy_id = group["id"].rsplit("/ruleCollectionGroups/", 1)[0]
    assert list(clients.arm.rule_collection_groups(policy_id)) == [group]
    firewall = of_type(emulator, "Microsoft.Network/azureFirewalls")[0]
    assert list(clients.arm.firewalls_in_group(firewall["id"].split("/providers/")[0])) == [firewall]
    zone = of_type(emulator, "Microsoft.Network/privateDnsZones")[0]
    zone_subscription, zone_group = zone["id"].split("/")[2], zone["id"].split("/")[4]
    links = typed(PrivateDnsManagementClient, emulator, zone_subscription).virtual_network_links
    assert list(clients.arm.zone_links(zone["id"])) == [
        link.as_dict() for link in links.list(zone_group, last_segment(zone["id"]))
    ]
    assert list(clients.arm.private_dns_zones(zone["id"].split("/providers/")[0])) == [zone]


def test_the_api_versions_sent_are_those_the_app_was_checked_against(emulator, clients):
    cluster = emulator.by_name["aks-storefront-prod"].id
    clients.arm.get(cluster)
    clients.arm.cluster_user_credentials(cluster)
    for resource in read_by_id(emulator):
        clients.arm.get(resource["id"])
    for policy in of_type(emulator, "Microsoft.Network/firewallPolicies"):
        list(clients.arm.rule_collection_groups(policy["id"]))
    for zone in of_type(emulator, "Microsoft.Network/privateDnsZones"):
        list(clients.arm.zone_links(zone["id"]))
    sent: dict[str, set[str]] = defaultdict(set)
    for (request, version), _ in emulator.api_versions.items():
        method, path = request.split(" ", 1)
        types = "/".join(path.rsplit("/providers/", 1)[1].split("/")[1::2])
        sent[f"{method} {types}"].add(version)
    changed = {
        read: f"sends {', '.join(sorted(versions))}, pinned {PINNED_API_VERSIONS.get(read)}"
        for read, versions in sent.items()
        if versions != {PINNED_API_VERSIONS.get(read)}
    }
    assert not changed, f"re-check what the app reads of these, as PINNED_API_VERSIONS says: {changed}"
    assert set(sent) == set(PINNED_API_VERSIONS)  # every read the app makes was seen


def test_the_generic_pipelines_pins_are_what_the_typed_sdks_send(emulator, clients):
    """The reads no runtime SDK serves keep a pinned api-version: the test dependencies' SDKs send the same."""
    zone = of_type(emulator, "Microsoft.Network/privateDnsZones")[0]
    typed(PrivateDnsManagementClient, emulator, zone["id"].split("/")[2]).private_zones.get(
        zone["id"].split("/")[4], last_segment(zone["id"])
    )
    options = QueryRequestOptions(result_format="objectArray")
    graph_client = ResourceGraphClient(StaticToken(), base_url=emulator.url, connection_verify=str(emulator.ca_path))
    graph_client.resources(QueryRequest(query="resources", options=options))
    assert {version for (request, version) in emulator.api_versions if "privateDnsZones" in request} == {
        resource_manager.PRIVATE_DNS_API
    }
    graph = {version for (request, version) in emulator.api_versions if request.endswith("ResourceGraph/resources")}
    assert graph == {resource_graph.RESOURCES_API}


def test_a_list_is_followed_page_after_page_through_next_links(emulator, clients):
    group = of_type(emulator, "Microsoft.Network/firewallPolicies/ruleCollectionGroups")[0]
    policy_id = group["id"].rsplit("/ruleCollectionGroups/", 1)[0]
    emulator.network.append({**group, "id": f"{group['id']}-2", "name": f"{group['name']}-2"})  # before any read
    zone_id = of_type(emulator, "Microsoft.Network/privateDnsZones")[0]["id"]
    emulator.arm_page_size = 1
    for listed, pattern in (
        (lambda: clients.arm.zone_links(zone_id), "virtualNetworkLinks$"),  # the generic pipeline
        (lambda: clients.arm.rule_collection_groups(policy_id), "ruleCollectionGroups$"),  # the SDK's pager
    ):
        items = list(listed())
        assert len(items) == 2
        assert emulator.count(pattern) == 2  # one request a page


def test_a_list_that_links_on_for_ever_ends_in_a_decode_error(emulator, clients, monkeypatch):
    monkeypatch.setattr(resource_manager, "MAX_PAGES", 3)
    group = f"/subscriptions/{estate.SUB}/resourceGroups/{estate.HUB_RG}"
    zones = f"{group}/providers/Microsoft.Network/privateDnsZones"
    looping = f'{{"value": [], "nextLink": "{emulator.url}{zones}?api-version=1"}}'
    emulator.faults.append(Fault("privateDnsZones$", 200, times=10, body=looping))
    with pytest.raises(DecodeError, match="more than 3 pages"):
        list(clients.arm.private_dns_zones(group))
    assert emulator.count("privateDnsZones$") == 3
    firewalls = f"{group}/providers/Microsoft.Network/azureFirewalls"
    looping = f'{{"value": [], "nextLink": "{emulator.url}{firewalls}?api-version=1"}}'
    emulator.faults.append(Fault("azureFirewalls$", 200, times=10, body=looping))
    with pytest.raises(DecodeError, match="more than 3 pages"):
        list(clients.arm.firewalls_in_group(group))
    assert emulator.count("azureFirewalls$") == 4  # the SDK's pager asks for the page it then refuses


def test_errors_are_raised_as_the_generated_operations_raise_them(emulator, clients, monkeypatch):
    cluster = emulator.by_name["aks-storefront-prod"].id
    with pytest.raises(ResourceNotFoundError):
        clients.arm.get(cluster.replace("aks-storefront-prod", "aks-gone"))
    emulator.denied_scopes.append(cluster)
    with pytest.raises(HttpResponseError) as denied:
        clients.arm.get(cluster)
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"
    emulator.denied_scopes.clear()
    answers = (
        ("application/json", "{not json", "ARM answered with malformed JSON: invalid JSON at line 1"),
        ("text/plain", "{not json", "ARM answered with malformed JSON"),
        ("application/json", "[1, 2]", "a JSON list, not an object"),
        ("application/json", '{"a": "\\ud800"}' + " " * 4096, None),  # a lone surrogate: read, made printable
    )
    for content_type, body, why in answers:
        emulator.faults.append(
            Fault("aks-storefront-prod$", 200, times=1, body=body, headers={"Content-Type": content_type})
        )
        if why is None:
            assert clients.arm.get(cluster) == {"a": "\ufffd"}
            continue
        with pytest.raises(DecodeError, match=re.escape(why)):
            clients.arm.get(cluster)
    zones = f"/subscriptions/{estate.SUB}/resourceGroups/{estate.HUB_RG}"
    emulator.faults.append(Fault("privateDnsZones$", 200, times=1, body='{"value": {"not": "a list"}}'))
    with pytest.raises(DecodeError, match="value is not an array"):
        list(clients.arm.private_dns_zones(zones))
    for page in ('{"value": {"not": "a list"}}', "[1]", '{"value": [1]}'):  # the SDK's pager parses its pages
        emulator.faults.append(Fault("azureFirewalls$", 200, times=1, body=page))
        with pytest.raises(DecodeError, match="azureFirewalls: ARM answered a page that is not a list of resources"):
            list(clients.arm.firewalls_in_group(zones))
    monkeypatch.setattr(resource_manager, "MAX_ANSWER_BYTES", 1000)
    with pytest.raises(DecodeError, match="more than 1,000 bytes"):
        clients.arm.get(cluster)
    with pytest.raises(resource_manager.ResourceIdError, match="not the ARM id of a top-level resource"):
        clients.arm.get(f"{cluster}/agentPools/system")


def test_a_next_link_off_the_endpoint_is_refused_before_the_token_leaves(emulator, clients) -> None:
    group = f"/subscriptions/{estate.SUB}/resourceGroups/{estate.HUB_RG}"
    elsewhere = '{"value": [], "nextLink": "https://attacker.example/next"}'
    emulator.faults.append(Fault("privateDnsZones$", 200, times=1, body=elsewhere))
    with pytest.raises(
        resource_manager.OffEndpointError, match=r"refused to send the ARM token to https://attacker\.example"
    ):
        list(clients.arm.private_dns_zones(group))
    emulator.faults.append(Fault("azureFirewalls$", 200, times=1, body=elsewhere))
    with pytest.raises(resource_manager.OffEndpointError, match=r"attacker\.example"):
        list(clients.arm.firewalls_in_group(group))  # the SDK's pager: the guard is one of its client's policies
    assert emulator.count("") == 2  # the first pages only
    with pytest.raises(resource_manager.ResourceIdError, match="not the ARM id"):
        clients.arm.get("https://attacker.example/subscriptions/s/resourceGroups/g/providers/a/b/c")
    assert emulator.count("") == 2


def test_a_reference_that_names_no_readable_resource_is_named_unreadable_without_a_request(emulator, clients):
    reader = ArmNetworkReader(clients)
    malformed = f"/subscriptions/{estate.SUB}/resourceGroups//providers/Microsoft.Network/virtualNetworks/vnet-x"
    assert reader.get(malformed) is None
    assert "not the ARM id of a top-level resource" in (reader.why_unreadable(malformed) or "")
    assert emulator.count("") == 0


def test_a_resource_graph_query_is_the_body_the_sdk_model_serializes() -> None:
    for subscriptions, groups, skip_token in ((["s1", "s2"], None, None), (None, ["mg-platform"], "token==")):
        options = QueryRequestOptions(result_format="objectArray", top=resource_graph.PAGE_SIZE, skip_token=skip_token)
        sdk = QueryRequest(query="resources", subscriptions=subscriptions, management_groups=groups, options=options)
        assert resource_graph.query_request("resources", subscriptions, groups, skip_token) == sdk.serialize()
