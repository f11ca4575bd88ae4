"""Azure Resource Graph: cluster discovery and bulk network reads, paged, in subscription batches.

A query is a POST, which azure-core retries only on 500/503/504 by default: a read timeout, a reset
connection or a 429 without Retry-After would end the sweep. A query changes nothing, so every page is
retried like a GET: `QUERY_RETRIES` times on 408/429/5xx (waiting as long as Retry-After or the quota
headers say, else exponential backoff from `BACKOFF_SECONDS`), timeouts and resets; a page that arrives
malformed is asked again `MALFORMED_PAGE_TRIES` times. Past that budget, `ResourceGraphError` says so in
one line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from azure.core.exceptions import AzureError, ClientAuthenticationError, DecodeError

from collect.live.clients import QUERY_METHODS, LiveClients
from model.text import one_line

SUBSCRIPTION_BATCH = 250  # Resource Graph takes up to 300 subscriptions a query; keep headroom
PAGE_SIZE = 1000  # the service's maximum rows per page
QUERY_RETRIES = 6
BACKOFF_SECONDS = 0.5  # then 1, 2, 4, 8, 16 s: about 30 s of waiting, plus what Retry-After asks
MALFORMED_PAGE_TRIES = 3
RESOURCES = "/providers/Microsoft.ResourceGraph/resources"
RESOURCES_API = "2021-03-01"  # what azure-mgmt-resourcegraph 8.0 sends

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
        rows, skip_token = _page(clients, query_request(text, subscriptions, groups, skip_token))
        yield from rows
        if not skip_token:
            return


class ResourceGraphError(AzureError):
    """Resource Graph kept failing past the retry budget; the message says how, in one line."""


def query_request(
    text: str, subscriptions: list[str] | None, groups: list[str] | None, skip_token: str | None
) -> dict[str, Any]:
    """The body of a query, in the wire format of the SDK's `QueryRequest` (a test holds them equal)."""
    options: dict[str, Any] = {"$top": PAGE_SIZE, "resultFormat": "objectArray", "allowPartialScopes": False}
    if skip_token is not None:
        options["$skipToken"] = skip_token
    request: dict[str, Any] = {"query": text, "options": options}
    if subscriptions is not None:
        request["subscriptions"] = subscriptions
    if groups is not None:
        request["managementGroups"] = groups
    return request


def _page(clients: LiveClients, request: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    attempt = 0
    while True:
        attempt += 1
        try:
            response = clients.resource_graph.post(
                RESOURCES,
                RESOURCES_API,
                body=request,
                retry_on_methods=QUERY_METHODS,
                retry_total=QUERY_RETRIES,
                retry_connect=QUERY_RETRIES,
                retry_read=QUERY_RETRIES,
                retry_status=QUERY_RETRIES,
                retry_backoff_factor=BACKOFF_SECONDS,
            )
            rows = response.get("data")
            rows = rows if rows is not None else []
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ValueError("the page's data is not a list of rows")
            skip_token = response.get("$skipToken")
            if skip_token is not None and not isinstance(skip_token, str):
                raise ValueError("the page's $skipToken is not text")
            return rows, skip_token
        except ClientAuthenticationError:
            raise
        except (DecodeError, ValueError) as exc:
            if attempt == MALFORMED_PAGE_TRIES:
                raise ResourceGraphError(
                    f"Resource Graph answered a malformed page {attempt} times: {one_line(exc)}"
                ) from None
        except AzureError as exc:
            raise ResourceGraphError(f"Resource Graph failed after {QUERY_RETRIES} retries: {one_line(exc)}") from None
