"""Packed results (sweep/cli/packed.py): kept in a temporary file, read back whole, in order, by index and slice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.finding import ClusterResult, Finding, Severity, Status
from sweep.cli.packed import BlobSpool, PackedResults, pack
from tests.builders import make_cluster

texts = st.text(max_size=300)
findings = st.builds(
    lambda check, status, detail, evidence: Finding(
        check, status, Severity.HIGH, "title", detail, "fix", evidence, "https://learn.microsoft.com/azure/aks/"
    ),
    st.sampled_from(["konnectivity-agent", "egress", "alpn"]),
    st.sampled_from(list(Status)),
    texts,
    st.dictionaries(st.text(max_size=10), st.integers() | texts, max_size=4),
)
results = st.builds(
    lambda name, owners, found: ClusterResult(make_cluster(name=name), tuple(owners), tuple(found)),
    st.text(min_size=1, max_size=40),
    st.lists(st.text(max_size=20), max_size=3),
    st.lists(findings, max_size=4),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(results, max_size=12), st.integers(min_value=0, max_value=12), st.integers(min_value=0, max_value=12))
def test_results_read_back_as_they_were_packed_in_order(originals, start, stop) -> None:
    packed = PackedResults(results=originals)
    assert len(packed) == len(originals)
    assert list(packed) == originals
    assert packed[start:stop] == originals[start:stop]
    if originals:
        assert packed[-1] == originals[-1]


def test_spooled_spans_come_before_blobs_and_results() -> None:
    first, second, third = (ClusterResult(make_cluster(name=name), (), ()) for name in ("a", "b", "c"))
    spool = BlobSpool()
    spans = [spool.add(pack(second)), spool.add(pack(first))]
    packed = PackedResults(results=[third], spool=spool, spans=reversed(spans))
    assert [result.cluster.name for result in packed] == ["a", "b", "c"]


def test_blobs_added_from_many_threads_each_read_back_whole() -> None:
    spool = BlobSpool()
    blobs = [bytes([index % 251]) * (index * 37 % 5000 + 1) for index in range(400)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        spans = list(pool.map(spool.add, blobs))
    assert [spool.read(span) for span in spans] == blobs
    assert len({offset for offset, _ in spans}) == len(blobs)  # no two share a place


def test_a_span_past_the_end_of_the_spool_is_an_error_not_a_short_blob() -> None:
    spool = BlobSpool()
    offset, size = spool.add(b"12345")
    with pytest.raises(OSError, match="ended 3 bytes early"):
        spool.read((offset + 3, size))
