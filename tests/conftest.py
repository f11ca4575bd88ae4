"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from hypothesis import settings

from tests.azurite import Azurite, AzuriteProcess, AzuriteUnavailable, Tls
from tests.capture import IngestionCapture

# Property-based tests: `make test` runs a small fixed (derandomized) set; `make fuzz` the long random run.
settings.register_profile("quick", max_examples=40, derandomize=True, deadline=None, database=None)
settings.register_profile("fuzz", max_examples=3000, deadline=None, database=None)
settings.load_profile("quick")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite (blob, queue, table) for the session, on free 127.0.0.1 ports, in memory.

    A missing install fails the tests that need it (it is never skipped): CI must run them.
    """
    yield from _run(AzuriteProcess())


@dataclass(frozen=True)
class AzuriteOAuth:
    azurite: Azurite
    ca_bundle: Path  # the CA of Azurite's certificate, for `connection_verify` or REQUESTS_CA_BUNDLE


@pytest.fixture(scope="session")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteOAuth]:
    """A second Azurite over HTTPS (a trustme CA) that accepts bearer tokens: the managed identity's path."""
    folder = tmp_path_factory.mktemp("azurite-tls")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    tls = Tls(cert_file=folder / "cert.pem", key_file=folder / "key.pem")
    certificate.cert_chain_pems[0].write_to_path(str(tls.cert_file))
    certificate.private_key_pem.write_to_path(str(tls.key_file))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    for running in _run(AzuriteProcess(tls=tls)):
        yield AzuriteOAuth(running, folder / "ca.pem")


def _run(process: AzuriteProcess) -> Iterator[Azurite]:
    try:
        running = process.start()
    except AzuriteUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        process.stop()


@pytest.fixture(scope="session")
def ingestion() -> Iterator[IngestionCapture]:
    """The Application Insights ingestion endpoint of in-process tests (the exporter is process-wide)."""
    # Keep the exporter on loopback: no statsbeat, no cloud metadata probes.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
        env.setenv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true")
        env.setenv("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "otel")
        capture = IngestionCapture()
        yield capture
        _stop_exporters()
        capture.stop()


def _stop_exporters() -> None:
    """Flush and stop the exporter while its endpoint still listens (not at interpreter exit)."""
    from opentelemetry import metrics, trace
    from opentelemetry._logs import get_logger_provider

    for provider in (get_logger_provider(), trace.get_tracer_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown:
            shutdown()
