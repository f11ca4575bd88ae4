"""The Function app end to end, through its decorated functions with real azure.functions objects:
timer -> Azurite queue -> workers (and the poison path) -> Application Insights envelopes at a local
ingestion endpoint, and the HTTP check's answers. Azure is the local HTTPS emulator, with the real SDK
clients; storage is Azurite with the real queue and table clients."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import azure.functions as func
import jsonschema
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

import function_app
from checks.registry import CHECK_IDS
from publish.appinsights import FINDING_EVENT, SWEEP_EVENT
from sweep.app import worker
from sweep.app.fanout import interleaved
from sweep.app.messages import ClusterMessage
from sweep.app.runtime import Runtime
from sweep.app.storage import queue_client
from sweep.core.mutes import MuteListError, exemption_source, read_mute_blob
from sweep.core.settings import Settings
from tests.azurite import UnsignedStorageToken
from tests.capture import IngestionCapture
from tests.emulator.server import AzureEmulator, EmulatedCluster, Fault, StaticToken
from tests.functions.harness import DECLARED, FUNCTIONS, QueueHost, drain, wait_for
from tests.webhook_capture import WebhookCapture
from tools import make_example_estate as estate

pytestmark = pytest.mark.azurite
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "publish" / "report.schema.json").read_text())


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[AzureEmulator]:
    raws = [estate.healthy(), estate.ranges_missing_client(), estate.helm_history()]
    network = {r["id"].lower(): r for raw in raws for r in raw.network or []}
    server = AzureEmulator([EmulatedCluster(raw) for raw in raws], list(network.values())).start(tmp_path / "ca.pem")
    yield server
    server.stop()


def http(
    method: str, params: dict[str, str] | None = None, body: bytes = b"", headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """The request as App Service hands it on: by default from a runbook identity holding the app role."""
    headers = principal_headers(RUNBOOK, roles=["AksApiReach.Check"]) if headers is None else headers
    request = func.HttpRequest(
        method, "https://app.example/api/clusters/check", params=params or {}, body=body, headers=headers
    )
    return FUNCTIONS["check_cluster_http"](request)


RUNBOOK = "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"  # the object id of a runbook's managed identity


def principal_headers(object_id: str, roles: list[str]) -> dict[str, str]:
    """X-MS-CLIENT-PRINCIPAL as App Service authentication builds it from an app-only Entra ID token
    (learn.microsoft.com/azure/app-service/configure-authentication-user-identities): its claims after the
    default claim mapping (`oid` and `roles` become URIs, `roles` one claim per role)."""
    claims = [
        {"typ": "aud", "val": "api://aks-api-reach"},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id},
        {"typ": "appid", "val": "0b7f3c1e-2d4a-4e5b-8c6d-9e0f1a2b3c4d"},
        *({"typ": "roles", "val": role} for role in roles),
    ]
    document = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return {
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-ID": object_id,
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    }


# --- metadata -----------------------------------------------------------------------------------------------


def test_the_app_declares_its_five_functions_and_their_bindings() -> None:
    bindings = {f.get_function_name(): json.loads(f.get_function_json())["bindings"] for f in DECLARED}
    assert set(bindings) == {
        "sweep_timer",
        "check_cluster_message",
        "record_poison_message",
        "check_cluster_http",
        "resource_changed",  # tests/functions/test_change_events.py
    }
    (timer,) = bindings["sweep_timer"]
    assert timer["type"] == "timerTrigger" and timer["schedule"] == "%AKS_REACH_SCHEDULE%" and not timer["runOnStartup"]
    (worker,) = bindings["check_cluster_message"]
    assert worker["type"] == "queueTrigger" and worker["queueName"] == "%AKS_REACH_QUEUE%"
    (poison,) = bindings["record_poison_message"]
    assert poison["queueName"] == "%AKS_REACH_QUEUE%-poison"  # where the host moves a message after maxDequeueCount
    assert worker["connection"] == poison["connection"] == "AzureWebJobsStorage"
    trigger, output = bindings["check_cluster_http"]
    assert (
        trigger["type"] == "httpTrigger"
        and trigger["authLevel"] == "ANONYMOUS"
        and trigger["route"] == "clusters/check"
    )
    assert sorted(trigger["methods"]) == ["GET", "POST"] and output["type"] == "http"


def test_in_azure_the_app_uses_its_user_assigned_identity_and_no_credential_chain() -> None:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    from model.errors import SettingsError
    from sweep.app.runtime import app_credential

    azure = {"IDENTITY_ENDPOINT": "http://127.0.0.1:41741/msi/token", "IDENTITY_HEADER": "h"}
    assert isinstance(app_credential({**azure, "AZURE_CLIENT_ID": RUNBOOK}), ManagedIdentityCredential)
    with pytest.raises(SettingsError, match=r"^AZURE_CLIENT_ID is not set"):
        app_credential(azure)
    assert isinstance(app_credential({}), DefaultAzureCredential)  # a workstation's `func start`: az login


def test_host_json_retries_messages_then_poisons_them() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    queues = host["extensions"]["queues"]
    assert host["version"] == "2.0" and queues["maxDequeueCount"] >= 2 and queues["messageEncoding"] == "base64"
    assert "WEBSITE_TIME_ZONE" not in json.dumps(host)  # Flex Consumption runs timers in UTC


# --- a sweep ------------------------------------------------------------------------------------------------


def test_a_timer_sweep_fans_out_and_every_finding_reaches_application_insights(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    FUNCTIONS["sweep_timer"](TimerRequest())
    messages = drain(runtime.queue)
    clusters = {ClusterMessage.parse(m.get_body()).cluster_id.lower() for m in messages}
    assert len(messages) == len(clusters) == 3
    sweep_ids = {ClusterMessage.parse(m.get_body()).sweep_id for m in messages}
    assert len(sweep_ids) == 1

    for message in messages:
        FUNCTIONS["check_cluster_message"](message)
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)

    findings = ingestion.events(FINDING_EVENT)
    assert len(findings) == 3 * len(CHECK_IDS)
    assert {f["sweepId"] for f in findings} == sweep_ids and {f["clusterId"].lower() for f in findings} == clusters
    ranges = next(f for f in findings if f["clusterName"] == "aks-claims-prod" and f["check"] == "authorized-ip-ranges")
    assert ranges["status"] == "fail" and "az aks update" in ranges["remediation"]
    (closing,) = ingestion.events(SWEEP_EVENT)
    assert closing["sweepId"] in sweep_ids and closing["clusters"] == "3"
    assert int(closing["fail"]) == sum(f["status"] == "fail" for f in findings)
    assert sum(int(closing[s]) for s in ("pass", "fail", "warn", "skipped", "error")) == len(findings)


def test_the_timer_queries_each_workspace_once_and_workers_query_no_log_analytics(
    runtime: Runtime, emulator: AzureEmulator, ingestion: IngestionCapture
) -> None:
    emulator.by_name[
        "aks-claims-prod"
    ].workspace = "/subscriptions/x/resourceGroups/r/providers/Microsoft.OperationalInsights/workspaces/gone"
    emulator.faults.append(Fault(r"/workspaces/gone/query$", 403, times=10))  # the timer cannot read this one
    FUNCTIONS["sweep_timer"](TimerRequest())
    messages = {ClusterMessage.parse(m.get_body()).cluster_id.split("/")[-1]: m for m in drain(runtime.queue)}
    carried = {name: ClusterMessage.parse(m.get_body()).audit for name, m in messages.items()}
    assert emulator.count(r"/workspaces/[^/]+/query$") == 2  # the subscription's workspace, and the unreadable one
    assert carried["aks-claims-prod"] is None  # left to its worker
    assert carried["aks-payments-prod"] is not None and carried["aks-payments-prod"].rows
    emulator.requests.clear()
    for message in messages.values():
        FUNCTIONS["check_cluster_message"](message)
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    assert emulator.count(r"/query$") == 1 and emulator.count(r"aks-claims-prod/query$") == 1
    load = {f["clusterName"]: f["status"] for f in ingestion.events(FINDING_EVENT) if f["check"] == "apiserver-load"}
    asked = {  # what each cluster's own query gives: the carried rows judge the same
        name: next(
            f.status.value
            for f in worker.check_cluster(runtime, emulator.by_name[name].id).findings
            if f.check == "apiserver-load"
        )
        for name in messages
    }
    assert load == asked and load["aks-payments-prod"] == "pass"


def test_a_message_that_keeps_failing_is_poisoned_and_its_findings_say_what_happened(
    runtime: Runtime, emulator: AzureEmulator, ingestion: IngestionCapture
) -> None:
    """As Azure runs it: workers pull from the queue; the check of one cluster raises on every delivery, so
    after host.json's maxDequeueCount the host moves its message to the poison queue, whose trigger then
    publishes that cluster's error result with the attempts and the last error the worker recorded."""
    max_dequeue = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]["maxDequeueCount"]
    assert runtime.host.max_dequeue_count == max_dequeue
    emulator.faults.append(Fault(r"GET .*/managedClusters/aks-storefront-prod$", 500, times=1000, retry_after=0))
    FUNCTIONS["sweep_timer"](TimerRequest())
    poison = queue_client(runtime.settings, None, f"{runtime.settings.queue}-poison")
    main = QueueHost(runtime.queue, FUNCTIONS["check_cluster_message"], max_dequeue, poison).run()
    assert (main.succeeded, main.failed, len(main.poisoned)) == (2, max_dequeue, 1)
    assert "aks-storefront-prod" in main.poisoned[0]

    after_poison = QueueHost(poison, FUNCTIONS["record_poison_message"], max_dequeue).run()
    assert (after_poison.succeeded, after_poison.failed) == (1, 0)
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)

    storefront = [f for f in ingestion.events(FINDING_EVENT) if f["clusterName"] == "aks-storefront-prod"]
    assert [f["check"] for f in storefront] == list(CHECK_IDS)  # once: failed deliveries publish nothing
    assert {f["status"] for f in storefront} == {"error"}
    detail = storefront[0]["detail"]
    assert f"failed on each of the {max_dequeue} deliveries of its message (host.json maxDequeueCount)" in detail
    assert f"last error (delivery {max_dequeue}): HttpResponseError: " in detail and "\n" not in detail
    assert "failed 1 times" not in detail
    assert len(ingestion.events(FINDING_EVENT)) == 3 * len(CHECK_IDS)  # 27: no event twice
    (closing,) = ingestion.events(SWEEP_EVENT)
    errors = sum(f["status"] == "error" for f in ingestion.events(FINDING_EVENT))
    assert closing["clusters"] == "3" and int(closing["error"]) == errors >= len(CHECK_IDS)


