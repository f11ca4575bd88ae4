"""The queue message that asks a worker to check one cluster of a sweep."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from collect.documents import DocumentError, load_json
from model.arm_ids import parse_cluster_id

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024  # Queue Storage's limit for one message
_FIELD = r'"{}"\s*:\s*"([^"\\]{{1,600}})"'


class MessageError(ValueError):
    """A queue message that cannot be read; the message says what is wrong with it. When its text still
    names a sweep and a cluster (a body too deep or too large to parse, say), `sweep_id` and `cluster_id`
    carry them, so that cluster still gets its `error` result and its sweep still closes."""

    def __init__(self, message: str, body: str | bytes = b"") -> None:
        super().__init__(message)
        self.sweep_id, self.cluster_id = _named_in(body)


def _named_in(body: str | bytes) -> tuple[str | None, str | None]:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    sweep = re.search(_FIELD.format("sweepId"), text[:MAX_MESSAGE_BYTES])
    cluster = re.search(_FIELD.format("clusterId"), text[:MAX_MESSAGE_BYTES])
    try:
        sweep_id = str(uuid.UUID(sweep[1])) if sweep else None
        cluster_id = cluster[1] if cluster and parse_cluster_id(cluster[1]) else None
    except ValueError:
        return None, None
    return (sweep_id, cluster_id) if sweep_id and cluster_id else (None, None)


@dataclass(frozen=True)
class ClusterMessage:
    sweep_id: str
    cluster_id: str

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, "sweepId": self.sweep_id, "clusterId": self.cluster_id})

    @classmethod
    def parse(cls, body: str | bytes) -> ClusterMessage:
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageError(f"queue message is {len(body):,} bytes; at most {MAX_MESSAGE_BYTES:,} are read", body)
        try:
            document = load_json(body)
        except DocumentError as exc:
            raise MessageError(f"queue message is not readable JSON: {exc}", body) from None
        if not isinstance(document, dict) or document.get("version") != VERSION:
            raise MessageError(f'queue message should be a JSON object with "version": {VERSION}', body)
        sweep_id, cluster_id = document.get("sweepId"), document.get("clusterId")
        try:
            uuid.UUID(str(sweep_id))
        except ValueError:
            raise MessageError(f'queue message: "sweepId" should be a UUID, not {str(sweep_id)[:60]!r}') from None
        if not isinstance(cluster_id, str):
            raise MessageError('queue message: "clusterId" should be an AKS cluster resource id')
        try:
            parse_cluster_id(cluster_id)
        except ValueError as exc:
            raise MessageError(f"queue message: {exc}") from None
        return cls(str(sweep_id), cluster_id)
