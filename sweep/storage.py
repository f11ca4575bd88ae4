"""The storage queue and table of the Function app, from settings: a connection string (Azurite, local
runs) or the service URIs with the managed identity (in Azure; no account keys in settings)."""

from __future__ import annotations

from azure.core.credentials import TokenCredential
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from model.errors import SettingsError
from sweep.settings import Settings


def queue_client(settings: Settings, credential: TokenCredential | None, queue: str) -> QueueClient:
    """Messages are base64 text: what the Functions queue trigger expects by default (host.json messageEncoding)."""
    codec = {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": TextBase64DecodePolicy()}
    if settings.storage_connection:
        return QueueClient.from_connection_string(settings.storage_connection, queue, **codec)
    if settings.storage_queue_uri and credential is not None:
        return QueueClient(settings.storage_queue_uri, queue, credential=credential, **codec)
    raise SettingsError("set AzureWebJobsStorage__queueServiceUri (with the managed identity) or AzureWebJobsStorage")


def table_client(settings: Settings, credential: TokenCredential | None) -> TableClient:
    """The state table, created on first use."""
    timeouts = {
        "connection_timeout": settings.request_timeout_seconds,
        "read_timeout": settings.request_timeout_seconds,
    }
    if settings.storage_connection:
        service = TableServiceClient.from_connection_string(settings.storage_connection, **timeouts)
    elif settings.storage_table_uri and credential is not None:
        service = TableServiceClient(settings.storage_table_uri, credential=credential, **timeouts)
    else:
        raise SettingsError(
            "set AzureWebJobsStorage__tableServiceUri (with the managed identity) or AzureWebJobsStorage"
        )
    return service.create_table_if_not_exists(settings.state_table)
