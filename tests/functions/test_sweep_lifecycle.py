"""A sweep's lifecycle through the app's functions, on Azurite and the Azure emulator: every enqueued
cluster counted exactly once whatever fails between two storage writes, one summary per sweep, no events
twice on redelivery, a sweep past its deadline closed by the next timer run, and no second sweep while
one drains."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableClient
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.identity import ManagedIdentityCredential

import function_app
from checks.registry import CHECK_IDS
from publish.appinsights import FINDING_EVENT, SWEEP_EVENT
from sweep.app import fanout
from sweep.app.bookkeeping import SweepBookkeeping, new_sweep_id
from sweep.app.messages import ClusterMessage
from sweep.app.runtime import Runtime, Services
from sweep.core.clients import live_clients
from sweep.core.mutes import exemption_source
from sweep.core.settings import Settings
from tests.azurite import UnsignedStorageToken
from tests.capture import IngestionCapture
from tests.emulator.server import AzureEmulator, Fault, StaticToken
from tests.faults import FaultyTransport
from tests.functions.harness import FUNCTIONS, QueueHost, drain, wait_for
from tests.functions.test_function_app import emulator  # noqa: F401  (the three sample clusters)
from tools import make_example_estate as estate

pytestmark = pytest.mark.azurite
CLUSTERS = 3


def closing_events(ingestion: IngestionCapture, expected: int = 1) -> list[dict[str, str]]:
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) >= expected)
    return ingestion.events(SWEEP_EVENT)


def assert_counted_once(ingestion: IngestionCapture, repeated_events: bool = False) -> dict[str, str]:
    """One summary counting every cluster once, and one event per finding (with `repeated_events`, a
    result sent again carries the same resultId, so one event per resultId and check)."""
    (closing,) = closing_events(ingestion)
    findings = ingestion.events(FINDING_EVENT)
    distinct = {(f["resultId"], f["check"]): f for f in findings}
    assert len(distinct) == CLUSTERS * len(CHECK_IDS)
    assert (len(findings) > len(distinct)) if repeated_events else (len(findings) == len(distinct))
    assert closing["clusters"] == str(CLUSTERS)
    for status in ("pass", "fail", "warn", "skipped", "error"):
        assert int(closing[status]) == sum(f["status"] == status for f in distinct.values()), status
    return closing


def with_settings(runtime: Runtime, **values: Any) -> Runtime:
    changed = Runtime(**{**runtime.__dict__, "settings": Settings(**{**runtime.settings.__dict__, **values})})
    function_app.services.use(changed)
    return changed


def faulty(runtime: Runtime, azurite: Any) -> FaultyTransport:
    """The runtime's bookkeeping table behind a transport that injects faults (and no SDK retries)."""
    transport = FaultyTransport()
    table = TableClient.from_connection_string(
        azurite.connection_string, runtime.settings.state_table, transport=transport, retry_total=0
    )
    function_app.services.use(Runtime(**{**runtime.__dict__, "progress": SweepBookkeeping(table)}))
    return transport


def run_worker(runtime: Runtime, max_dequeue: int = 5) -> None:
    QueueHost(runtime.queue, FUNCTIONS["check_cluster_message"], max_dequeue).run()


# --- faults between two writes --------------------------------------------------------------------------------

