"""What the Function app's triggers run with: settings, SDK clients and sinks, built once per process
from the app settings, on first use (never at import time, so the app imports without Azure)."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from azure.core.credentials import TokenCredential
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from collect.live import resource_graph
from collect.live.clients import LiveClients
from model.errors import SettingsError
from model.finding import ClusterResult
from publish.appinsights import EventPublisher, configure_exporter
from publish.notify_state import NotificationState, SweepRef
from publish.root_cause_card import PrecedingChange
from publish.root_cause_state import RootCauseState
from publish.teams import TeamsSender, WebhookRoutes, notify, notify_root_causes
from sweep.app.bookkeeping import SweepBookkeeping
from sweep.app.http_access import SUBSCRIPTIONS_QUERY, GroupSubscriptions, HttpAccess
from sweep.app.steps import bounded
from sweep.app.storage import queue_client, table_client
from sweep.core.clients import live_clients
from sweep.core.context import settings_layer
from sweep.core.mutes import ExemptionSource, exemption_source
from sweep.core.settings import Settings

log = logging.getLogger(__name__)
Notifier = Callable[[Sequence[ClusterResult], SweepRef], Sequence[Any]]
# Root-cause cards: (sweep, the keys to decide or None for all, the write a recheck answered) -> outcomes.
CauseNotifier = Callable[[SweepRef, Sequence[str] | None, PrecedingChange | None], Sequence[Any]]
HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


class PlugIn(Protocol):
    """What another part adds to the Function app without the app importing it (change-driven rechecks:
    sweep/rechecks/plug_in.py): it hears of every cluster the worker collects, for a sweep, a recheck or
    the HTTP check."""

    def collected(self, cluster_id: str, network: Sequence[dict[str, Any]] | None) -> None:
        """`network`: the network resources the cluster's collection read (None: reading them failed)."""

    def sweep_closed(self, now: datetime) -> None:
        """A sweep closed and its summary went: housekeeping that waits for it (expired rows)."""


PlugInT = TypeVar("PlugInT", bound=PlugIn)


@dataclass(frozen=True)
class HostLimits:
    """What host.json tells the Functions host, which the app's own texts and timings rely on; defaults are
    the host's own (Flex Consumption: 30 minutes of function timeout)."""

    max_dequeue_count: int = 5  # deliveries of a queue message before the host moves it to `<queue>-poison`
    function_timeout: timedelta = timedelta(minutes=30)  # no invocation, the timer's included, runs longer

    @classmethod
    def read(cls, host_json: Path) -> HostLimits:
        try:
            host = json.loads(host_json.read_text())
        except (OSError, ValueError):
            return cls()
        queues = host.get("extensions", {}).get("queues", {}) if isinstance(host, dict) else {}
        count = queues.get("maxDequeueCount") if isinstance(queues, dict) else None
        timeout = _timespan(host.get("functionTimeout")) if isinstance(host, dict) else None
        return cls(
            count if isinstance(count, int) and count > 0 else cls.max_dequeue_count,
            timeout or cls.function_timeout,
        )


