"""Resource Manager reads by id (collect/live/resource_manager.py) against the emulator: the same bodies the typed
SDK clients read, lists followed page after page, and ARM's errors as the generated operations raise them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import DecodeError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from collect.live import resource_graph, resource_manager
from collect.live.clients import LiveClients
from model.arm_ids import last_segment
from tests.emulator.server import AzureEmulator, EmulatedCluster, Fault, StaticToken
from tools import make_example_estate as estate


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[AzureEmulator]:
    raws = [estate.healthy(), estate.nsg_denies_kubelet(), estate.private_peered_hub(), estate.helm_history()]
    network = {r["id"].lower(): r for raw in raws for r in raw.network or []}
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


def test_a_cluster_and_its_credentials_read_as_the_typed_container_service_client_reads_them(emulator, clients):
    cluster = emulator.by_name["aks-storefront-prod"]
    group, name = cluster.id.split("/")[4], cluster.name
    sdk = typed(ContainerServiceClient, emulator).managed_clusters
    assert clients.arm.get(cluster.id) == sdk.get(group, name).as_dict()
    credentials = clients.arm.post(f"{cluster.id}/listClusterUserCredential")
    kubeconfig = sdk.list_cluster_user_credentials(group, name).kubeconfigs[0]
    assert base64.b64decode(credentials["kubeconfigs"][0]["value"]) == kubeconfig.value  # the model decodes it
    assert emulator.count(r"listClusterUserCredential\?|POST .*listClusterUserCredential") == 2


def test_network_resources_and_lists_read_as_the_typed_network_clients_read_them(emulator, clients):
    nsg = of_type(emulator, "Microsoft.Network/networkSecurityGroups")[0]
    group = nsg["id"].split("/")[4]
    network = typed(NetworkManagementClient, emulator)
    assert clients.arm.get(nsg["id"]) == network.network_security_groups.get(group, nsg["name"]).as_dict()
    zone = of_type(emulator, "Microsoft.Network/privateDnsZones")[0]
    zone_subscription, zone_group = zone["id"].split("/")[2], zone["id"].split("/")[4]
    links = typed(PrivateDnsManagementClient, emulator, zone_subscription).virtual_network_links
    assert list(clients.arm.list_items(f"{zone['id']}/virtualNetworkLinks")) == [
        link.as_dict() for link in links.list(zone_group, last_segment(zone["id"]))
    ]


def test_a_list_is_followed_page_after_page_through_next_links(emulator, clients):
    nsgs = f"/subscriptions/{estate.SUB}/providers/Microsoft.Network/networkSecurityGroups"
    whole = list(clients.arm.list_items(nsgs))
    assert len(whole) >= 3
    emulator.arm_page_size = 1
    before = emulator.count("networkSecurityGroups$")
    assert list(clients.arm.list_items(nsgs)) == whole
    assert emulator.count("networkSecurityGroups$") - before == len(whole)  # one request a page


def test_a_list_that_links_on_for_ever_ends_in_a_decode_error(emulator, clients, monkeypatch):
    monkeypatch.setattr(resource_manager, "MAX_PAGES", 3)
    zones = f"/subscriptions/{estate.SUB}/providers/Microsoft.Network/privateDnsZones"
    looping = f'{{"value": [], "nextLink": "{emulator.url}{zones}?api-version=1"}}'
    emulator.faults.append(Fault("privateDnsZones$", 200, times=10, body=looping))
    with pytest.raises(DecodeError, match="more than 3 pages"):
        list(clients.arm.list_items(zones))
    assert emulator.count("privateDnsZones$") == 3


def test_errors_are_raised_as_the_generated_operations_raise_them(emulator, clients):
    cluster = emulator.by_name["aks-storefront-prod"].id
    with pytest.raises(ResourceNotFoundError):
        clients.arm.get(cluster.replace("aks-storefront-prod", "aks-gone"))
    emulator.denied_scopes.append(cluster)
    with pytest.raises(HttpResponseError) as denied:
        clients.arm.get(cluster)
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"
    emulator.denied_scopes.clear()
    answers = (
        ("application/json", "{not json", "ARM answered with malformed JSON"),
        ("text/plain", "{not json", "ARM answered with malformed JSON"),
        ("application/json", "[1, 2]", "a JSON list, not an object"),
    )
    for content_type, body, why in answers:
        emulator.faults.append(
            Fault("aks-storefront-prod$", 200, times=1, body=body, headers={"Content-Type": content_type})
        )
        with pytest.raises(DecodeError, match=why):
            clients.arm.get(cluster)
    emulator.faults.append(Fault("aks-storefront-prod$", 200, times=1, body='{"value": {"not": "a list"}}'))
    with pytest.raises(DecodeError, match="value is not an array"):
        list(clients.arm.list_items(cluster))


def test_the_api_version_follows_the_provider_of_the_id():
    assert (
        resource_manager.api_version_for(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c"
        )
        == resource_manager.CONTAINER_SERVICE_API
    )
    assert (
        resource_manager.api_version_for(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateDnsZones/z/virtualNetworkLinks"
        )
        == resource_manager.PRIVATE_DNS_API
    )
    assert (
        resource_manager.api_version_for(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/azureFirewalls/f"
        )
        == resource_manager.NETWORK_API
    )


def test_a_resource_graph_query_is_the_body_the_sdk_model_serializes() -> None:
    for subscriptions, groups, skip_token in ((["s1", "s2"], None, None), (None, ["mg-platform"], "token==")):
        options = QueryRequestOptions(result_format="objectArray", top=resource_graph.PAGE_SIZE, skip_token=skip_token)
        sdk = QueryRequest(query="resources", subscriptions=subscriptions, management_groups=groups, options=options)
        assert resource_graph.query_request("resources", subscriptions, groups, skip_token) == sdk.serialize()


def test_an_id_or_next_link_off_the_endpoint_is_refused_before_the_token_leaves(emulator, clients) -> None:
    with pytest.raises(
        resource_manager.OffEndpointError, match=r"refused to send the ARM token to https://attacker\.example"
    ):
        clients.arm.get("https://attacker.example/subscriptions/s/resourceGroups/g")
    zones = f"/subscriptions/{estate.SUB}/providers/Microsoft.Network/privateDnsZones"
    elsewhere = '{"value": [], "nextLink": "https://attacker.example/next"}'
    emulator.faults.append(Fault("privateDnsZones$", 200, times=1, body=elsewhere))
    with pytest.raises(resource_manager.OffEndpointError, match=r"attacker\.example"):
        list(clients.arm.list_items(zones))
    assert emulator.count("") == 1  # the first page only
