"""The HTTP check for runbooks: `GET|POST /api/clusters/check` checks one cluster now.

Parameters (query string, or a JSON object body): `clusterId` (the cluster's ARM id, required) and
`clientIps` (addresses or CIDRs that must reach the API server: a list in JSON, comma-separated in a
query string). The answer is DESIGN.md's JSON document for that one cluster. The id is validated
strictly and only ever used as an ARM resource path on the configured endpoint: a caller cannot make
the app call a URL of its choosing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError

from collect.parse import clients_from_context
from model.finding import ClusterResult
from publish.json_report import report_document
from sweep.runtime import Runtime
from sweep.worker import check_cluster

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_CLIENT_IPS = 100
PARAMETERS = ("clusterId", "clientIps")
# Azure's own naming rules: subscription GUID, resource group (1-90 of letters, digits, _-.()), cluster name.
CLUSTER_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
    r"/resourceGroups/[-\w.()]{1,90}(?<!\.)"
    r"/providers/Microsoft\.ContainerService/managedClusters/[A-Za-z0-9][-_A-Za-z0-9]{0,62}$",
    re.IGNORECASE,
)
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="http-check")


class BadRequest(ValueError):
    """The request is wrong; the message names the field."""


def handle(runtime: Runtime, request: func.HttpRequest) -> func.HttpResponse:
    try:
        cluster_id, client_ips = read_request(request)
    except BadRequest as exc:
        return _json(400, {"error": str(exc)})
    extra_clients = [{"name": "request", "ips": client_ips}] if client_ips else []
    future = _pool.submit(check_cluster, runtime, cluster_id, extra_clients)
    budget = runtime.settings.http_budget_seconds
    try:
        result = future.result(timeout=budget)
    except FutureTimeout:
        log.warning("check of %s did not finish within %s s", cluster_id, budget)
        return _json(504, {"error": f"the check of {cluster_id} did not finish within {budget:g} s; try again later"})
    except LookupError as exc:
        return _json(404, {"error": str(exc)})
    except AzureError as exc:  # Azure kept failing after the SDK's retries: say so, without a traceback
        log.warning("check of %s failed: %s", cluster_id, exc)
        return _json(
            502, {"error": f"Azure did not answer the check of {cluster_id}: {str(exc).splitlines()[0][:300]}"}
        )
    _publish(runtime, result)
    return _json(200, report_document([result], datetime.now(UTC)))


def read_request(request: func.HttpRequest) -> tuple[str, list[str]]:
    """(cluster id, client IPs) from the query string and the JSON body; BadRequest names what is wrong."""
    values: dict[str, Any] = {}
    for name, value in request.params.items():
        values[name] = value.split(",") if name == "clientIps" else value
    body = request.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    if body.strip():
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body is not JSON") from None
        if not isinstance(document, dict):
            raise BadRequest('body should be a JSON object: {"clusterId": "...", "clientIps": ["..."]}')
        for name, value in document.items():
            if name in values:
                raise BadRequest(f"{name} is given twice (query string and body)")
            values[name] = value
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}; accepted: {', '.join(PARAMETERS)}")
    return _cluster_id(values.get("clusterId")), _client_ips(values.get("clientIps", []))


def _cluster_id(value: Any) -> str:
    if not value:
        raise BadRequest("clusterId is required: the cluster's ARM resource id")
    if not isinstance(value, str) or not CLUSTER_ID.match(value.strip()):
        raise BadRequest(
            "clusterId is not an AKS cluster resource id "
            "(/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>)"
        )
    return value.strip()


def _client_ips(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(ip, str) for ip in value):
        raise BadRequest("clientIps should be a list of IP addresses or CIDRs")
    ips = [ip.strip() for ip in value if ip.strip()]
    if len(ips) > MAX_CLIENT_IPS:
        raise BadRequest(f"clientIps has {len(ips)} entries; at most {MAX_CLIENT_IPS} are accepted")
    try:
        clients_from_context({"clients": [{"name": "request", "ips": ips}]})  # the same rule as context.json
    except ValueError as exc:
        raise BadRequest(f"clientIps: {str(exc).split(': ', 1)[-1]}") from None
    return ips


def _publish(runtime: Runtime, result: ClusterResult) -> None:
    """On-demand checks reach Application Insights under their own id; Teams hears only from sweeps."""
    if runtime.events:
        runtime.events.publish_result(result, f"ondemand-{uuid.uuid4()}")
        runtime.flush()


def _json(status: int, document: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document, indent=2), status_code=status, mimetype="application/json")
