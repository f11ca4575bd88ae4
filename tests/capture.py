"""A local capture server (127.0.0.1) for what the app POSTs: Application Insights envelopes."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class IngestionCapture:
    """Answers like the Application Insights ingestion endpoint (`/v2.1/track`) and keeps every envelope."""

    def __init__(self, keep: Callable[[dict[str, Any]], bool] = lambda envelope: True) -> None:
        """`keep`: which envelopes to hold (a benchmark's hundred thousand findings need only be counted)."""
        self.envelopes: list[dict[str, Any]] = []
        self.received = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                items = json.loads(body)
                items = items if isinstance(items, list) else [items]
                with capture._lock:
                    capture.paths.append(self.path)
                    capture.envelopes.extend(item for item in items if keep(item))
                    capture.received += len(items)
                answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def connection_string(self) -> str:
        return f"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint={self.url}"

    def events(self, name: str) -> list[dict[str, str]]:
        """The properties of every custom event of that name received so far."""
        with self._lock:
            return [
                e["data"]["baseData"]["properties"]
                for e in self.envelopes
                if e.get("name") == "Microsoft.ApplicationInsights.Event" and e["data"]["baseData"]["name"] == name
            ]

    def clear(self) -> None:
        with self._lock:
            self.envelopes.clear()
            self.paths.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
