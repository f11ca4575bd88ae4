"""Resource Manager reads by resource id, answered as the JSON ARM sends: one azure-core ARM pipeline for every
subscription, with the policies the generated management clients put in theirs.

Collection used the typed clients (azure-mgmt-containerservice, -network, -privatedns, -resourcegraph) and
turned every model straight back into its wire-format dict (`as_dict()`): importing their models cost 37 MiB in
every process (azure-mgmt-network alone 28, an eighth of a forked 5,000-cluster sweep's memory) and nothing
else. The requests are the same ones, at the api-versions those SDK versions send; errors are raised as the
generated operations raise them (`map_error`, then `HttpResponseError` with ARM's error format), so a 404 is a
`ResourceNotFoundError` and a 403 names ARM's error code. The SDKs stay test dependencies: tests hold the
bodies both read and send equal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from azure.core.configuration import Configuration
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.pipeline import policies
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.core.policies import (
    ARMAutoResourceProviderRegistrationPolicy,
    ARMChallengeAuthenticationPolicy,
    ARMHttpLoggingPolicy,
)

# The api-version per resource provider (lower-cased namespace): those azure-mgmt-containerservice 41.8,
# azure-mgmt-network 33.1 and azure-mgmt-privatedns 2.0 send. Private DNS zones are Microsoft.Network types
# with their own, older versions.
CONTAINER_SERVICE_API = "2026-08-01"
NETWORK_API = "2026-03-01"
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

JsonObject = dict[str, Any]


def api_version_for(resource_id: str) -> str:
    """The api-version to read a resource by its id: by provider namespace, private DNS apart."""
    lowered = resource_id.lower()
    if "/providers/microsoft.network/privatednszones" in lowered:
        return PRIVATE_DNS_API
    if "/providers/microsoft.containerservice/" in lowered:
        return CONTAINER_SERVICE_API
    return NETWORK_API


class OffEndpointError(AzureError):
    """An id or a nextLink from an answer named a URL off the ARM endpoint (a failure of that read only)."""


class ResourceManager:
    """GET and POST by resource id (a path under the ARM endpoint); answers are JSON objects."""

    def __init__(
        self,
        credential: TokenCredential,
        endpoint: str,
        credential_scopes: Sequence[str],
        per_retry_policies: Sequence[policies.SansIOHTTPPolicy[Any, Any]] = (),
        **options: Any,
    ) -> None:
        """`options`: azure-core's keyword options (transport, retry_total, connection timeouts...)."""
        config: Configuration[Any, Any] = Configuration(**options)
        pipeline_policies = [
            policies.RequestIdPolicy(**options),
            policies.HeadersPolicy(**options),
            policies.UserAgentPolicy(sdk_moniker="aks-api-reach", **options),
            policies.ProxyPolicy(**options),
            # no ContentDecodePolicy: it parses every answer for the typed models' deserializer, and the
            # answer is parsed here once (`_json`)
            ARMAutoResourceProviderRegistrationPolicy(),
            policies.RedirectPolicy(**options),
            policies.RetryPolicy(**options),
            ARMChallengeAuthenticationPolicy(credential, *credential_scopes, **options),
            policies.CustomHookPolicy(**options),
            policies.NetworkTraceLoggingPolicy(**options),
            policies.DistributedTracingPolicy(**options),
            policies.SensitiveHeaderCleanupPolicy(**options),
            ARMHttpLoggingPolicy(**options),
        ]
        origin = urlsplit(endpoint)
        self._origin = (origin.scheme.lower(), origin.netloc.lower())
        self._client: ARMPipelineClient[Any, Any] = ARMPipelineClient(
            base_url=endpoint,
            config=config,
            policies=pipeline_policies,
            per_retry_policies=list(per_retry_policies),
            **options,
        )

    def get(self, resource_id: str, api_version: str | None = None) -> JsonObject:
        return self._json(self.send(_request("GET", resource_id, api_version)))

    def post(self, resource_id: str, api_version: str | None = None, body: Any = None, **options: Any) -> JsonObject:
        """`body`: sent as JSON; `options`: azure-core's per-call options (retry_total, retry_on_methods...)."""
        return self._json(self.send(_request("POST", resource_id, api_version, body), **options))

    def list_items(self, collection_id: str, api_version: str | None = None) -> Iterator[JsonObject]:
        """The items of a list (`value`), page after page (`nextLink`), read as they are iterated."""
        request = _request("GET", collection_id, api_version)
        for _ in range(MAX_PAGES):
            response = self.send(request)
            page = self._json(response)
            items = page.get("value") or []
            if not isinstance(items, list):
                raise DecodeError(
                    f"{collection_id}: ARM answered a list whose value is not an array", response=response
                )
            yield from (item for item in items if isinstance(item, dict))
            link = page.get("nextLink")
            if not link:
                return
            request = HttpRequest("GET", str(link))
        raise DecodeError(f"{collection_id}: ARM answered more than {MAX_PAGES} pages", response=response)

    def send(self, request: HttpRequest, **options: Any) -> HttpResponse:
        """`request` through the pipeline; a relative URL is under the endpoint. No status is checked. An id
        or a nextLink read from an answer never sends the token elsewhere: a URL off the endpoint is refused."""
        request.url = self._client.format_url(request.url)
        target = urlsplit(request.url)
        if (target.scheme.lower(), target.netloc.lower()) != self._origin:
            raise OffEndpointError(
                f"refused to send the ARM token to {target.scheme}://{target.netloc}, not the endpoint"
            )
        return self._client.send_request(request, **options)

    @staticmethod
    def _json(response: HttpResponse) -> JsonObject:
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=ERROR_MAP)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        try:
            body = response.json()
        except ValueError as exc:
            raise DecodeError(f"ARM answered with malformed JSON: {exc}", response=response) from None
        if not isinstance(body, dict):
            raise DecodeError(f"ARM answered with a JSON {type(body).__name__}, not an object", response=response)
        return body


def _request(method: str, resource_id: str, api_version: str | None, body: Any = None) -> HttpRequest:
    version = api_version or api_version_for(resource_id)
    return HttpRequest(method, resource_id, params={"api-version": version}, json=body)
