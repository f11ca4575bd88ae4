"""Log Analytics: the shipped queries, scoped to a resource (`query_resource`), so no cluster name or user
value is ever pasted into KQL text.

One cluster (the Function app's worker) is one query scoped to the cluster. A sweep asks each cluster's
diagnostic settings which workspace receives its kube-audit logs and runs the query once per workspace,
scoped to the workspace; the rows carry `_ResourceId`, which splits them by cluster. Log Analytics allows
one user 200 queries per 30 s and 5 at once: 5,000 per-cluster queries would take >= 750 s, while an estate
sending to tens of workspaces needs tens of queries. When the settings or the workspace cannot be read, the
sweep falls back to the per-cluster query.

The Function app does the same in its timer (`from_workspace`): each queue message carries its cluster's
rows, so workers query Log Analytics only for clusters whose settings or workspace the timer could not read.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from azure.core.exceptions import AzureError, HttpResponseError
from azure.monitor.query import LogsQueryStatus

from collect.live.clients import QUERY_METHODS, LiveClients
from collect.queries import query_text
from model.snapshot import Problem

WINDOW = timedelta(minutes=60)
QUERY = "apiserver-requests"
LOGS_CONCURRENCY = 5  # Log Analytics runs at most 5 queries of one user at once, and answers 429 beyond
DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"
AUDIT_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})
AUDIT_CATEGORY_GROUPS = frozenset({"audit", "alllogs"})
RESOURCE_COLUMN = "_ResourceId"

Rows = list[dict[str, Any]]


class AuditRows(NamedTuple):
    """A cluster's audit rows, or why there are none; `scope` says where and when the query ran
    (`RawCluster.log_scopes` form), so an empty answer can name the workspace and the window."""

    rows: Rows | None
    problem: Problem | None = None
    scope: dict[str, Any] | None = None


def query_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last `WINDOW`, as fixed instants: every cluster of a workspace is judged on the same hour."""
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    return end - WINDOW, end


