"""A local Teams webhook on 127.0.0.1: records every POST per path and answers 202 with no body (as Teams
Workflows does), or what a test scripted for that path (429 with Retry-After, 5xx, a legacy 200 "1")."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 202
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Post:
    path: str
    body: bytes
    received_at: float  # time.monotonic()

    @property
    def message(self) -> Any:
        return json.loads(self.body)


class WebhookCapture:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._always: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-capture", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer(self, path: str, *answers: Answer) -> None:
        """The next answers for a path, in order (then 202 again)."""
        with self._lock:
            self._scripts[path.split("?")[0]].extend(answers)

    def always(self, path: str, answer: Answer) -> None:
        with self._lock:
            self._always[path.split("?")[0]] = answer

    def posts_to(self, path: str) -> list[Post]:
        with self._lock:
            return [post for post in self.posts if post.path == path.split("?")[0]]

    def _next_answer(self, path: str) -> Answer:
        with self._lock:
            if self._scripts[path]:
                return self._scripts[path].popleft()
            return self._always.get(path, Answer())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                with capture._lock:
                    capture.posts.append(Post(path, body, time.monotonic()))
                answer = capture._next_answer(path)
                payload = answer.body.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> WebhookCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
