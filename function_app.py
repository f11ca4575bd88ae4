"""AKS API Reach as an Azure Function app (Python v2 programming model): the table of contents.

- `sweep_timer`: every AKS_REACH_SCHEDULE, discovers the scope's clusters and enqueues one message each.
- `check_cluster_message`: one worker per message checks one cluster (of a sweep, or a recheck after a change).
- `record_poison_message`: a message that failed every retry still publishes that cluster's error result.
- `check_cluster_http`: runbooks check one cluster of the scope now (Entra ID app role, or the function key where
  AKS_REACH_HTTP_AUTH says so: the auth level is read when the host indexes the app).
- `resource_changed`: Event Grid delivers an Azure Resource Manager write or delete; the clusters it can
  affect get a debounced recheck on the same queue, whose failures name the change.
Each body is one call into sweep/; the Runtime (settings, SDK clients, sinks, and the rechecks plugged into
it) is built on first use.
"""

from __future__ import annotations

import os

import azure.functions as func

from sweep.app import fanout, http_check
from sweep.app.http_access import trigger_auth_level
from sweep.app.runtime import Services
from sweep.rechecks import recheck
from sweep.rechecks.plug_in import app_runtime

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
services = Services(app_runtime)  # the app's runtime with change-driven rechecks plugged in

STORAGE = "AzureWebJobsStorage"  # identity-based in Azure (AzureWebJobsStorage__queueServiceUri ...)


@app.timer_trigger(arg_name="timer", schedule="%AKS_REACH_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep_timer(timer: func.TimerRequest) -> None:
    fanout.on_timer(services)


@app.queue_trigger(arg_name="message", queue_name="%AKS_REACH_QUEUE%", connection=STORAGE)
def check_cluster_message(message: func.QueueMessage) -> None:
    recheck.route_message(services.get(), message.get_body(), message.dequeue_count)


@app.queue_trigger(arg_name="message", queue_name="%AKS_REACH_QUEUE%-poison", connection=STORAGE)
def record_poison_message(message: func.QueueMessage) -> None:
    recheck.route_poison(services.get(), message.get_body())


@app.route(route="clusters/check", methods=["GET", "POST"], auth_level=trigger_auth_level(os.environ))
def check_cluster_http(req: func.HttpRequest) -> func.HttpResponse:
    return http_check.handle(services.get(), req)


@app.event_grid_trigger(arg_name="event")
def resource_changed(event: func.EventGridEvent) -> None:
    recheck.on_resource_change(services.get(), event)
