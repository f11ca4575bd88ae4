"""Cluster results kept packed: a command-line sweep of thousands of clusters holds every result until its
report is written (sorted by cluster), and a `ClusterResult` is about 20 kB as Python objects (nine
findings with their texts and evidence) but under 3 kB pickled and compressed. `PackedResults` is the
sequence of them, unpacked one at a time as the report and the exit status read it (0.06 ms each).
The packed results are kept in an anonymous temporary file (`BlobSpool`), not in memory: 10,000 clusters'
are about 29 MB, the largest part of a sweep's memory that grows with the estate.

The pickler sends the model's read-only mappings (`frozen_map`) as plain ones and makes them read-only again
on arrival; the share processes of a sweep (sweep/cli/processes.py) use it for everything they send.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from types import MappingProxyType
from typing import Any, overload

from model.finding import ClusterResult


def dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _plain_mapping}
    pickler.dump(value)
    return buffer.getvalue()


def _plain_mapping(mapping: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _read_only, (dict(mapping),)


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def pack(result: ClusterResult) -> bytes:
    return zlib.compress(dumps(result), 1)  # level 1: most of the gain for a tenth of the CPU


def unpack(blob: bytes) -> ClusterResult:
    result = pickle.loads(zlib.decompress(blob))
    if not isinstance(result, ClusterResult):
        raise TypeError(f"a packed result holds a {type(result).__name__}")
    return result


class BlobSpool:
    """Blobs appended to an anonymous temporary file (removed when closed or collected), read back by the
    span `add` returned. Thread-safe; what it holds in memory is the spans its callers keep."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the spool: its blobs live there
        self._end = 0
        self._lock = threading.Lock()

    def add(self, blob: bytes) -> tuple[int, int]:
        with self._lock:
            self._file.seek(self._end)
            self._file.write(blob)
            span = (self._end, len(blob))
            self._end += len(blob)
        return span

    def read(self, span: tuple[int, int]) -> bytes:
        offset, size = span
        with self._lock:
            self._file.seek(offset)
            blob = self._file.read(size)
        if len(blob) != size:
            raise OSError(f"the result spool ended {size - len(blob)} bytes early")
        return blob


class PackedResults(Sequence[ClusterResult]):
    """Results in the order given, each packed into a spool; reading one unpacks a fresh copy."""

    def __init__(
        self,
        results: Iterable[ClusterResult] = (),
        spool: BlobSpool | None = None,
        spans: Iterable[tuple[int, int]] = (),
    ) -> None:
        """`spool` and `spans`: results already spooled (`spans` in order), before `results`."""
        self._spool = spool or BlobSpool()
        self._spans = [*spans, *(self._spool.add(pack(result)) for result in results)]

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, index: int) -> ClusterResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[ClusterResult]: ...

    def __getitem__(self, index: int | slice) -> ClusterResult | list[ClusterResult]:
        if isinstance(index, slice):
            return [unpack(self._spool.read(span)) for span in self._spans[index]]
        return unpack(self._spool.read(self._spans[index]))

    def __iter__(self) -> Iterator[ClusterResult]:
        return (unpack(self._spool.read(span)) for span in self._spans)