def sweep_once() -> None:
    FUNCTIONS["sweep_timer"](TimerRequest())
    for message in drain(function_app.services.get().queue):
        FUNCTIONS["check_cluster_message"](message)


def test_owners_hear_of_a_clusters_failures_once_until_they_change(
    runtime: Runtime, webhook: WebhookCapture, emulator: AzureEmulator
) -> None:
    sweep_once()
    (storefront,) = webhook.posts_to("/storefront")  # the helm-history cluster's owner, from its owner tag
    card = storefront.message["attachments"][0]
    assert storefront.message["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    text = json.dumps(card["content"])
    assert "aks-storefront-prod" in text and "helm-history" in text and "--history-max" in text
    assert {post.message["attachments"][0]["content"]["version"] for post in webhook.posts} == {"1.4"}
    platform = webhook.posts_to("/platform")  # owners without a webhook of their own
    assert any("aks-claims-prod" in json.dumps(post.message) for post in platform)
    sent = len(webhook.posts)

    sweep_once()  # nothing changed: no card
    assert len(webhook.posts) == sent

    fixed = emulator.by_name["aks-claims-prod"].raw.cluster
    access = (fixed.get("properties") or fixed)["apiServerAccessProfile"]  # the sample keeps az's flat spelling
    access["authorizedIpRanges"] = []  # ranges removed: open to all
    sweep_once()
    (resolved,) = webhook.posts[sent:]
    assert resolved.path == "/platform" and "authorized-ip-ranges" in json.dumps(resolved.message)


def test_application_insights_receives_the_custom_events_and_nothing_else(
    runtime: Runtime, emulator: AzureEmulator, webhook: WebhookCapture, ingestion: IngestionCapture
) -> None:
    """Every envelope that reaches the ingestion endpoint, through a sweep with Teams cards, failing Azure
    calls, an HTTP check and a rejected request: custom events only, so no dependency, exception or trace
    telemetry (which would carry ARM, Kubernetes and webhook URLs) ever leaves the app."""
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    emulator.faults.append(Fault(r"POST .*aks-storefront-prod/listClusterUserCredential$", 500, times=50))
    sweep_once()
    assert http("GET", {"clusterId": estate.healthy().cluster["id"]}).status_code == 200
    assert http("POST", {}, b"[" * 5000).status_code == 400
    runtime.flush()
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    assert webhook.posts  # the Teams calls happened
    envelopes = list(ingestion.envelopes)
    assert {envelope["name"] for envelope in envelopes} == {"Microsoft.ApplicationInsights.Event"}
    assert {envelope["data"]["baseType"] for envelope in envelopes} == {"EventData"}
    assert {envelope["data"]["baseData"]["name"] for envelope in envelopes} == {FINDING_EVENT, SWEEP_EVENT}
    assert len(envelopes) == (3 + 1) * len(CHECK_IDS) + 1  # three swept clusters, one HTTP check, one sweep
    text = json.dumps(envelopes)
    assert webhook.url("/") not in text and "listClusterUserCredential" not in text
    assert not RequestsInstrumentor().is_instrumented_by_opentelemetry
    assert not URLLib3Instrumentor().is_instrumented_by_opentelemetry


def test_clusters_that_cannot_be_queued_get_their_error_results_from_the_timer(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    runtime.queue.delete_queue()  # the queue is gone: every send fails
    FUNCTIONS["sweep_timer"](TimerRequest())
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    findings = ingestion.events(FINDING_EVENT)
    assert len(findings) == 3 * len(CHECK_IDS) and {f["status"] for f in findings} == {"error"}
    assert "could not be queued for checking" in findings[0]["detail"]
    (closing,) = ingestion.events(SWEEP_EVENT)
    assert closing["clusters"] == "3" and closing["error"] == str(3 * len(CHECK_IDS))


def test_a_discovery_that_keeps_failing_starts_no_sweep_and_logs_one_line(
    runtime: Runtime, emulator: AzureEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # a malformed page past its tries (quicker than a 503 past the backoff budget; both end in ResourceGraphError)
    emulator.faults.append(Fault("ResourceGraph", 200, times=1_000, body='{"data": 5, "count": "x"'))
    FUNCTIONS["sweep_timer"](TimerRequest())  # no exception reaches the host: it would log a traceback
    [line] = [record for record in caplog.records if "sweep not started" in record.getMessage()]
    assert line.getMessage().startswith(
        "sweep not started: cluster discovery failed: Resource Graph answered a malformed"
    )
    assert "\n" not in line.getMessage() and line.exc_info is None
    assert runtime.queue.peek_messages() == []
    emulator.faults.clear()  # the next run sweeps as usual
    FUNCTIONS["sweep_timer"](TimerRequest())
    assert len(runtime.queue.peek_messages(max_messages=32)) == 3


def test_an_unreadable_message_is_dropped_with_one_log_line(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    FUNCTIONS["check_cluster_message"](QueueMessage(body=b'{"version": 1, "sweepId": "x", "clusterId": "y"}'))
    assert any('"sweepId" should be a UUID' in record.getMessage() for record in caplog.records)


def test_a_message_nested_20000_deep_is_its_clusters_error_result_in_the_worker_and_the_poison_handler(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    FUNCTIONS["sweep_timer"](TimerRequest())
    messages = drain(runtime.queue)
    named = json.loads(messages[0].get_body())
    deep = json.dumps({**named, "extra": None}).replace("null", "[" * 20_000 + "]" * 20_000).encode()
    FUNCTIONS["check_cluster_message"](QueueMessage(body=deep))
    FUNCTIONS["record_poison_message"](QueueMessage(body=deep, dequeue_count=5))
    for message in messages[1:]:
        FUNCTIONS["check_cluster_message"](message)
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    deep_findings = [f for f in ingestion.events(FINDING_EVENT) if f["clusterId"] == named["clusterId"]]
    assert deep_findings and {f["status"] for f in deep_findings} == {"error"}
    assert "nested deeper than 64 levels" in deep_findings[0]["detail"]
    (closing,) = ingestion.events(SWEEP_EVENT)
    assert closing["clusters"] == str(len(messages))


# --- the HTTP check -----------------------------------------------------------------------------------------


def test_the_http_check_answers_the_report_document_for_one_cluster(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    cluster_id = estate.ranges_missing_client().cluster["id"]
    response = http("GET", {"clusterId": cluster_id, "clientIps": "198.51.100.7,203.0.113.0/28"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = json.loads(response.get_body())
    jsonschema.validate(document, SCHEMA)
    (cluster,) = document["clusters"]
    assert cluster["id"] == cluster_id and [f["check"] for f in cluster["findings"]] == list(CHECK_IDS)
    ranges = next(f for f in cluster["findings"] if f["check"] == "authorized-ip-ranges")
    assert ranges["status"] == "fail" and "198.51.100.7" in ranges["detail"]
    wait_for(lambda: len(ingestion.events(FINDING_EVENT)) == len(CHECK_IDS))
    assert {f["sweepId"][:9] for f in ingestion.events(FINDING_EVENT)} == {"ondemand-"}


def test_the_http_check_takes_a_json_body(runtime: Runtime) -> None:
    cluster_id = estate.healthy().cluster["id"]
    response = http("POST", body=json.dumps({"clusterId": cluster_id, "clientIps": ["10.1.2.3"]}).encode())
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body())["clusters"][0]["name"] == "aks-payments-prod"


@pytest.mark.parametrize(
    ("params", "body", "error"),
    [
        ({}, b"", "clusterId is required"),
        ({"clusterId": "/subscriptions/x/resourceGroups/rg"}, b"", "clusterId is not an AKS cluster resource id"),
        (
            {
                "clusterId": "https://attacker.example/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a"
            },
            b"",
            "clusterId is not an AKS cluster resource id",
        ),
        (
            {
                "clusterId": "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a/../../x"
            },
            b"",
            "clusterId is not an AKS cluster resource id",
        ),
        ({"clusterId": "x", "verbose": "1"}, b"", "unknown parameter(s): 'verbose'"),
        ({}, b"{not json", "body is not JSON"),
        ({}, b"[1, 2]", "body should be a JSON object"),
        ({}, b"x" * 20000, "body is 20000 bytes"),
        ({"clusterId": "c"}, b'{"clusterId": "c"}', "clusterId is given twice"),
        (
            {},
            json.dumps({"clusterId": estate.healthy().cluster["id"], "clientIps": "10.0.0.1"}).encode(),
            "clientIps should be a list",
        ),
        (
            {"clusterId": estate.healthy().cluster["id"], "clientIps": "10.0.0.1,not-an-ip"},
            b"",
            "'not-an-ip' is not an IP",
        ),
    ],
)
def test_bad_requests_get_400_naming_the_field(
    runtime: Runtime, params: dict[str, str], body: bytes, error: str
) -> None:
    response = http("POST" if body else "GET", params, body)
    assert response.status_code == 400
    assert error in json.loads(response.get_body())["error"]


def test_a_missing_cluster_and_one_the_identity_may_not_read_get_the_same_404_and_a_failing_azure_is_502(
    runtime: Runtime, emulator: AzureEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Two different answers would map which resources the identity can read; the log keeps the difference."""
    caplog.set_level(logging.INFO, logger="sweep.app.http_check")
    cluster_id = estate.healthy().cluster["id"]
    missing = cluster_id.replace("aks-payments-prod", "aks-nowhere")
    absent = http("GET", {"clusterId": missing})
    emulator.faults.append(Fault(r"GET .*/managedClusters/aks-payments-prod$", 403, times=1))
    forbidden = http("GET", {"clusterId": cluster_id})
    assert absent.status_code == forbidden.status_code == 404
    assert json.loads(absent.get_body())["error"] == f"{missing}: no such cluster that this app can check"
    assert json.loads(forbidden.get_body())["error"] == f"{cluster_id}: no such cluster that this app can check"
    assert "the identity is not allowed to read this cluster (403)" in caplog.text
    emulator.faults.append(Fault(r"GET .*/managedClusters/aks-payments-prod$", 500, times=100, retry_after=0))
    failing = http("GET", {"clusterId": cluster_id})
    error = json.loads(failing.get_body())["error"]
    assert failing.status_code == 502 and error.startswith("Azure did not answer") and "\n" not in error


def test_a_slow_azure_answers_504_within_the_budget(runtime: Runtime, emulator: AzureEmulator) -> None:
    function_app.services.use(
        Runtime(**{**runtime.__dict__, "settings": Settings.from_env({"AKS_REACH_HTTP_BUDGET_SECONDS": "0.5"})})
    )
    emulator.faults.append(Fault(r"GET .*/managedClusters/aks-payments-prod$", 0, times=1, delay_seconds=3))
    started = time.monotonic()
    response = http("GET", {"clusterId": estate.healthy().cluster["id"]})
    assert response.status_code == 504 and "did not finish within 0.5 s" in json.loads(response.get_body())["error"]
    assert time.monotonic() - started < 2.5


def test_a_malformed_answer_is_that_sources_error_never_a_missing_cluster(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    pods = r"/k8s/aks-payments-prod/api/v1/namespaces/kube-system/pods$"
    emulator.faults.append(Fault(pods, 200, times=50, body='{"kind": "PodList", "items": [{"spec": {}}]}'))
    response = http("GET", {"clusterId": estate.healthy().cluster["id"]})
    assert response.status_code == 200  # a KeyError inside is not "no such cluster" (404)
    (cluster,) = json.loads(response.get_body())["clusters"]
    by_check = {finding["check"]: finding for finding in cluster["findings"]}
    assert (
        by_check["konnectivity-agent"]["status"] == "error"
        and "metadata.name" in by_check["konnectivity-agent"]["detail"]
    )
    assert by_check["egress-rules"]["status"] == "pass" and cluster["location"] == "westeurope"


def test_a_slow_cluster_does_not_starve_the_checks_of_others(runtime: Runtime, emulator: AzureEmulator) -> None:
    slow_id, other_id = estate.healthy().cluster["id"], estate.ranges_missing_client().cluster["id"]
    emulator.faults.append(Fault(r"GET .*/managedClusters/aks-payments-prod$", 0, times=8, delay_seconds=5))
    with ThreadPoolExecutor(max_workers=8) as callers:
        slow = [callers.submit(http, "GET", {"clusterId": slow_id}) for _ in range(8)]
        wait_for(lambda: emulator.count(r"GET .*/managedClusters/aks-payments-prod$") == 8)
        started = time.monotonic()
        other = http("GET", {"clusterId": other_id})
        assert other.status_code == 200 and time.monotonic() - started < 4  # not queued behind the slow ones
        assert [future.result().status_code for future in slow] == [200] * 8


@pytest.mark.parametrize(
    ("cluster_id", "error"),
    [
        (
            "/\u017fubscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a",
            "not an AKS cluster resource id",
        ),
        (
            "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/\u212aube",
            "not an AKS cluster resource id",
        ),
        (
            "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg./providers/Microsoft.ContainerService/managedClusters/a",
            "not an AKS cluster resource id",
        ),
    ],
)
def test_cluster_ids_follow_azures_naming_rules_not_unicode_case_folding(runtime: Runtime, cluster_id, error) -> None:
    response = http("GET", {"clusterId": cluster_id})
    assert response.status_code == 400 and error in json.loads(response.get_body())["error"]


def test_bodies_beyond_the_parsing_bounds_are_400_and_the_function_key_is_accepted(runtime: Runtime) -> None:
    for body, error in [
        (b"[" * 1000 + b"]" * 1000, "nested deeper than 64 levels"),
        (b"[" * 8000, "nested deeper than 64 levels"),
        (b'{"clusterId": 1e400}', "the number 1e400 is out of range"),
        (b'{"clientIps": ' + b"7" * 5000 + b"}", "has more than 20 digits"),
        (b'{"clusterId": "\xff"}', "not UTF-8"),
    ]:
        response = http("POST", {}, body)
        assert response.status_code == 400 and error in json.loads(response.get_body())["error"], body[:40]
    unknown = http("GET", {"clusterId": "/subscriptions/x", "code": "function-key"})
    assert unknown.status_code == 400 and "not an AKS cluster resource id" in json.loads(unknown.get_body())["error"]


def test_the_timer_interleaves_subscriptions_so_no_subscription_is_drained_first() -> None:
    def cluster(subscription: str, name: str) -> str:
        return f"/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/{name}"

    ids = [
        cluster("a", "1"),
        cluster("a", "2"),
        cluster("a", "3"),
        cluster("b", "1"),
        cluster("c", "1"),
        cluster("c", "2"),
    ]
    order = [(i.split("/")[2], i.rsplit("/", 1)[1]) for i in interleaved(reversed(ids))]
    assert order == [("a", "1"), ("b", "1"), ("c", "1"), ("a", "2"), ("c", "2"), ("a", "3")]


# --- exemptions -------------------------------------------------------------------------------------------------


def use_mute_list(runtime: Runtime, document: dict[str, Any], by_tag: bool = False) -> None:
    settings = replace(runtime.settings, mute_list=json.dumps(document), mute_by_tag=by_tag)
    runtime.exemptions = exemption_source(settings, StaticToken())


def test_a_muted_cluster_reaches_application_insights_muted_and_sends_no_card(
    runtime: Runtime, ingestion: IngestionCapture, webhook: WebhookCapture, caplog: pytest.LogCaptureFixture
) -> None:
    storefront = {
        "name": "oci",
        "checks": ["helm-history"],
        "clusters": ["aks-storefront-prod"],
        "reason": "OCI move",
        "expires": "2099-01-31",
    }
    sandbox = {
        "checks": ["*"],
        "subscriptions": [estate.SUB],
        "clusters": ["aks-sandbox-*"],
        "reason": "rebuilt weekly",
    }
    use_mute_list(runtime, {"mutes": [storefront, sandbox]})
    sweep_once()
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    helm = next(f for f in ingestion.events(FINDING_EVENT) if f["check"] == "helm-history" and f["status"] == "fail")
    assert helm["clusterName"] == "aks-storefront-prod" and helm["muted"] == "true" and helm["muteReason"] == "OCI move"
    (closing,) = ingestion.events(SWEEP_EVENT)
    assert closing["muted"] == "1"
    assert webhook.posts_to("/storefront") == []  # its only failure is muted: no card
    assert webhook.posts_to("/platform")  # the other failing cluster still gets its card
    assert "exemptions: mute list entry 2 matches no cluster (unused)" in caplog.text


def test_the_http_check_answers_with_the_mute(runtime: Runtime) -> None:
    use_mute_list(runtime, {"mutes": [{"checks": ["*"], "subscriptions": [estate.SUB], "reason": "maintenance"}]})
    cluster_id = f"/subscriptions/{estate.SUB}/resourceGroups/rg-aks-storefront-prod/providers/Microsoft.ContainerService/managedClusters/aks-storefront-prod"
    response = http("GET", {"clusterId": cluster_id})
    assert response.status_code == 200, response.get_body()
    document = json.loads(response.get_body())
    jsonschema.validate(document, SCHEMA)
    assert document["summary"]["muted"] == len(CHECK_IDS)
    assert {f["muted"]["reason"] for f in document["clusters"][0]["findings"]} == {"maintenance"}


def test_a_malformed_list_stops_the_app_start_and_a_broken_blob_stops_the_sweep(
    runtime: Runtime, azurite_oauth: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(MuteListError, match=r"^AKS_REACH_MUTE_LIST: entry 1: 'reason' is a required property$"):
        use_mute_list(runtime, {"mutes": [{"checks": ["*"], "clusters": ["x"]}]})
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_bundle))
    blob_url = upload_mute_list(azurite_oauth.azurite, "mutes:\n  - checks: [helm-history]\n    clusters: [x]\n")
    runtime.exemptions = exemption_source(replace(runtime.settings, mute_list_blob=blob_url), UnsignedStorageToken())
    with pytest.raises(MuteListError):
        FUNCTIONS["sweep_timer"](TimerRequest())
    assert runtime.queue.peek_messages() == []  # no sweep started
    assert f"sweep not started: AKS_REACH_MUTE_LIST_BLOB ({blob_url}): entry 1: 'reason' is a required" in caplog.text


def upload_mute_list(azurite: Any, text: str) -> str:
    """A blob in a container of the app's storage, written with the account key (the platform team's upload)."""
    container = "config" + uuid.uuid4().hex[:8]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_container(container).upload_blob("mute-list.yaml", text.encode())
    return f"{azurite.blob_url}/{container}/mute-list.yaml"


@pytest.mark.parametrize("present", [True, False])
def test_the_list_is_read_from_a_blob_with_the_identity(
    azurite_oauth: Any, monkeypatch: pytest.MonkeyPatch, present: bool
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_bundle))
    url = upload_mute_list(azurite_oauth.azurite, (ROOT / "examples" / "mute-list.yaml").read_text())
    if not present:
        url = url.replace("mute-list.yaml", "missing.yaml")
    credential = UnsignedStorageToken()
    rules = read_mute_blob(url, credential)
    assert [rule.label for rule in rules][:1] == (["mute list entry 1 (storefront-helm-history)"] if present else [])
    assert ("https://storage.azure.com/.default",) in credential.scopes  # read with the identity's token
