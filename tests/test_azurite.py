"""The Azurite fixture: the real storage SDK clients reach its queue, table and blob services."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient

from tests.azurite import Azurite, AzuriteProcess, AzuriteUnavailable, receive_batch


@pytest.mark.azurite
def test_queue_round_trip_with_the_connection_string(azurite: Azurite) -> None:
    with QueueClient.from_connection_string(azurite.connection_string, "fixture-check") as queue:
        queue.create_queue()
        queue.send_message("hello")
        messages = list(queue.receive_messages(max_messages=5))
        assert [message.content for message in messages] == ["hello"]
        queue.delete_queue()


@pytest.mark.azurite
def test_table_round_trip_by_connection_string_and_by_endpoint(azurite: Azurite) -> None:
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        table = service.create_table_if_not_exists("fixturecheck")
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "value": 1})
    credential = AzureNamedKeyCredential(azurite.account_name, azurite.account_key)
    with TableClient(azurite.table_url, "fixturecheck", credential=credential) as table:
        assert table.get_entity("p", "r")["value"] == 1
        table.delete_table()


@pytest.mark.azurite
def test_blob_service_answers(azurite: Azurite) -> None:
    # The Functions host keeps its leases in blobs; the fixture serves them too (no blob SDK here: plain HTTP).
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{azurite.blob_url}?comp=list", timeout=10)
    assert answer.value.code == 403  # an unsigned request, refused by the storage service itself
    assert answer.value.headers["Server"].startswith("Azurite-Blob")


def test_missing_install_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(AzuriteUnavailable, match="make test"):
        AzuriteProcess(binary=tmp_path / "azurite").start()


@pytest.mark.azurite
def test_a_batch_receive_hides_only_its_own_messages(azurite: Azurite) -> None:
    """What the Functions host's queue trigger does: one request for a batch; the rest stay visible to other
    instances (iterating `receive_messages` alone would page through and hide the whole queue)."""
    with QueueClient.from_connection_string(azurite.connection_string, "batch-check") as queue:
        queue.create_queue()
        for number in range(10):
            queue.send_message(str(number))
        assert [m.content for m in receive_batch(queue, 4, visibility_timeout=60)] == ["0", "1", "2", "3"]
        assert len(list(queue.peek_messages(max_messages=32))) == 6
        assert len(receive_batch(queue, 32, visibility_timeout=60)) == 6
        assert receive_batch(queue, 32, visibility_timeout=60) == []
        queue.delete_queue()
