"""Azure Resource Graph: cluster discovery and bulk network reads, paged, in subscription batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from collect.live.clients import LiveClients

SUBSCRIPTION_BATCH = 250  # Resource Graph takes up to 300 subscriptions a query; keep headroom
PAGE_SIZE = 1000  # the service's maximum rows per page

CLUSTERS_QUERY = (
    "resources | where type =~ 'microsoft.containerservice/managedclusters' "
    "| project id, name, type, location, tags, sku, identity, properties, subscriptionId, resourceGroup"
)
NETWORK_TYPES = (
    "microsoft.network/networksecuritygroups",
    "microsoft.network/routetables",
    "microsoft.network/virtualnetworks",
    "microsoft.network/azurefirewalls",
    "microsoft.network/firewallpolicies",
    "microsoft.network/ipgroups",
    "microsoft.network/publicipaddresses",
    "microsoft.network/natgateways",
    "microsoft.network/privatednszones",
    "microsoft.network/privatednszones/virtualnetworklinks",
)
NETWORK_QUERY = (
    f"resources | where type in~ ({', '.join(repr(t) for t in NETWORK_TYPES)}) "
    "| project id, name, type, location, properties"
)


def query(
    clients: LiveClients, text: str, subscriptions: Sequence[str] = (), management_group: str = ""
) -> Iterator[dict[str, Any]]:
    """Every row of a query over the scope: all readable subscriptions when none is named."""
    if management_group:
        yield from _pages(clients, text, None, [management_group])
        return
    if not subscriptions:
        yield from _pages(clients, text, None, None)
        return
    for start in range(0, len(subscriptions), SUBSCRIPTION_BATCH):
        yield from _pages(clients, text, list(subscriptions[start : start + SUBSCRIPTION_BATCH]), None)


def _pages(
    clients: LiveClients, text: str, subscriptions: list[str] | None, groups: list[str] | None
) -> Iterator[dict[str, Any]]:
    skip_token: str | None = None
    while True:
        options = QueryRequestOptions(result_format="objectArray", top=PAGE_SIZE, skip_token=skip_token)
        request = QueryRequest(query=text, subscriptions=subscriptions, management_groups=groups, options=options)
        response = clients.resource_graph.resources(request)
        yield from response.data or []
        skip_token = response.skip_token
        if not skip_token:
            return
