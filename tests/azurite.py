"""Azurite (the npm Azure Storage emulator) on 127.0.0.1, for tests that use the real storage SDK clients.

`make test` installs it into node_modules (package.json pins the version). Azurite is started with port 0
for blob, queue and table, so the OS picks free ports without a race, and the ports are read from its
"successfully listening at" lines. Data lives in memory and is gone when the process stops.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from azure.core.credentials import AccessToken
from azure.storage.queue import QueueClient, QueueMessage

REPO = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO / "node_modules" / ".bin" / "azurite"

# The development storage account every Azurite instance has (documented, public, not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

SERVICES = ("blob", "queue", "table")
LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at https?://127\.0\.0\.1:(\d+)")
START_TIMEOUT_SECONDS = 60.0  # a cold node start on a busy CI machine; normally about one second
STOP_TIMEOUT_SECONDS = 10.0


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed or did not start; the message says what to do."""


@dataclass(frozen=True)
class Azurite:
    """A running Azurite: endpoints of its three services for the development account."""

    blob_port: int
    queue_port: int
    table_port: int
    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY
    scheme: str = "http"  # "https" when started with a certificate (needed for bearer tokens)

    def _url(self, port: int) -> str:
        return f"{self.scheme}://127.0.0.1:{port}/{self.account_name}"

    @property
    def blob_url(self) -> str:
        return self._url(self.blob_port)

    @property
    def queue_url(self) -> str:
        return self._url(self.queue_port)

    @property
    def table_url(self) -> str:
        return self._url(self.table_port)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.blob_url};QueueEndpoint={self.queue_url};TableEndpoint={self.table_url};"
        )


@dataclass(frozen=True)
class Tls:
    """HTTPS for Azurite: its certificate and key files; with `oauth`, bearer tokens are accepted
    ("basic": Azurite checks a token's issuer, audience and lifetime, not its signature)."""

    cert_file: Path
    key_file: Path
    oauth: bool = True


class AzuriteProcess:
    """Starts Azurite, waits (bounded) until all three services listen, and stops it."""

    def __init__(
        self,
        binary: Path = AZURITE_BIN,
        start_timeout_seconds: float = START_TIMEOUT_SECONDS,
        tls: Tls | None = None,
    ) -> None:
        self.binary = binary
        self.start_timeout_seconds = start_timeout_seconds
        self.tls = tls
        self._process: subprocess.Popen[str] | None = None
        self._output: deque[str] = deque(maxlen=50)  # the last lines, for the error message if it fails
        self._ports: dict[str, int] = {}
        self._all_listening = threading.Event()

    def start(self) -> Azurite:
        if not self.binary.exists():
            raise AzuriteUnavailable(
                f"{self.binary} is missing: run `make test` (or `npm ci --no-audit --no-fund`) to install Azurite"
            )
        command = [str(self.binary), "--inMemoryPersistence", "--extentMemoryLimit", "256"]
        command += ["--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]  # no access log
        for service in SERVICES:
            command += [f"--{service}Host", "127.0.0.1", f"--{service}Port", "0"]
        if self.tls:
            command += ["--cert", str(self.tls.cert_file), "--key", str(self.tls.key_file)]
            command += ["--oauth", "basic"] if self.tls.oauth else []
        self._process = subprocess.Popen(
            command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # The reader keeps draining output for the process's lifetime, so it never blocks.
        threading.Thread(target=self._read_output, name="azurite-output", daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_seconds
        while not self._all_listening.wait(0.1):
            exited = self._process.poll() is not None
            if exited or time.monotonic() > deadline:
                self.stop()
                why = "exited" if exited else f"did not listen within {self.start_timeout_seconds:.0f} s"
                tail = "\n".join(self._output)
                raise AzuriteUnavailable(f"Azurite {why}; its last output:\n{tail}")
        scheme = "https" if self.tls else "http"
        azurite = Azurite(self._ports["blob"], self._ports["queue"], self._ports["table"], scheme=scheme)
        _wait_until_accepting(azurite, deadline)
        return azurite

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._output.append(line.rstrip())
            match = LISTENING.search(line)
            if match:
                self._ports[match.group(1).lower()] = int(match.group(2))
                if len(self._ports) == len(SERVICES):
                    self._all_listening.set()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)


def _wait_until_accepting(azurite: Azurite, deadline: float) -> None:
    """Azurite prints its line as the socket starts listening; connect once to each port to be sure (bounded)."""
    for port in (azurite.blob_port, azurite.queue_port, azurite.table_port):
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AzuriteUnavailable(f"Azurite port {port} does not accept connections") from None
                time.sleep(0.05)


class UnsignedStorageToken:
    """A TokenCredential for Azurite's OAuth "basic" mode, standing in for the managed identity: a JWT with
    the issuer, audience and lifetime Azurite checks, unsigned. Records the scopes it was asked for."""

    def __init__(self, tenant: str = "00000000-0000-0000-0000-0000000000aa") -> None:
        self.tenant = tenant
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{self.tenant}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": "11111111-1111-1111-1111-111111111111",
        }

        def part(value: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        token = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
        return AccessToken(token, now + 3600)


def receive_batch(queue: QueueClient, size: int, visibility_timeout: int) -> list[QueueMessage]:
    """One Get Messages request for up to `size` messages (the service gives at most 32), as the Functions
    host takes a batch: only these are hidden for `visibility_timeout`. (Iterating `receive_messages` itself
    keeps requesting until the queue is empty, hiding every message it holds.)"""
    pages = queue.receive_messages(messages_per_page=size, visibility_timeout=visibility_timeout).by_page()
    return list(next(pages, []))
