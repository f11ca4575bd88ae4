"""The SDK clients a live run uses, built from a credential and endpoints (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.credentials import TokenCredential
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.monitor.query import LogsQueryClient
from requests.sessions import merge_setting

from collect.live.io_pool import IoPool
from collect.live.resource_manager import ArmConnection, ArmPipeline, ResourceManager
from collect.live.throttling import ArmBucketPolicy, ResourceGraphQuotaPolicy

# Resource Graph and Log Analytics queries are POSTs that change nothing: retried like GETs on timeouts and
# resets (azure-core retries a POST only on 500/503/504). Passed per call as `retry_on_methods`.
QUERY_METHODS = frozenset({"GET", "HEAD", "POST"})

# Microsoft Entra ID server application of every AKS cluster with Entra integration (what kubelogin asks for).
AKS_SERVER_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"


class _NoNetrcEntry(requests.auth.AuthBase):
    """What an origin without a netrc entry authenticates with: nothing (a request whose `auth` is set is
    not looked up in netrc again)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


NO_NETRC_ENTRY = _NoNetrcEntry()


class EnvironmentOnceSession(requests.Session):
    """A session that reads the proxy settings and the netrc file of the environment once per origin, not
    per request.

    requests reads them for every request: all of `os.environ` twice (`getproxies`), then the NO_PROXY
    match, about a third of a millisecond of CPU, and the netrc file's paths (two `stat`s when there is
    none), tens of thousands of times in a large sweep. A run's environment does not change, so the answer
    for an origin is kept; the merge is requests' own."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self._netrc: dict[tuple[str, str], Any] = {}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if self.trust_env and not request.auth and not self.auth:
            parts = urlsplit(request.url)
            key = (parts.scheme, parts.netloc)
            if key not in self._netrc:  # two threads may both read it: the same answer, kept once
                self._netrc.setdefault(key, requests.utils.get_netrc_auth(request.url) or NO_NETRC_ENTRY)
            request.auth = self._netrc[key]
        return super().prepare_request(request)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        found = self._environment.get(key)
        if found is None:  # two threads may both read it: the same answer, kept once
            found = self._environment.setdefault(key, requests.utils.get_environ_proxies(url, no_proxy=no_proxy))
        if proxies is not None:  # requests merges into the request's own (which win), never into None
            proxies = dict(proxies)
            for scheme, proxy in found.items():
                proxies.setdefault(scheme, proxy)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


@dataclass
class LiveClients:
    """One set of clients per run, made on first use and shared by its threads."""

    credential: TokenCredential
    arm_endpoint: str = "https://management.azure.com"
    logs_endpoint: str = "https://api.loganalytics.io/v1"
    timeout_seconds: float = 30.0
    retries: int = 4  # azure-core retries 429 and 5xx, honouring Retry-After, with exponential backoff
    connection_verify: str | bool = True  # a CA bundle path (tests) or True
    concurrency: int = 8  # clusters collected at once: sizes the connection pool and the I/O executor
    read_secrets: bool = False  # list Helm release Secrets (metadata only); False leaves helm-history skipped
    use_local_account_token: bool = False  # read clusters whose user kubeconfig holds a static (cluster-admin) token
    kube_max_read_mb: int = 32  # per cluster: bytes read from its API server (decompressed), in MiB
    kube_max_objects: int = 25_000  # per cluster: objects read from its API server
    # Subscriptions whose clusters several processes of a sweep collect, with how many (ARM pacing shares).
    arm_shared_by: dict[str, int] = field(default_factory=dict)

    def _options(self) -> dict[str, Any]:
        connection = {
            "connection_timeout": self.timeout_seconds,
            "read_timeout": self.timeout_seconds,
            "connection_verify": self.connection_verify,
        }
        transport = RequestsTransport(session=self._session, session_owner=False, **connection)
        return {**connection, "transport": transport, "retry_total": self.retries, "retry_backoff_factor": 0.5}

    def __post_init__(self) -> None:
        self._session = self._shared_session()
        # Resource Manager reads in every subscription (the management SDKs' clients, one per subscription, and
        # the generic pipeline) share one bucket policy, which paces each subscription apart (it reads the
        # subscription from the URL).
        buckets = ArmBucketPolicy(reserve=self.concurrency, shared_by=self.arm_shared_by)
        self.arm = ResourceManager(self._arm_connection(buckets))
        # Resource Graph is an ARM endpoint with a quota of its own (per user, announced in its headers).
        self.resource_graph = ArmPipeline(self._arm_connection(ResourceGraphQuotaPolicy()))
        self.io = IoPool(self.concurrency)

    def _shared_session(self) -> requests.Session:
        """One HTTP session for every Azure client of the run: connections to Resource Manager and Log
        Analytics are reused across subscriptions, and the pool holds as many as run at once (a smaller pool
        opens a new TLS connection per request beyond it and logs "Connection pool is full")."""
        session = EnvironmentOnceSession()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, 4 * self.concurrency))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _arm_connection(self, pacing: SansIOHTTPPolicy[Any, Any]) -> ArmConnection:
        scope = self.arm_endpoint.rstrip("/") + "/.default"
        return ArmConnection(self.credential, self.arm_endpoint, [scope], [pacing], self._options())

    @cached_property
    def logs(self) -> LogsQueryClient:
        return LogsQueryClient(self.credential, endpoint=self.logs_endpoint, **self._options())