def _timespan(value: object) -> timedelta | None:
    """host.json's "hh:mm:ss"; None for anything else (including -1, no limit)."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2})", value) if isinstance(value, str) else None
    return timedelta(hours=int(match[1]), minutes=int(match[2]), seconds=int(match[3])) if match else None


@dataclass
class Runtime:
    settings: Settings
    clients: LiveClients
    queue: QueueClient
    progress: SweepBookkeeping  # which clusters of each sweep are pending, the counts, the one closer
    events: EventPublisher | None = None  # None: no APPLICATIONINSIGHTS_CONNECTION_STRING
    notify: Notifier | None = None  # Teams cards on state changes; None: no webhook configured
    flush: Callable[[], Any] = lambda: None  # sends buffered telemetry before a trigger returns
    context: dict[str, Any] = field(default_factory=dict)  # clients every cluster must admit
    teams_state: NotificationState | None = None  # what Teams last heard (None: no webhook configured)
    root_causes: RootCauseState | None = None  # each root cause's clusters and last card
    notify_causes: CauseNotifier | None = None  # root-cause cards (None: no webhook configured)
    host: HostLimits = field(default_factory=HostLimits)  # from host.json
    exemptions: ExemptionSource = field(default_factory=lambda: ExemptionSource(tuple))  # none by default
    http_access: HttpAccess = field(default_factory=HttpAccess)  # who may call the HTTP check (default: nobody)
    state_table: TableClient | None = None  # the app's state table, which its bookkeeping, sinks and plug-ins share
    plug_ins: list[PlugIn] = field(default_factory=list)  # told of every collected cluster

    def plug_in(self, kind: type[PlugInT]) -> PlugInT:
        """The plug-in of that kind; LookupError when none is plugged in (the triggers were wired without it)."""
        for plugged in self.plug_ins:
            if isinstance(plugged, kind):
                return plugged
        raise LookupError(f"{kind.__name__} is not plugged into this runtime")

    def muted(self, result: ClusterResult) -> ClusterResult:
        """The result with the mute list's and (when allowed) the cluster's own exemptions applied;
        MuteListError when the list cannot be used."""
        (muted,), report = self.exemptions.get().apply([result], datetime.now(UTC).date())
        for line in report.lines()[len(report.unused) :]:  # unused is a sweep-wide verdict: the timer says it
            log.warning("exemptions: %s", line)
        return muted

    @classmethod
    def build(cls, settings: Settings, credential: TokenCredential, connection_verify: str | bool = True) -> Runtime:
        clients = live_clients(settings, credential, connection_verify)
        table = bounded(  # the only request of a build; a store that never answers would hold the trigger
            f"creating the state table {settings.state_table}",
            settings.timer_step_timeout_seconds,
            functools.partial(table_client, settings, credential),
        )
        causes = RootCauseState(table)  # kept with or without Teams: a sweep's events count its root causes
        runtime = cls(
            settings=settings,
            clients=clients,
            queue=queue_client(settings, credential, settings.queue),
            progress=SweepBookkeeping(table),
            context=settings_layer(settings),
            host=HostLimits.read(HOST_JSON),
            exemptions=exemption_source(settings, credential, connection_verify),
            http_access=HttpAccess.from_settings(settings, management_group_subscriptions(clients, settings)),
            root_causes=causes,
            state_table=table,
        )
        if settings.teams_webhooks or settings.teams_default_webhook:
            state, sender = teams_from_settings(settings, table)
            runtime.teams_state = state
            runtime.notify = functools.partial(notify, state=state, sender=sender, portal_url=settings.portal_url)
            runtime.notify_causes = lambda sweep, keys, write: notify_root_causes(
                causes, sweep, sender, settings.portal_url, keys, write
            )
        if settings.app_insights_connection:
            runtime.events, provider = configure_exporter(settings.app_insights_connection)
            runtime.flush = provider.force_flush
        return runtime

    @classmethod
    def from_environment(cls) -> Runtime:
        return cls.build(Settings.from_env(), app_credential(os.environ))


def app_credential(environ: Mapping[str, str]) -> TokenCredential:
    """In Azure, the user-assigned managed identity named by AZURE_CLIENT_ID and nothing else: a credential
    chain could fall back to another identity (environment variables, a system-assigned identity) holding
    other rights. On a workstation (`func start`, no IDENTITY_ENDPOINT), the developer's `az login`."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if not environ.get("IDENTITY_ENDPOINT"):  # set by App Service and Functions where a managed identity serves
        return DefaultAzureCredential()
    client_id = environ.get("AZURE_CLIENT_ID", "").strip()
    if not client_id:
        raise SettingsError("AZURE_CLIENT_ID is not set: in Azure it names the app's user-assigned managed identity")
    return ManagedIdentityCredential(client_id=client_id)


def management_group_subscriptions(clients: LiveClients, settings: Settings) -> GroupSubscriptions | None:
    """The subscriptions of the sweep's management group (Resource Graph), for the HTTP check's scope rule."""
    if not settings.management_group:
        return None
    group = settings.management_group
    return GroupSubscriptions(
        lambda: (
            str(row.get("subscriptionId", "")) for row in resource_graph.query(clients, SUBSCRIPTIONS_QUERY, (), group)
        )
    )


def teams_from_settings(settings: Settings, table: TableClient) -> tuple[NotificationState, TeamsSender]:
    """The Teams state on the app's state table (`sweep.app.storage.table_client`, made once per runtime) and
    the sender, from the webhook settings."""
    routes = WebhookRoutes.parse(settings.teams_webhooks, settings.teams_default_webhook, settings.teams_webhook_hosts)
    return NotificationState(table), TeamsSender(routes, timeout_seconds=settings.request_timeout_seconds)


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
