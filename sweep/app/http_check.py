"""The HTTP check for runbooks: `GET|POST /api/clusters/check` checks one cluster now.

Parameters (query string, or a JSON object body): `clusterId` (the cluster's ARM id, required) and
`clientIps` (addresses or CIDRs that must reach the API server: a list in JSON, comma-separated in a
query string). The answer is the JSON report (docs/report.md) for that one cluster. The id is validated
strictly and only ever used as an ARM resource path on the configured endpoint: a caller cannot make
the app call a URL of its choosing. Who may call, and for which clusters: sweep/app/http_access.py.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError

from collect.documents import DocumentError, load_json
from collect.live.estate import ClusterNotFound
from collect.parse import clients_from_context
from model.finding import ClusterResult
from publish.json_report import report_document
from sweep.app.http_access import Caller, Refused
from sweep.app.runtime import Runtime
from sweep.app.worker import check_cluster
from sweep.core.mutes import MuteListError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_CLIENT_IPS = 100
PARAMETERS = ("clusterId", "clientIps")
IGNORED_PARAMETERS = (
    "code",
)  # the function key (AKS_REACH_HTTP_AUTH=function-key): the host checks it and passes it on
# Checks still running, those past their budget included. Each runs on its own thread, so a slow cluster never
# holds up another's check; a check past its budget ends when its Azure calls time out (each call is bounded
# by AKS_REACH_REQUEST_TIMEOUT_SECONDS and the SDK's retries). Beyond this many, 503 and Retry-After.
MAX_RUNNING_CHECKS = 64
# Azure's naming rules (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules):
# a subscription GUID; a resource group of 1-90 letters or digits (Unicode, as .NET's Char.IsLetterOrDigit
# says) and -_.() not ending in "."; a cluster name of ASCII letters, digits, - and _, starting with a letter
# or digit. re.ASCII: IGNORECASE must not let U+017F (long s) stand for "s" or U+212A (Kelvin) for "k".
CLUSTER_ID = re.compile(
    r"^/subscriptions/[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}"
    r"/resourceGroups/(?P<group>[^/]{1,90})"
    r"/providers/Microsoft\.ContainerService/managedClusters/[a-z0-9][-_a-z0-9]{0,62}$",
    re.IGNORECASE | re.ASCII,
)
GROUP_PUNCTUATION = frozenset("-_.()")
_running = threading.BoundedSemaphore(MAX_RUNNING_CHECKS)
ON_DEMAND_SWEEP_PREFIX = "ondemand-"  # events of on-demand checks; the workbook and alerts leave them out of sweeps


class BadRequest(ValueError):
    """The request is wrong; the message names the field."""


class Busy(Exception):
    """Too many checks are still running."""


def handle(runtime: Runtime, request: func.HttpRequest) -> func.HttpResponse:
    """Who calls, then what they ask, then whether the scope allows it: all before any call that reads the
    cluster, so a refused request costs Azure nothing and leaves no trace in the change index."""
    access = runtime.http_access
    try:
        caller = access.caller(request.headers)
        cluster_id, client_ips = read_request(request)
        access.check_scope(caller, cluster_id)
    except Refused as exc:
        log.warning("HTTP check refused (%d): %s", exc.status, exc)
        return _json(exc.status, {"error": str(exc)})
    except BadRequest as exc:
        return _json(400, {"error": str(exc)})
    except AzureError as exc:  # reading the management group's subscriptions
        return _failed(502, "the sweep's management group could not be read", cluster_id, caller, exc)
    log.info("HTTP check of %s by %s", cluster_id, caller)
    extra_clients = [{"name": "request", "ips": client_ips}] if client_ips else []
    budget = runtime.settings.http_budget_seconds
    try:
        result = start(check_cluster, runtime, cluster_id, extra_clients).result(timeout=budget)
    except Busy:
        return _json(503, {"error": f"{MAX_RUNNING_CHECKS} checks are running; try again later"}, retry_after=budget)
    except FutureTimeout:
        log.warning("check of %s by %s did not finish within %s s", cluster_id, caller, budget)
        return _json(504, {"error": f"the check of {cluster_id} did not finish within {budget:g} s; try again later"})
    except (
        ClusterNotFound
    ) as exc:  # the same answer whether it is missing or unreadable: no map of the identity's reach
        log.info("HTTP check of %s by %s: %s", cluster_id, caller, exc)
        return _json(404, {"error": f"{cluster_id}: no such cluster that this app can check"})
    except AzureError as exc:  # Azure kept failing after the SDK's retries: say so, without a traceback
        return _failed(502, f"Azure did not answer the check of {cluster_id}", cluster_id, caller, exc)
    except Exception as exc:  # a defect
        return _failed(500, f"the check of {cluster_id} failed", cluster_id, caller, exc)
    try:
        result = runtime.muted(result)
    except MuteListError as exc:
        return _failed(500, "the app's mute list cannot be used", cluster_id, caller, exc)
    _publish(runtime, result)
    return _json(200, report_document([result], datetime.now(UTC)))


def _failed(status: int, what: str, cluster_id: str, caller: Caller, exc: Exception) -> func.HttpResponse:
    """What failed, and an incident id the log holds with the exception: its type and text stay server-side."""
    incident = str(uuid.uuid4())
    log.error("HTTP check of %s by %s: %s (incident %s)", cluster_id, caller, what, incident, exc_info=exc)
    return _json(
        status, {"error": f"{what}; the app's log holds the details under incident {incident}", "incident": incident}
    )


def start(function: Callable[..., ClusterResult], *args: Any) -> Future[ClusterResult]:
    """`function(*args)` on a thread of its own (daemon: a check past its budget never holds the process)."""
    if not _running.acquire(blocking=False):
        raise Busy
    future: Future[ClusterResult] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # handed to the waiting request, which answers for it
            future.set_exception(exc)
        finally:
            _running.release()

    threading.Thread(target=run, name="http-check", daemon=True).start()
    return future


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
            document = load_json(body)
        except DocumentError as exc:
            raise BadRequest(f"body is not JSON within bounds: {exc}") from None
        if not isinstance(document, dict):
            raise BadRequest('body should be a JSON object: {"clusterId": "...", "clientIps": ["..."]}')
        for name, value in document.items():
            if name in values:
                raise BadRequest(f"{_named(name)} is given twice (query string and body)")
            values[name] = value
    for name in IGNORED_PARAMETERS:
        values.pop(name, None)
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        named = ", ".join(_named(name) for name in unknown[:5])
        raise BadRequest(f"unknown parameter(s): {named}; accepted: {', '.join(PARAMETERS)}")
    return _cluster_id(values.get("clusterId")), _client_ips(values.get("clientIps", []))


def _named(name: str) -> str:
    """A parameter name as the caller sent it, quoted and cut when it is not one we know (one line, always)."""
    return name if name in PARAMETERS else repr(name)[:60]


def _cluster_id(value: Any) -> str:
    if not value:
        raise BadRequest("clusterId is required: the cluster's ARM resource id")
    match = CLUSTER_ID.match(value.strip()) if isinstance(value, str) else None
    group = match["group"] if match else ""
    if not all(char.isalnum() or char in GROUP_PUNCTUATION for char in group) or group.endswith("."):
        match = None
    if not match:
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
        runtime.events.publish_result(result, f"{ON_DEMAND_SWEEP_PREFIX}{uuid.uuid4()}")
        runtime.flush()


def _json(status: int, document: dict[str, Any], retry_after: float | None = None) -> func.HttpResponse:
    headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after else None
    return func.HttpResponse(
        json.dumps(document, indent=2), status_code=status, mimetype="application/json", headers=headers
    )