def scope_record(resource_id: str, window: tuple[datetime, datetime]) -> dict[str, Any]:
    start, end = window
    return {
        "scope": resource_id,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "windowMinutes": int(WINDOW.total_seconds() // 60),
    }


def apiserver_requests(clients: LiveClients, cluster_id: str, gate: threading.Semaphore | None = None) -> AuditRows:
    """The audit rows of one cluster, from a query scoped to the cluster."""
    window = query_window()
    try:
        rows = _query(clients, cluster_id, window, gate)
    except HttpResponseError as exc:
        if exc.status_code in (400, 404):
            return AuditRows(
                None,
                Problem(
                    "unavailable",
                    f"no Log Analytics data for the cluster ({exc.status_code}): is kube-audit sent to a workspace?",
                ),
            )
        return AuditRows(None, Problem("error", f"Log Analytics query failed: {exc.status_code} {exc.reason}"))
    except _QueryFailed as exc:
        return AuditRows(None, Problem("error", f"Log Analytics query failed: {exc}"))
    for row in rows:
        row.pop(RESOURCE_COLUMN, None)
    return AuditRows(rows, None, scope_record(cluster_id, window))


def audit_workspace(clients: LiveClients, cluster_id: str) -> str:
    """The workspace a diagnostic setting of the cluster sends kube-audit to; "" when none does."""
    settings = clients.arm.list_items(
        f"{cluster_id}/providers/Microsoft.Insights/diagnosticSettings", DIAGNOSTIC_SETTINGS_API
    )
    for setting in settings:
        properties = setting.get("properties") or {}
        workspace = properties.get("workspaceId")
        if workspace and any(_sends_audit(log) for log in properties.get("logs") or []):
            return str(workspace)
    return ""


def _sends_audit(log: dict[str, Any]) -> bool:
    if not log.get("enabled"):
        return False
    return str(log.get("category") or "").lower() in AUDIT_CATEGORIES or (
        str(log.get("categoryGroup") or "").lower() in AUDIT_CATEGORY_GROUPS
    )


class WorkspaceAuditLogs:
    """A sweep's audit rows: one query per workspace, shared by every cluster sending to it (thread-safe).

    The first cluster of a workspace runs its query; the others wait for it. At most `concurrency` queries
    run at once (`LOGS_CONCURRENCY`, or a process's share of it), so the sweep never meets the concurrency 429.
    """

    def __init__(self, clients: LiveClients, concurrency: int = LOGS_CONCURRENCY) -> None:
        self._clients = clients
        self._gate = threading.BoundedSemaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self._workspace_locks: dict[str, threading.Lock] = {}
        self._by_workspace: dict[str, tuple[dict[str, Rows], tuple[datetime, datetime]] | None] = {}

    def __call__(self, cluster_id: str) -> AuditRows:
        answer = self.from_workspace(cluster_id)
        return answer if answer is not None else apiserver_requests(self._clients, cluster_id, self._gate)

    def from_workspace(self, cluster_id: str) -> AuditRows | None:
        """The cluster's rows from its workspace's shared query; None when its diagnostic settings or its
        workspace cannot be read (then only a query scoped to the cluster can tell)."""
        return self.rows_in(cluster_id, self.workspace_of(cluster_id))

    def workspace_of(self, cluster_id: str) -> str | None:
        """The workspace the cluster's diagnostic settings send kube-audit to ("" when none does); None when
        they cannot be read. One ARM read: a caller with many clusters reads them all before waiting on any
        workspace's query (`rows_in`)."""
        try:
            return audit_workspace(self._clients, cluster_id)
        except (AzureError, ValueError):
            return None

    def rows_in(self, cluster_id: str, workspace: str | None) -> AuditRows | None:
        """The cluster's rows from the shared query of `workspace` (as `workspace_of` named it: the first caller
        of a workspace runs its query, the others wait for it); None when the workspace is unknown or its query
        failed."""
        if workspace is None:
            return None
        if not workspace:
            return AuditRows(
                None,
                Problem(
                    "unavailable", "no diagnostic setting of the cluster sends kube-audit to a Log Analytics workspace"
                ),
            )
        answer = self._workspace_rows(workspace)
        if answer is None:
            return None
        by_cluster, window = answer
        rows = [dict(row) for row in by_cluster.get(cluster_id.lower(), [])]
        return AuditRows(rows, None, scope_record(workspace, window))

    def _workspace_rows(self, workspace: str) -> tuple[dict[str, Rows], tuple[datetime, datetime]] | None:
        key = workspace.lower()
        with self._lock:
            workspace_lock = self._workspace_locks.setdefault(key, threading.Lock())
        with workspace_lock:
            if key not in self._by_workspace:
                self._by_workspace[key] = self._query_workspace(workspace)
            return self._by_workspace[key]

    def _query_workspace(self, workspace: str) -> tuple[dict[str, Rows], tuple[datetime, datetime]] | None:
        window = query_window()
        try:
            rows = _query(self._clients, workspace, window, self._gate)
        except (HttpResponseError, _QueryFailed):
            return None
        by_cluster: dict[str, Rows] = {}
        for row in rows:
            by_cluster.setdefault(str(row.pop(RESOURCE_COLUMN, "")).lower(), []).append(row)
        return by_cluster, window


class _QueryFailed(Exception):
    """The service answered, but the query itself failed."""


def _query(
    clients: LiveClients, resource_id: str, window: tuple[datetime, datetime], gate: threading.Semaphore | None
) -> Rows:
    with gate or contextlib.nullcontext():
        try:
            response = clients.logs.query_resource(
                resource_id, query_text(QUERY), timespan=window, retry_on_methods=QUERY_METHODS
            )
        except (LookupError, TypeError, ValueError) as exc:  # the SDK reading a malformed answer
            raise _QueryFailed(f"malformed answer ({type(exc).__name__}: {exc})") from None
    if response.status == LogsQueryStatus.FAILURE:
        raise _QueryFailed(str(response))
    tables = response.tables if response.status == LogsQueryStatus.SUCCESS else response.partial_data
    rows: Rows = []
    for table in tables or []:
        columns = [str(column) for column in table.columns or []]
        for row in table.rows or []:
            if len(row) != len(columns):
                raise _QueryFailed(f"malformed answer: a row of {len(row)} values for {len(columns)} columns")
            rows.append(dict(zip(columns, row, strict=True)))
    return rows
