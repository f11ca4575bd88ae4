"""The queue message that asks a worker to check one cluster of a sweep."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from model.arm_ids import parse_cluster_id

VERSION = 1


class MessageError(ValueError):
    """A queue message that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class ClusterMessage:
    sweep_id: str
    cluster_id: str

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, "sweepId": self.sweep_id, "clusterId": self.cluster_id})

    @classmethod
    def parse(cls, body: str | bytes) -> ClusterMessage:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MessageError(f"queue message is not JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("version") != VERSION:
            raise MessageError(f'queue message should be a JSON object with "version": {VERSION}')
        sweep_id, cluster_id = document.get("sweepId"), document.get("clusterId")
        try:
            uuid.UUID(str(sweep_id))
        except ValueError:
            raise MessageError(f'queue message: "sweepId" should be a UUID, not {sweep_id!r}') from None
        if not isinstance(cluster_id, str):
            raise MessageError('queue message: "clusterId" should be an AKS cluster resource id')
        try:
            parse_cluster_id(cluster_id)
        except ValueError as exc:
            raise MessageError(f"queue message: {exc}") from None
        return cls(str(sweep_id), cluster_id)
