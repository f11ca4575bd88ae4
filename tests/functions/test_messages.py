"""The queue message's optional audit rows: carried when they fit, left to the worker when not."""

from __future__ import annotations

import json
import uuid

from collect.live.logs import AuditRows
from model.snapshot import Problem
from sweep.app.messages import AUDIT_BUDGET_BYTES, ClusterMessage
from tools import make_example_estate as estate

CLUSTER = estate.healthy().cluster["id"]
SWEEP = str(uuid.uuid4())


def test_audit_rows_and_problems_round_trip_through_the_message() -> None:
    rows = AuditRows(
        [{"userAgent": "kubectl/v1.30", "verb": "list", "requests": 12, "throttled": 1}], None, {"scope": "w"}
    )
    assert ClusterMessage.parse(ClusterMessage(SWEEP, CLUSTER, rows).to_json()).audit == rows
    missing = AuditRows(None, Problem("unavailable", "no diagnostic setting sends kube-audit"))
    assert ClusterMessage.parse(ClusterMessage(SWEEP, CLUSTER, missing).to_json()).audit == missing
    assert ClusterMessage.parse(ClusterMessage(SWEEP, CLUSTER).to_json()).audit is None


def test_rows_beyond_the_budget_stay_out_so_the_worker_queries_its_cluster() -> None:
    many = [{"userAgent": f"agent-{i}-" + "x" * 80, "verb": "get", "requests": i, "throttled": 0} for i in range(400)]
    text = ClusterMessage(SWEEP, CLUSTER, AuditRows(many, None, None)).to_json()
    assert len(text) < AUDIT_BUDGET_BYTES and ClusterMessage.parse(text).audit is None


def test_a_malformed_audit_is_ignored_not_the_cluster() -> None:
    for audit in ("rows", {"rows": "x"}, {"problem": {"kind": "fatal", "message": "m"}}, [1]):
        body = json.dumps({"version": 1, "sweepId": SWEEP, "clusterId": CLUSTER, "audit": audit})
        parsed = ClusterMessage.parse(body)
        assert parsed.cluster_id == CLUSTER and parsed.audit is None
