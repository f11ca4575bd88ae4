"""The storage queue and table of the Function app, from settings: a connection string (Azurite, local
runs) or the service URIs with the managed identity (in Azure; no account keys in settings)."""

from __future__ import annotations

import requests
from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from collect.live.clients import EnvironmentOnceSession
from model.errors import SettingsError
from sweep.core.settings import Settings


def pooled_transport(settings: Settings) -> RequestsTransport:
    """A connection pool as large as the requests a process sends at once (the timer enqueues from
    AKS_REACH_CONCURRENCY threads; an instance runs host.json's messages at once): with the SDK's default of
    10, each request beyond it opens a new TLS connection and drops it after. The environment's proxy settings
    are read once per origin (`EnvironmentOnceSession`): requests reads all of it for every request, a third
    of a millisecond of the timer's CPU per message."""
    session = EnvironmentOnceSession()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, settings.concurrency))
    for scheme in ("https://", "http://"):
        session.mount(scheme, adapter)
    timeout = settings.request_timeout_seconds
    return RequestsTransport(session=session, session_owner=False, connection_timeout=timeout, read_timeout=timeout)


def queue_client(settings: Settings, credential: TokenCredential | None, queue: str) -> QueueClient:
    """Messages are base64 text: what the Functions queue trigger expects by default (host.json messageEncoding)."""
    codec = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": TextBase64DecodePolicy(),
        "transport": pooled_transport(settings),
    }
    if settings.storage_connection:
        return QueueClient.from_connection_string(settings.storage_connection, queue, **codec)
    if settings.storage_queue_uri and credential is not None:
        return QueueClient(settings.storage_queue_uri, queue, credential=credential, **codec)
    raise SettingsError("set AzureWebJobsStorage__queueServiceUri (with the managed identity) or AzureWebJobsStorage")


def table_client(settings: Settings, credential: TokenCredential | None) -> TableClient:
    """The state table, created on first use."""
    transport = {"transport": pooled_transport(settings)}
    if settings.storage_connection:
        service = TableServiceClient.from_connection_string(settings.storage_connection, **transport)
    elif settings.storage_table_uri and credential is not None:
        service = TableServiceClient(settings.storage_table_uri, credential=credential, **transport)
    else:
        raise SettingsError(
            "set AzureWebJobsStorage__tableServiceUri (with the managed identity) or AzureWebJobsStorage"
        )
    return service.create_table_if_not_exists(settings.state_table)
