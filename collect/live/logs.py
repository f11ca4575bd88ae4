"""Log Analytics: the shipped queries, scoped to the cluster resource (`query_resource`), so no
cluster name or user value is ever pasted into KQL text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryStatus

from collect.live.clients import LiveClients
from collect.model import Problem
from collect.queries import query_text

WINDOW = timedelta(minutes=60)


def apiserver_requests(clients: LiveClients, cluster_id: str) -> tuple[list[dict[str, Any]] | None, Problem | None]:
    try:
        response = clients.logs.query_resource(cluster_id, query_text("apiserver-requests"), timespan=WINDOW)
    except HttpResponseError as exc:
        if exc.status_code in (400, 404):
            return None, Problem(
                "unavailable",
                f"no Log Analytics data for the cluster ({exc.status_code}): is kube-audit sent to a workspace?",
            )
        return None, Problem("error", f"Log Analytics query failed: {exc.status_code} {exc.reason}")
    if response.status == LogsQueryStatus.FAILURE:
        return None, Problem("error", f"Log Analytics query failed: {response}")
    tables = response.tables if response.status == LogsQueryStatus.SUCCESS else response.partial_data
    rows = [dict(zip(table.columns, row, strict=True)) for table in tables for row in table.rows]
    return rows, None
