"""Event Grid events for tests and benchmarks, made from Microsoft's documented sample events
(tests/fixtures/eventgrid-subscription-events.json), and handed to the app as the Functions worker does:
the JSON body decoded by azure.functions' own converter into a real `func.EventGridEvent`."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

SAMPLES = json.loads((Path(__file__).parent / "fixtures" / "eventgrid-subscription-events.json").read_text())
# A service principal's token, as in the documented ResourceActionSuccess sample: an app id, no name or UPN.
SERVICE_PRINCIPAL_CLAIMS: dict[str, str] = SAMPLES["ResourceActionSuccess"]["data"]["claims"]


def managed_identity_claims(name: str, app_id: str, subscription: str) -> dict[str, str]:
    """A user-assigned managed identity's token: the service principal claims plus `xms_mirid`, its resource id."""
    mirid = f"/subscriptions/{subscription}/resourcegroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
    return {**SERVICE_PRINCIPAL_CLAIMS, "appid": app_id, "xms_mirid": mirid}


def resource_event(
    resource_id: str,
    operation: str,
    kind: str = "ResourceWriteSuccess",
    claims: dict[str, str] | None = None,
    event_id: str | None = None,
    when: datetime | None = None,
) -> dict[str, Any]:
    """The documented sample of `kind`, about this resource and operation."""
    event = copy.deepcopy(SAMPLES[kind])
    subscription = resource_id.split("/")[2]
    data = event["data"]
    event.update(
        subject=resource_id,
        id=event_id or str(uuid.uuid4()),
        eventTime=(when or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        topic=f"/subscriptions/{subscription}",
    )
    data.update(
        resourceUri=resource_id,
        operationName=operation,
        resourceProvider=resource_id.split("/")[6],
        subscriptionId=subscription,
    )
    data["authorization"].update(scope=resource_id, action=operation)
    if claims is not None:
        data["claims"] = claims
    return event


def delivered(event: dict[str, Any]) -> func.EventGridEvent:
    """What the Functions worker hands an Event Grid trigger for this request body."""
    return EventGridEventInConverter.decode(meta.Datum(json.dumps(event), "json"), trigger_metadata={})