FAULTS = {  # (method, URL pattern, applied but answer lost, the redelivery sends the events again)
    # the count transaction (delete pending + update the shard's count) never reaches the service: the redelivery checks
    # the cluster again and counts it (its events go again, under the same resultId)
    "count refused (503)": ("POST", r"\$batch", False, True),
    # the count is applied but its answer lost: the redelivery finds the cluster counted, sends nothing again
    "count applied, answer lost": ("POST", r"\$batch", True, False),
    # the completion check (the sweep's row, read once a shard is complete) fails after the count: the
    # redelivery closes the sweep
    "completion check refused (503)": ("GET", r"open-sweeps", False, False),
    # the close (conditional update of the sweep's row) fails: the redelivery closes it
    "close refused (503)": ("PATCH", r"open-sweeps", False, False),
    # the close applied, its answer lost: the redelivery, as the closer, sends the summary
    "close applied, answer lost": ("PATCH", r"open-sweeps", True, False),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_each_cluster_counts_once_whatever_fails_between_two_writes(
    fault: str, runtime: Runtime, azurite: Any, ingestion: IngestionCapture
) -> None:
    FUNCTIONS["sweep_timer"](TimerRequest())
    transport = faulty(runtime, azurite)
    method, url, lost_answer, repeated_events = FAULTS[fault]
    rule = transport.fail(method, url, lost_answer, times=1)
    run_worker(runtime)  # four messages at once, as host.json's batchSize; failed ones are redelivered
    assert rule.hits == 1, f"the fault {fault!r} was never injected"
    assert_counted_once(ingestion, repeated_events)
    assert (
        list(
            TableClient.from_connection_string(azurite.connection_string, runtime.settings.state_table).query_entities(
                "PartitionKey eq 'open-sweeps'"
            )
        )
        == []
    )


def test_a_summary_whose_bookkeeping_could_not_be_removed_is_sent_again_under_the_same_sweep_id(
    runtime: Runtime, azurite: Any, ingestion: IngestionCapture
) -> None:
    """At least once where exactly once cannot be had: the summary went out, removing the sweep's rows failed,
    the message is redelivered and the closer sends the same summary again (the workbook keeps one per
    sweepId)."""
    FUNCTIONS["sweep_timer"](TimerRequest())
    transport = faulty(runtime, azurite)
    transport.fail("DELETE", r"open-sweeps", times=1)
    run_worker(runtime)
    closing = closing_events(ingestion, 2)
    assert len(closing) == 2 and closing[0] == closing[1]


def test_a_redelivered_message_sends_no_event_twice(runtime: Runtime, ingestion: IngestionCapture) -> None:
    FUNCTIONS["sweep_timer"](TimerRequest())
    messages = drain(runtime.queue)
    for message in [messages[0], *messages, messages[1]]:  # the host redelivers after lost completions
        FUNCTIONS["check_cluster_message"](message)
    assert_counted_once(ingestion)


def test_a_made_up_cluster_with_an_open_sweep_id_neither_counts_nor_closes_it(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    FUNCTIONS["sweep_timer"](TimerRequest())
    messages = drain(runtime.queue)
    sweep_id = ClusterMessage.parse(messages[0].get_body()).sweep_id
    made_up = estate.healthy().cluster["id"].replace("aks-payments-prod", "aks-made-up")
    for name in ("aks-made-up", "aks-other-made-up", "aks-third-made-up"):
        body = ClusterMessage(sweep_id, made_up.replace("aks-made-up", name)).to_json().encode()
        FUNCTIONS["check_cluster_message"](QueueMessage(body=body))
    assert ingestion.events(FINDING_EVENT) == [] and ingestion.events(SWEEP_EVENT) == []
    assert len(runtime.progress.missing(sweep_id)) == CLUSTERS
    for message in messages:
        FUNCTIONS["check_cluster_message"](message)
    assert_counted_once(ingestion)


# --- the timer -------------------------------------------------------------------------------------------------


def test_a_timer_run_while_a_sweep_drains_starts_no_other(
    runtime: Runtime, ingestion: IngestionCapture, caplog: pytest.LogCaptureFixture
) -> None:
    first = fanout.start_sweep(runtime)
    assert first is not None and first.enqueued == CLUSTERS
    with caplog.at_level(logging.WARNING):
        assert fanout.start_sweep(runtime) is None
    assert (
        f"sweep {first.sweep_id}" in caplog.text
        and f"is still draining, {CLUSTERS} of {CLUSTERS} cluster(s) left" in caplog.text
    )
    assert runtime.queue.get_queue_properties().approximate_message_count == CLUSTERS  # not 6
    run_worker(runtime)
    assert_counted_once(ingestion)
    second = fanout.start_sweep(runtime)  # the first closed: the next run starts a sweep
    assert second is not None and second.sweep_id > first.sweep_id


def test_a_sweep_past_its_deadline_is_closed_by_the_next_timer_run(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    opened = fanout.start_sweep(runtime, datetime.now(UTC) - timedelta(minutes=91))
    assert opened is not None
    stale = drain(runtime.queue)  # its messages wait (or are lost) past the deadline
    FUNCTIONS["check_cluster_message"](stale[0])  # one cluster was checked in time
    assert ingestion.events(SWEEP_EVENT) == []

    reopened = fanout.start_sweep(runtime)
    assert reopened is not None and reopened.enqueued == CLUSTERS  # the closed sweep no longer holds the timer back
    closing = closing_events(ingestion)
    assert [c["sweepId"] for c in closing] == [opened.sweep_id] and closing[0]["clusters"] == str(CLUSTERS)
    late = [f for f in ingestion.events(FINDING_EVENT) if f["sweepId"] == opened.sweep_id and f["status"] == "error"]
    assert len({f["clusterId"] for f in late}) >= CLUSTERS - 1
    overdue = [f for f in late if "not checked within the sweep's deadline (90 minutes" in f["detail"]]
    assert len(overdue) == (CLUSTERS - 1) * len(CHECK_IDS)

    before = len(ingestion.events(FINDING_EVENT))
    for message in stale[1:]:  # the late messages arrive after all: nothing more is published for that sweep
        FUNCTIONS["check_cluster_message"](message)
    assert len(ingestion.events(FINDING_EVENT)) == before


def test_a_sweep_whose_timer_died_before_enqueueing_closes_at_the_next_run(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    """No timer run outlasts host.json's functionTimeout: a sweep older than that whose fan-out never
    finished is dead, and the next run closes it without waiting for the deadline."""
    assert runtime.host.function_timeout == timedelta(minutes=10)
    sweep_id = new_sweep_id(datetime.now(UTC) - timedelta(minutes=11))
    ids = [c.cluster["id"] for c in (estate.healthy(), estate.helm_history(), estate.ranges_missing_client())]
    runtime.progress.open(sweep_id, ids)  # what a timer leaves when it stops before sending any message

    assert fanout.start_sweep(runtime) is not None
    (closing,) = closing_events(ingestion)
    assert closing["sweepId"] == sweep_id and closing["clusters"] == str(CLUSTERS)
    assert closing["error"] == str(CLUSTERS * len(CHECK_IDS))
    details = {f["detail"] for f in ingestion.events(FINDING_EVENT) if f["sweepId"] == sweep_id}
    assert details == {"not checked: the timer run that opened the sweep stopped before sending every message"}
    assert runtime.queue.get_queue_properties().approximate_message_count == CLUSTERS  # the new sweep's


def test_no_read_of_diagnostic_settings_waits_for_a_workspace_query(
    runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    """With a single reader, every cluster's diagnostic settings are read while the first workspace's query is
    still unanswered (a read used to wait for its workspace's query, so the reads queued behind the queries);
    the messages carry the rows once it answers."""
    served: AzureEmulator = request.getfixturevalue("emulator")
    answer = threading.Event()
    held = Fault(r"/workspaces/[^/]+/query$", 0, times=1, hold=answer)
    served.faults.append(held)
    with ThreadPoolExecutor(max_workers=1) as timer:
        run = timer.submit(fanout.start_sweep, with_settings(runtime, concurrency=1))
        wait_for(lambda: served.count(r"diagnosticSettings$") == CLUSTERS)
        assert served.count(r"diagnosticSettings$") == CLUSTERS and not run.done()
        answer.set()
        done = run.result(timeout=30)
    assert done is not None and done.enqueued == CLUSTERS and not held.held_too_long
    carried = [ClusterMessage.parse(message.get_body()).audit for message in drain(runtime.queue)]
    assert len(carried) == CLUSTERS and all(audit is not None for audit in carried)


def test_no_message_goes_before_every_pending_row_is_written_and_a_failed_write_is_closed_next_run(
    runtime: Runtime, azurite: Any, ingestion: IngestionCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """The timer reads the clusters' diagnostic settings while it writes their pending rows; one shard's
    transaction is refused (after the SDK's retries): nothing is sent, and the sweep it opened is closed by the
    next run once no run of the timer can still be sending, its recorded clusters as errors."""
    transport = faulty(runtime, azurite)
    rule = transport.fail("POST", r"\$batch", times=1)
    with caplog.at_level(logging.ERROR):
        FUNCTIONS["sweep_timer"](TimerRequest())
    assert rule.hits == 1
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "could not all be recorded as pending, so no message was sent: " in line and "\n" not in line
    assert runtime.queue.peek_messages() == []
    [opened] = runtime.progress.open_sweeps()
    assert not opened.fanned_out
    recorded = {pending.cluster_id for pending in runtime.progress.missing(opened.sweep_id)}
    assert len(recorded) < CLUSTERS  # the refused shard's clusters were never pending

    later = fanout.start_sweep(runtime, opened.started + runtime.host.function_timeout + timedelta(seconds=1))
    assert later is not None and later.enqueued == CLUSTERS
    (closing,) = closing_events(ingestion)
    assert closing["sweepId"] == opened.sweep_id and closing["clusters"] == str(len(recorded))
    closed = {f["clusterId"] for f in ingestion.events(FINDING_EVENT) if f["sweepId"] == opened.sweep_id}
    assert closed == recorded


def test_a_sweep_still_being_fanned_out_is_left_alone(runtime: Runtime, ingestion: IngestionCapture) -> None:
    sweep_id = new_sweep_id(datetime.now(UTC) - timedelta(minutes=2))
    runtime.progress.open(sweep_id, [estate.healthy().cluster["id"]])  # its timer may still be sending
    assert fanout.start_sweep(runtime) is None
    assert ingestion.events(FINDING_EVENT) == [] and runtime.progress.missing(sweep_id) != []


def test_a_deadline_of_zero_minutes_closes_every_earlier_sweep(runtime: Runtime, ingestion: IngestionCapture) -> None:
    short = with_settings(runtime, sweep_deadline_minutes=0)
    first = fanout.start_sweep(short)
    second = fanout.start_sweep(short)
    assert first is not None and second is not None
    assert [c["sweepId"] for c in closing_events(ingestion)] == [first.sweep_id]


# --- every step before discovery is bounded ----------------------------------------------------------------------

STEP_SECONDS = 1.0


class SilentService:
    """A service that hangs: it accepts connections on 127.0.0.1 and never answers (not even a TLS handshake)
    until closed, when every connection it holds is dropped."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, name="silent-service", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed: the test is over
                return
            self.connections.append(connection)

    def close(self) -> None:
        self._socket.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentService]:
    service = SilentService()
    yield service
    service.close()


def assert_stopped_within_the_bound(
    run: Callable[[], object], served: AzureEmulator, caplog: pytest.LogCaptureFixture, step: str
) -> None:
    """The timer run returned nothing within the step's bound, said which step in one line, and never began
    discovery."""
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        assert run() is None
    assert time.monotonic() - started < STEP_SECONDS + 2
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sweep not started")]
    assert line == (
        f"sweep not started: {step} took longer than {STEP_SECONDS:g} s (AKS_REACH_TIMER_STEP_TIMEOUT_SECONDS)"
    )
    assert served.count("ResourceGraph") == 0  # discovery never began


def assert_stopped_before_discovery(
    runtime: Runtime, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, step: str
) -> None:
    """The run returned within the step's bound, said which step in one line, and opened nothing."""
    served: AzureEmulator = request.getfixturevalue("emulator")
    assert_stopped_within_the_bound(lambda: fanout.start_sweep(runtime), served, caplog, step)
    assert runtime.queue.peek_messages() == []


def test_a_state_table_that_never_answers_stops_the_run_before_discovery_naming_the_step(
    runtime: Runtime,
    request: pytest.FixtureRequest,
    azurite: Any,
    silent: SilentService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hanging = dataclasses.replace(azurite, table_port=silent.port)
    table = TableClient.from_connection_string(hanging.connection_string, runtime.settings.state_table)
    stuck = with_settings(runtime, timer_step_timeout_seconds=STEP_SECONDS)
    stuck.progress = SweepBookkeeping(table)
    assert_stopped_before_discovery(stuck, request, caplog, "reading the open sweeps from the state table")
    assert silent.connections  # the read was sent, and is still waiting for its answer


def test_a_mute_list_blob_that_never_answers_stops_the_run_before_discovery_naming_the_step(
    runtime: Runtime, request: pytest.FixtureRequest, silent: SilentService, caplog: pytest.LogCaptureFixture
) -> None:
    stuck = with_settings(runtime, timer_step_timeout_seconds=STEP_SECONDS)
    blob = f"https://127.0.0.1:{silent.port}/config/mute-list.yaml"
    stuck.exemptions = exemption_source(
        dataclasses.replace(stuck.settings, mute_list_blob=blob), UnsignedStorageToken()
    )
    assert_stopped_before_discovery(stuck, request, caplog, "reading the mute list")
    assert runtime.progress.open_sweeps() == []


def test_an_identity_endpoint_that_never_answers_stops_the_run_before_discovery_naming_the_step(
    runtime: Runtime,
    request: pytest.FixtureRequest,
    silent: SilentService,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Functions host's managed identity endpoint (IDENTITY_ENDPOINT, as App Service and Functions set it)
    accepts the connection and never answers."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{silent.port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "header-of-the-host")
    stuck = with_settings(runtime, timer_step_timeout_seconds=STEP_SECONDS)
    served: AzureEmulator = request.getfixturevalue("emulator")
    stuck.clients = live_clients(stuck.settings, ManagedIdentityCredential(), str(served.ca_path))
    assert_stopped_before_discovery(stuck, request, caplog, "getting the identity's token for Resource Manager")
    assert runtime.progress.open_sweeps() == []


def test_an_identity_endpoint_that_refuses_stops_the_run_before_discovery_in_one_line(
    runtime: Runtime, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there once closed
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "header-of-the-host")
    served: AzureEmulator = request.getfixturevalue("emulator")
    refused = with_settings(runtime, timer_step_timeout_seconds=30.0)
    refused.clients = live_clients(refused.settings, ManagedIdentityCredential(), str(served.ca_path))
    with caplog.at_level(logging.INFO):
        assert fanout.start_sweep(refused) is None
    [line] = [r for r in caplog.records if r.getMessage().startswith("sweep not started")]
    assert line.getMessage().startswith("sweep not started: getting the identity's token for Resource Manager failed: ")
    assert "\n" not in line.getMessage() and line.exc_info is None
    assert served.count("ResourceGraph") == 0 and runtime.progress.open_sweeps() == []


def test_a_state_table_that_never_answers_when_a_process_starts_stops_its_first_timer_run_naming_the_step(
    runtime: Runtime,
    request: pytest.FixtureRequest,
    azurite: Any,
    silent: SilentService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first trigger of a process builds its runtime, which creates the state table: the only request
    before the timer's own steps."""
    served: AzureEmulator = request.getfixturevalue("emulator")
    hanging = dataclasses.replace(azurite, table_port=silent.port).connection_string
    settings = dataclasses.replace(
        runtime.settings, storage_connection=hanging, timer_step_timeout_seconds=STEP_SECONDS
    )
    cold = Services(lambda: Runtime.build(settings, StaticToken(), connection_verify=str(served.ca_path)))
    step = f"creating the state table {settings.state_table}"
    assert_stopped_within_the_bound(lambda: fanout.on_timer(cold), served, caplog, step)
    assert silent.connections
