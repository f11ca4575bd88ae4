"""The SDK clients a live run uses, built from a credential and endpoints (never at import time)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.monitor.query import LogsQueryClient

from collect.live.throttling import ResourceGraphQuotaPolicy

# Microsoft Entra ID server application of every AKS cluster with Entra integration (what kubelogin asks for).
AKS_SERVER_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"


@dataclass
class LiveClients:
    """One set of clients per run; per-subscription ARM clients are made on first use and reused."""

    credential: TokenCredential
    arm_endpoint: str = "https://management.azure.com"
    logs_endpoint: str = "https://api.loganalytics.io/v1"
    timeout_seconds: float = 30.0
    retries: int = 4  # azure-core retries 429 and 5xx, honouring Retry-After, with exponential backoff
    connection_verify: str | bool = True  # a CA bundle path (tests) or True
    _per_subscription: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _options(self) -> dict[str, Any]:
        return {
            "connection_timeout": self.timeout_seconds,
            "read_timeout": self.timeout_seconds,
            "retry_total": self.retries,
            "retry_backoff_factor": 0.5,
            "connection_verify": self.connection_verify,
        }

    def _arm_options(self) -> dict[str, Any]:
        scope = self.arm_endpoint.rstrip("/") + "/.default"
        return {**self._options(), "base_url": self.arm_endpoint, "credential_scopes": [scope]}

    @cached_property
    def resource_graph(self) -> ResourceGraphClient:
        return ResourceGraphClient(
            self.credential, per_retry_policies=[ResourceGraphQuotaPolicy()], **self._arm_options()
        )

    @cached_property
    def logs(self) -> LogsQueryClient:
        return LogsQueryClient(self.credential, endpoint=self.logs_endpoint, **self._options())

    def container_service(self, subscription: str) -> ContainerServiceClient:
        return self._client(ContainerServiceClient, subscription)

    def network(self, subscription: str) -> NetworkManagementClient:
        return self._client(NetworkManagementClient, subscription)

    def private_dns(self, subscription: str) -> PrivateDnsManagementClient:
        return self._client(PrivateDnsManagementClient, subscription)

    def _client(self, kind: type, subscription: str) -> Any:
        key = (kind.__name__, subscription.lower())
        with self._lock:  # sweep threads share one client (and its connection pool) per subscription
            if key not in self._per_subscription:
                self._per_subscription[key] = kind(self.credential, subscription, **self._arm_options())
            return self._per_subscription[key]
