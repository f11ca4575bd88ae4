"""Resource Manager reads, answered as the JSON ARM sent: the design card's management SDKs do the requests.

- azure-mgmt-containerservice reads a cluster and its user credentials, azure-mgmt-network every network
  resource the walk follows by ARM id (VNets with their subnets and peerings, NSGs, route tables, Azure
  Firewalls, firewall policies, IP groups, public IPs, NAT gateways, NICs): their typed operations with
  `stream=True`, which keep the URL template, the api-version of the SDK version, the error map and ARM's
  error decoding (a 404 is a `ResourceNotFoundError`, a 403 an `HttpResponseError` whose `error.code` is
  ARM's), and skip the model deserialisation: the body is read once, here, by the app's bounded loader.
  Their lists (a policy's rule collection groups, a resource group's firewalls) page through the SDK's pager.
- A generic azure-core ARM pipeline (`ArmPipeline`) serves what neither SDK does: private DNS zones and their
  virtual network links (azure-mgmt-privatedns is no runtime dependency: two reads a private cluster, at the
  version `PRIVATE_DNS_API` pins), the diagnostic settings (azure-mgmt-monitor, idem) and Resource Graph (its
  SDK's query operation takes no `stream` and its pages are the app's own loop, `collect/live/resource_graph.py`).

Every pipeline carries the same policies: `EndpointGuardPolicy` first (an id or a nextLink read from an answer
never sends the token off the ARM endpoint), then the caller's per-retry policies (the ARM token-bucket pacing,
or Resource Graph's quota) after azure-core's retry policy. The SDK clients are per subscription, made on
first use and kept for the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.configuration import Configuration
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    DeserializationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.paging import ItemPaged
from azure.core.pipeline import PipelineRequest, policies
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.core.policies import (
    ARMAutoResourceProviderRegistrationPolicy,
    ARMChallengeAuthenticationPolicy,
    ARMHttpLoggingPolicy,
)
from azure.mgmt.network import NetworkManagementClient

from collect.documents import DocumentError, load_json
from model.text import one_line

# The api-version of the reads no runtime SDK serves: what azure-mgmt-privatedns 2.0 sends.
PRIVATE_DNS_API = "2024-06-01"
# Status codes the generated operations map to azure-core's specific errors (the rest: HttpResponseError).
ERROR_MAP: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}
# How many pages of one list a read follows: a list that links on beyond this is an answer gone wrong.
MAX_PAGES = 1000
# The largest body read of one ARM answer: a firewall policy's rule collection group with thousands of rules is
# a few MB; beyond this the answer has gone wrong, and reading it on would cost the process its memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
USER_AGENT = "aks-api-reach"

JsonObject = dict[str, Any]
Client = TypeVar("Client")

# The typed GET of each network type the walk reads by ARM id (the lower-cased type in the id).
NETWORK_GETS: dict[str, Callable[[NetworkManagementClient], Callable[..., Any]]] = {
    "microsoft.network/virtualnetworks": lambda client: client.virtual_networks.get,
    "microsoft.network/networksecuritygroups": lambda client: client.network_security_groups.get,
    "microsoft.network/routetables": lambda client: client.route_tables.get,
    "microsoft.network/azurefirewalls": lambda client: client.azure_firewalls.get,
    "microsoft.network/firewallpolicies": lambda client: client.firewall_policies.get,
    "microsoft.network/ipgroups": lambda client: client.ip_groups.get,
    "microsoft.network/publicipaddresses": lambda client: client.public_ip_addresses.get,
    "microsoft.network/natgateways": lambda client: client.nat_gateways.get,
    "microsoft.network/networkinterfaces": lambda client: client.network_interfaces.get,
    "microsoft.network/virtualhubs": lambda client: client.virtual_hubs.get,
}
# A Virtual WAN hub's child lists the walk reads (`virtualHubs/<hub>/<child>`), by the network SDK's pagers.
HUB_CHILD_LISTS: dict[str, Callable[[NetworkManagementClient], Callable[..., ItemPaged[Any]]]] = {
    "hubVirtualNetworkConnections": lambda client: client.hub_virtual_network_connections.list,
    "routingIntent": lambda client: client.routing_intent.list,
}
MANAGED_CLUSTERS = "microsoft.containerservice/managedclusters"
PRIVATE_DNS_ZONES = "microsoft.network/privatednszones"


class OffEndpointError(AzureError):
    """An id or a nextLink from an answer named a URL off the ARM endpoint (a failure of that read only)."""


class ResourceIdError(ValueError):
    """An id (often read from an answer) that names no resource these reads serve; nothing was sent."""


class EndpointGuardPolicy(policies.SansIOHTTPPolicy[HttpRequest, Any]):
    """Refuses a request to any origin but the endpoint's, before any other policy (so before the token is
    added, and without retrying: a refusal is final). A per-call policy of every ARM pipeline."""

    def __init__(self, endpoint: str) -> None:
        origin = urlsplit(endpoint)
        self._origin = (origin.scheme.lower(), origin.netloc.lower())

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        target = urlsplit(request.http_request.url)
        if (target.scheme.lower(), target.netloc.lower()) != self._origin:
            raise OffEndpointError(
                f"refused to send the ARM token to {target.scheme}://{target.netloc}, not the endpoint"
            )


@dataclass(frozen=True)
class ArmConnection:
    """What every ARM pipeline of a run is built from. `per_retry_policies` go after azure-core's retry policy
    (the ARM bucket pacing, or Resource Graph's quota); `options` are azure-core's keyword options (transport,
    retry_total, connection timeouts...)."""

    credential: TokenCredential
    endpoint: str
    credential_scopes: Sequence[str]
    per_retry_policies: Sequence[policies.SansIOHTTPPolicy[Any, Any]] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


class ArmPipeline:
    """GET and POST by path under the ARM endpoint at an explicit api-version, for what no runtime SDK serves;
    the policies are those the generated management clients put in theirs, without ContentDecodePolicy (the
    answer is read by the bounded loader)."""

    def __init__(self, connection: ArmConnection) -> None:
        options = dict(connection.options)
        config: Configuration[Any, Any] = Configuration(**options)
        pipeline_policies = [
            EndpointGuardPolicy(connection.endpoint),
            policies.RequestIdPolicy(**options),
            policies.HeadersPolicy(**options),
            policies.UserAgentPolicy(sdk_moniker=USER_AGENT, **options),
            policies.ProxyPolicy(**options),
            ARMAutoResourceProviderRegistrationPolicy(),
            policies.RedirectPolicy(**options),
            policies.RetryPolicy(**options),
            ARMChallengeAuthenticationPolicy(connection.credential, *connection.credential_scopes, **options),
            policies.CustomHookPolicy(**options),
            policies.NetworkTraceLoggingPolicy(**options),
            policies.DistributedTracingPolicy(**options),
            policies.SensitiveHeaderCleanupPolicy(**options),
            ARMHttpLoggingPolicy(**options),
        ]
        self._client: ARMPipelineClient[Any, Any] = ARMPipelineClient(
            base_url=connection.endpoint,
            config=config,
            policies=pipeline_policies,
            per_retry_policies=list(connection.per_retry_policies),
            **options,
        )

    def get(self, path: str, api_version: str) -> JsonObject:
        return self._object(self._send(_request("GET", path, api_version)))

    def post(self, path: str, api_version: str, body: Any = None, **options: Any) -> JsonObject:
        """`body`: sent as JSON; `options`: azure-core's per-call options (retry_total, retry_on_methods...)."""
        return self._object(self._send(_request("POST", path, api_version, body), **options))

    def list_items(self, path: str, api_version: str) -> Iterator[JsonObject]:
        """The items of a list (`value`), page after page (`nextLink`), read as they are iterated."""
        request = _request("GET", path, api_version)
        for _ in range(MAX_PAGES):
            page = self._object(self._send(request))
            yield from _items(page, path)
            link = page.get("nextLink")
            if not link:
                return
            request = HttpRequest("GET", str(link))
        raise DecodeError(f"{path}: ARM answered more than {MAX_PAGES} pages")

    def _send(self, request: HttpRequest, **options: Any) -> HttpResponse:
        request.url = self._client.format_url(request.url)
        response = self._client.send_request(request, stream=True, **options)
        if response.status_code != 200:
            response.read()
            map_error(status_code=response.status_code, response=response, error_map=ERROR_MAP)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        return response

    @staticmethod
    def _object(response: HttpResponse) -> JsonObject:
        return read_object(response, response.iter_bytes())


class ResourceManager:
    """Resource Manager reads of a run, by ARM id: the typed operations of azure-mgmt-containerservice and
    azure-mgmt-network where one serves the type, the generic pipeline where none does (said per method).
    Thread-safe; one per run, shared by its threads."""

    def __init__(self, connection: ArmConnection) -> None:
        self._client_options: dict[str, Any] = {
            **connection.options,
            "base_url": connection.endpoint,
            "credential_scopes": list(connection.credential_scopes),
            "per_call_policies": [EndpointGuardPolicy(connection.endpoint)],
            "per_retry_policies": list(connection.per_retry_policies),
            "user_agent": USER_AGENT,
        }
        self._credential = connection.credential
        self._lock = threading.Lock()
        self._container_service: dict[str, ContainerServiceClient] = {}
        self._network: dict[str, NetworkManagementClient] = {}
        self._generic = ArmPipeline(connection)

    def get(self, resource_id: str) -> JsonObject:
        """A cluster or a network resource by its id (a nested id reads its top-level resource's operation only
        when the caller cut it there). Private DNS zones: the generic pipeline (no runtime SDK serves them)."""
        subscription, group, kind, name = _parts(resource_id)
        if kind == MANAGED_CLUSTERS:
            return _typed_read(self._container_service_client(subscription).managed_clusters.get, group, name)
        if kind == PRIVATE_DNS_ZONES:
            return self._generic.get(resource_id, PRIVATE_DNS_API)
        operation = NETWORK_GETS.get(kind)
        if operation is None:
            raise ResourceIdError(f"{resource_id}: no read of {kind} resources")
        return _typed_read(operation(self._network_client(subscription)), group, name)

    def cluster_user_credentials(self, cluster_id: str) -> JsonObject:
        """The cluster's user kubeconfigs (`listClusterUserCredential`, a POST: ARM counts it as a write)."""
        subscription, group, kind, name = _parts(cluster_id)
        if kind != MANAGED_CLUSTERS:
            raise ResourceIdError(f"{cluster_id}: not a managed cluster's id")
        clusters = self._container_service_client(subscription).managed_clusters
        return _typed_read(clusters.list_cluster_user_credentials, group, name)

    def rule_collection_groups(self, policy_id: str) -> Iterator[JsonObject]:
        """A firewall policy's rule collection groups, through the network SDK's pager."""
        subscription, group, _, name = _parts(policy_id)
        pager = self._network_client(subscription).firewall_policy_rule_collection_groups.list(group, name)
        return _paged(pager, f"{policy_id}/ruleCollectionGroups")

    def firewalls_in_group(self, group_id: str) -> Iterator[JsonObject]:
        """The Azure Firewalls of a resource group (`/subscriptions/<s>/resourceGroups/<g>`), through the pager."""
        parts = group_id.split("/")
        if len(parts) != 5 or parts[1].lower() != "subscriptions" or parts[3].lower() != "resourcegroups":
            raise ResourceIdError(f"{group_id}: not a resource group's id")
        pager = self._network_client(parts[2]).azure_firewalls.list(parts[4])
        return _paged(pager, f"{group_id}/providers/Microsoft.Network/azureFirewalls")

    def hub_children(self, hub_id: str, child: str) -> Iterator[JsonObject]:
        """A Virtual WAN hub's `hubVirtualNetworkConnections` or `routingIntent`, through the network SDK's pager."""
        subscription, group, kind, name = _parts(hub_id)
        if kind != "microsoft.network/virtualhubs" or child not in HUB_CHILD_LISTS:
            raise ResourceIdError(f"{hub_id}/{child}: not a virtual hub's child list")
        return _paged(HUB_CHILD_LISTS[child](self._network_client(subscription))(group, name), f"{hub_id}/{child}")

    def service_tags(self, subscription: str, location: str) -> JsonObject:
        """The Service Tag Discovery API's answer for a region (`serviceTags.list`, stream=True: ARM's JSON)."""
        return _typed_read(self._network_client(subscription).service_tags.list, location)

    def private_dns_zones(self, group_id: str) -> Iterator[JsonObject]:
        """The private DNS zones of a resource group: the generic pipeline (no runtime SDK serves them)."""
        return self._generic.list_items(f"{group_id}/providers/Microsoft.Network/privateDnsZones", PRIVATE_DNS_API)

    def zone_links(self, zone_id: str) -> Iterator[JsonObject]:
        """A private DNS zone's virtual network links: the generic pipeline (no runtime SDK serves them)."""
        return self._generic.list_items(f"{zone_id}/virtualNetworkLinks", PRIVATE_DNS_API)

    def list_items(self, path: str, api_version: str) -> Iterator[JsonObject]:
        """A list no runtime SDK serves (a cluster's diagnostic settings), at the caller's api-version."""
        return self._generic.list_items(path, api_version)

    def _container_service_client(self, subscription: str) -> ContainerServiceClient:
        return self._client(self._container_service, ContainerServiceClient, subscription)

    def _network_client(self, subscription: str) -> NetworkManagementClient:
        return self._client(self._network, NetworkManagementClient, subscription)

    def _client(self, made: dict[str, Client], kind: Callable[..., Client], subscription: str) -> Client:
        """The subscription's client of that SDK, made on first use (made once, however many threads ask)."""
        with self._lock:
            client = made.get(subscription)
            if client is None:
                client = made[subscription] = kind(self._credential, subscription, **self._client_options)
        return client


def read_object(response: HttpResponse, chunks: Iterable[bytes]) -> JsonObject:
    """A streamed answer's JSON object, read within `MAX_ANSWER_BYTES` and the loader's bounds."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            response.close()
            raise DecodeError(f"ARM answered more than {MAX_ANSWER_BYTES:,} bytes", response=response)
    try:
        value = load_json(bytes(body))
    except DocumentError as exc:
        raise DecodeError(f"ARM answered with malformed JSON: {exc}", response=response) from None
    if not isinstance(value, dict):
        raise DecodeError(f"ARM answered with a JSON {type(value).__name__}, not an object", response=response)
    return value


def _typed_read(operation: Callable[..., Any], *arguments: str) -> JsonObject:
    """A typed operation's answer as the JSON ARM sent (`stream=True`: no model deserialisation); `arguments`:
    the operation's own (a resource group and a name, or a location)."""
    response, chunks = operation(
        *arguments, stream=True, cls=lambda pipeline, chunks, _: (pipeline.http_response, chunks)
    )
    return read_object(response, chunks)


def _paged(pager: ItemPaged[Any], what: str) -> Iterator[JsonObject]:
    """A pager's items as ARM's JSON (`as_dict`: the models' wire names), at most `MAX_PAGES` pages. The pager
    parses each page into models (no list operation streams), and a page it cannot parse fails in the SDK's
    model code with whatever that raises: one `DecodeError` naming the list here."""
    pages = pager.by_page()
    for number in range(1, MAX_PAGES + 2):
        try:
            page = next(pages, None)
            items = [item.as_dict() for item in page] if page is not None else None
        except (DeserializationError, AttributeError, TypeError, ValueError) as exc:
            raise DecodeError(
                f"{what}: ARM answered a page that is not a list of resources ({one_line(exc)})"
            ) from None
        if items is None:
            return
        if number > MAX_PAGES:
            raise DecodeError(f"{what}: ARM answered more than {MAX_PAGES} pages")
        yield from items


def _items(page: JsonObject, what: str) -> Iterator[JsonObject]:
    items = page.get("value") or []
    if not isinstance(items, list):
        raise DecodeError(f"{what}: ARM answered a list whose value is not an array")
    return (item for item in items if isinstance(item, dict))


def _parts(resource_id: str) -> tuple[str, str, str, str]:
    """(subscription, resource group, lower-cased `<namespace>/<type>`, name) of a top-level resource's id."""
    parts = resource_id.split("/")
    if (
        len(parts) != 9
        or parts[0]
        or parts[1].lower() != "subscriptions"
        or parts[3].lower() != "resourcegroups"
        or parts[5].lower() != "providers"
        or not all(parts[2:9])
    ):
        raise ResourceIdError(f"{resource_id}: not the ARM id of a top-level resource")
    return parts[2], parts[4], f"{parts[6]}/{parts[7]}".lower(), parts[8]


def _request(method: str, path: str, api_version: str, body: Any = None) -> HttpRequest:
    return HttpRequest(method, path, params={"api-version": api_version}, json=body)
