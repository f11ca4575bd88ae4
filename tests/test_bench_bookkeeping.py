"""The bookkeeping benchmark's two designs on a small estate: the pending rows count every cluster and close
once; the counter-row baseline counts every cluster too (its conflicts are the benchmark's figure)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from bench import bookkeeping

pytestmark = pytest.mark.azurite


def test_both_designs_count_a_small_estate(azurite: Any) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    clusters = bookkeeping.cluster_ids(120)
    assert len(set(clusters)) == 120 and len({c.split("/")[2] for c in clusters}) == 100
    rows = bookkeeping.pending_rows(service.create_table(f"bench{uuid.uuid4().hex[:8]}"), clusters, workers=6)
    assert rows["closers"] == 1 and rows["open_s"] > 0 and rows["count_s"] > 0
    table = service.create_table(f"bench{uuid.uuid4().hex[:8]}")
    counter = bookkeeping.counter_row(table, clusters[:40], workers=6)
    assert table.get_entity("bench", "counter")["done"] == 40 and counter["conflicts"] >= 0
