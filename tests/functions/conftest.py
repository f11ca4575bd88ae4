"""Fixtures of the Function app tests: the runtime the app builds from its settings, pointed at the local
emulators (each test module brings its own `emulator` estate), and the Teams webhook capture."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import function_app
from sweep.app.runtime import Runtime
from sweep.core.settings import Settings
from sweep.rechecks.plug_in import with_rechecks
from tests.capture import IngestionCapture
from tests.emulator.server import AzureEmulator, StaticToken
from tests.webhook_capture import WebhookCapture
from tools import make_example_estate as estate

RECHECK_DELAY_SECONDS = 1  # change-driven rechecks wait this long (20 s in Azure)


@pytest.fixture
def webhook() -> Iterator[WebhookCapture]:
    with WebhookCapture() as server:
        yield server


@pytest.fixture
def runtime(emulator: AzureEmulator, azurite: Any, ingestion: IngestionCapture, webhook: WebhookCapture) -> Runtime:
    """What the app builds from its settings, pointed at the emulators; fresh queue and table per test."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        {
            "AKS_REACH_ARM_ENDPOINT": emulator.url,
            "AKS_REACH_LOGS_ENDPOINT": f"{emulator.url}/v1",
            "AKS_REACH_SUBSCRIPTIONS": estate.SUB,
            "AKS_REACH_CLIENTS": json.dumps([{"name": "vpn-users", "ips": ["192.0.2.0/25"]}]),
            "AKS_REACH_QUEUE": f"clusters-{suffix}",
            "AKS_REACH_STATE_TABLE": f"state{suffix}",
            "AKS_REACH_REQUEST_TIMEOUT_SECONDS": "5",
            "AKS_REACH_PROBE_TIMEOUT_SECONDS": "2",
            "AKS_REACH_READ_SECRETS": "true",  # off by default; the storefront's owner hears of its Helm history
            "AzureWebJobsStorage": azurite.connection_string,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string(),
            "AKS_REACH_TEAMS_WEBHOOKS": json.dumps({"team-storefront": webhook.url("/storefront")}),
            "AKS_REACH_TEAMS_DEFAULT_WEBHOOK": webhook.url("/platform"),
            "AKS_REACH_RECHECK_DELAY_SECONDS": str(RECHECK_DELAY_SECONDS),
            "WEBSITE_AUTH_ENABLED": "True",  # as App Service sets it when its authentication is on
        }
    )
    built = with_rechecks(Runtime.build(settings, StaticToken(), connection_verify=str(emulator.ca_path)))
    built.queue.create_queue()
    ingestion.clear()
    function_app.services.use(built)
    return built
