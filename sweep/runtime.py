"""What the Function app's triggers run with: settings, SDK clients and sinks, built once per process
from the app settings, on first use (never at import time, so the app imports without Azure)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import TokenCredential
from azure.storage.queue import QueueClient

from collect.live.clients import LiveClients
from model.finding import ClusterResult
from publish.appinsights import EventPublisher, configure_exporter
from publish.notify_state import NotificationState
from publish.teams import TeamsSender, WebhookRoutes, notify
from sweep.change_index import ReferenceIndex
from sweep.live import live_clients, settings_clients
from sweep.pending_rechecks import PendingRechecks
from sweep.progress import SweepProgress
from sweep.settings import Settings
from sweep.storage import queue_client, table_client

Notifier = Callable[[Sequence[ClusterResult]], Sequence[Any]]


@dataclass
class Runtime:
    settings: Settings
    clients: LiveClients
    queue: QueueClient
    progress: SweepProgress
    events: EventPublisher | None = None  # None: no APPLICATIONINSIGHTS_CONNECTION_STRING
    notify: Notifier | None = None  # Teams cards on state changes; None: no webhook configured
    flush: Callable[[], Any] = lambda: None  # sends buffered telemetry before a trigger returns
    context: dict[str, Any] = field(default_factory=dict)  # clients every cluster must admit
    references: ReferenceIndex | None = None  # clusters by the network resources they use (change events)
    rechecks: PendingRechecks | None = None  # debounced change-driven rechecks
    teams_state: NotificationState | None = None  # what Teams last heard (None: no webhook configured)

    @classmethod
    def build(cls, settings: Settings, credential: TokenCredential, connection_verify: str | bool = True) -> Runtime:
        clients = live_clients(settings, credential, connection_verify)
        table = table_client(settings, credential)
        runtime = cls(
            settings=settings,
            clients=clients,
            queue=queue_client(settings, credential, settings.queue),
            progress=SweepProgress(table),
            context={"clients": settings_clients(settings)},
            references=ReferenceIndex(table),
        )
        runtime.rechecks = PendingRechecks(table, runtime.queue, settings.recheck_delay_seconds)
        if settings.teams_webhooks or settings.teams_default_webhook:
            state, sender = teams_from_settings(settings, credential)
            runtime.teams_state = state
            runtime.notify = functools.partial(notify, state=state, sender=sender, portal_url=settings.portal_url)
        if settings.app_insights_connection:
            runtime.events, provider = configure_exporter(settings.app_insights_connection)
            runtime.flush = provider.force_flush
        return runtime

    @classmethod
    def from_environment(cls) -> Runtime:
        from azure.identity import DefaultAzureCredential  # the managed identity in Azure (AZURE_CLIENT_ID)

        return cls.build(Settings.from_env(), DefaultAzureCredential())


def teams_from_settings(
    settings: Settings, credential: TokenCredential | None = None
) -> tuple[NotificationState, TeamsSender]:
    """The Teams state table (the app's storage: connection string, or table service URI with the
    credential) and the sender, from the webhook settings."""
    routes = WebhookRoutes.parse(settings.teams_webhooks, settings.teams_default_webhook)
    state = NotificationState(table_client(settings, credential))
    return state, TeamsSender(routes, timeout_seconds=settings.request_timeout_seconds)


class Services:
    """The process's Runtime, built on the first trigger; tests hand in one pointed at local emulators."""

    def __init__(self, build: Callable[[], Runtime]) -> None:
        self._build = build
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def get(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = self._build()
                logging.getLogger(__name__).info("runtime ready: %r", self._runtime.settings)
            return self._runtime

    def use(self, runtime: Runtime) -> None:
        with self._lock:
            self._runtime = runtime
