"""Faults between our storage calls and Azurite, injected at the SDK's transport (the clients and every
method we call stay real): a rule picks requests by method and URL and either answers them with a 503
from a local server (the service never saw them) or sends them to Azurite and loses the answer (the
service applied them; the caller sees a dropped connection)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport

BUSY_BODY = b'{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"The server is busy (injected)."}}}'


@dataclass
class Rule:
    method: str
    url: re.Pattern[str]
    lost_answer: bool  # False: 503 before the service sees it; True: applied, then the answer is lost
    times: int
    hits: int = 0


class _Busy(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503, "Service Unavailable")
        self.send_header("Content-Type", "application/json;odata=minimalmetadata")
        self.send_header("Content-Length", str(len(BUSY_BODY)))
        self.end_headers()
        self.wfile.write(BUSY_BODY)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _answer

    def log_message(self, *args: Any) -> None:
        pass


class FaultyTransport(RequestsTransport):
    """Use as `TableClient(..., transport=FaultyTransport(), retry_total=0)`: with no SDK retries, each
    injected fault reaches the caller, as it does once the SDK's retries are spent."""

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[Rule] = []
        self._lock = threading.Lock()
        self._busy = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
        threading.Thread(target=self._busy.serve_forever, name="busy-storage", daemon=True).start()

    def fail(self, method: str, url_pattern: str, lost_answer: bool = False, times: int = 1) -> Rule:
        rule = Rule(method.upper(), re.compile(url_pattern), lost_answer, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def send(self, request: Any, **kwargs: Any) -> Any:
        rule = self._take(request)
        if rule is not None and not rule.lost_answer:
            parts = urlsplit(request.url)
            request.url = urlunsplit(("http", f"127.0.0.1:{self._busy.server_address[1]}", *parts[2:]))
        response = super().send(request, **kwargs)
        if rule is not None and rule.lost_answer:
            raise ServiceResponseError(f"connection reset after {request.method} was applied (injected)")
        return response

    def _take(self, request: Any) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.hits < rule.times and rule.method == request.method and rule.url.search(request.url):
                    rule.hits += 1
                    return rule
        return None

    def close(self) -> None:
        super().close()
        self._busy.shutdown()
        self._busy.server_close()
