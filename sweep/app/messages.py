"""The queue message that asks a worker to check one cluster of a sweep.

`{"version": 1, "sweepId": "<uuid>", "clusterId": "<ARM id>"}`, and, when the timer read the cluster's audit
rows from its workspace's shared query, `"audit": {"rows": [...], "scope": {...}}` (or `"audit": {"problem":
{"kind": "unavailable", "message": "..."}}`): the worker then runs no Log Analytics query of its own. Without
`audit` (an older timer, rows too large for a message, or a workspace the timer could not read) the worker
queries the cluster as before. See docs/function-app-scale.md.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from collect.documents import DocumentError, load_json
from collect.live.logs import AuditRows
from model.arm_ids import parse_cluster_id
from model.snapshot import Problem

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024  # Queue Storage's limit for one message
_FIELD = r'"{}"\s*:\s*"([^"\\]{{1,600}})"'
# A message with audit rows stays under this: the queue holds 64 KiB of base64 text, i.e. 48 KiB of message.
# Larger row sets stay out of the message and the worker queries its cluster itself.
AUDIT_BUDGET_BYTES = 32 * 1024
PROBLEM_KINDS = frozenset({"error", "unavailable"})

log = logging.getLogger(__name__)


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
    audit: AuditRows | None = None  # read by the timer; None: the worker queries the cluster's audit rows

    def to_json(self) -> str:
        document: dict[str, Any] = {"version": VERSION, "sweepId": self.sweep_id, "clusterId": self.cluster_id}
        if self.audit:
            with_audit = json.dumps({**document, "audit": _audit_document(self.audit)}, default=str)
            if len(with_audit.encode()) <= AUDIT_BUDGET_BYTES:
                return with_audit
        return json.dumps(document)

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
        return cls(str(sweep_id), cluster_id, _audit(document.get("audit"), cluster_id))


def _audit_document(audit: AuditRows) -> dict[str, Any]:
    if audit.problem:
        return {"problem": {"kind": audit.problem.kind, "message": audit.problem.message}}
    return {"rows": audit.rows or [], "scope": audit.scope}


def _audit(value: Any, cluster_id: str) -> AuditRows | None:
    """The carried audit rows; a malformed `audit` is ignored (the worker then queries the cluster itself)."""
    if value is None:
        return None
    problem = value.get("problem") if isinstance(value, dict) else None
    if isinstance(problem, dict) and problem.get("kind") in PROBLEM_KINDS and isinstance(problem.get("message"), str):
        return AuditRows(None, Problem(problem["kind"], problem["message"][:600]))
    rows, scope = (value.get("rows"), value.get("scope")) if isinstance(value, dict) else (None, None)
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows) and isinstance(scope, dict | None):
        return AuditRows(rows, None, scope)
    log.warning('queue message of %s: "audit" is neither rows nor a problem; the worker queries it', cluster_id)
    return None
