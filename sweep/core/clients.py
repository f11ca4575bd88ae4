"""The SDK clients a live sweep reads with, made from the settings: one set per process, for the command
line's processes and for the Function app's runtime alike."""

from __future__ import annotations

from azure.core.credentials import TokenCredential

from collect.live.clients import LiveClients
from sweep.core.settings import Settings


def live_clients(
    settings: Settings,
    credential: TokenCredential,
    connection_verify: str | bool = True,
    arm_shared_by: dict[str, int] | None = None,
) -> LiveClients:
    return LiveClients(
        credential,
        arm_endpoint=settings.arm_endpoint,
        logs_endpoint=settings.logs_endpoint,
        timeout_seconds=settings.request_timeout_seconds,
        connection_verify=connection_verify,
        concurrency=settings.concurrency,
        read_secrets=settings.read_secrets,
        use_local_account_token=settings.use_local_account_token,
        kube_max_read_mb=settings.kube_max_read_mb,
        kube_max_objects=settings.kube_max_objects,
        arm_shared_by=dict(arm_shared_by or {}),
    )
