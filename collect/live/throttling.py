"""Resource Graph throttles per user (15 queries per 5 s) and says so in its own headers:
`x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` (hh:mm:ss). This policy waits for
the window to reset when the quota is spent, and turns a 429 that carries only the quota header
into one with `Retry-After`, so azure-core's retry policy waits exactly as long as the service asks
(azure-core does not retry a POST's 429 without Retry-After, and every Resource Graph query is a POST)."""

from __future__ import annotations

import threading
import time

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

REMAINING = "x-ms-user-quota-remaining"
RESETS_AFTER = "x-ms-user-quota-resets-after"
QUOTA_WINDOW_SECONDS = 5.0  # the documented window, when a 429 does not say when the quota resets


def seconds(duration: str) -> float:
    """ "00:00:04.5" -> 4.5"""
    hours, minutes, rest = duration.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


class ResourceGraphQuotaPolicy(SansIOHTTPPolicy):
    def __init__(self, sleep: object = time.sleep) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._sleep = sleep

    def on_request(self, request: PipelineRequest) -> None:
        with self._lock:
            wait = self._resume_at - time.monotonic()
        if wait > 0:
            self._sleep(wait)  # type: ignore[operator]

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        headers = response.http_response.headers
        throttled = response.http_response.status_code == 429
        try:
            reset_seconds = seconds(headers[RESETS_AFTER]) if headers.get(RESETS_AFTER) else None
        except ValueError:
            reset_seconds = None
        if reset_seconds is None:
            if throttled and "Retry-After" not in headers:
                headers["Retry-After"] = str(QUOTA_WINDOW_SECONDS)
            return
        if headers.get(REMAINING) == "0" or throttled:
            with self._lock:
                self._resume_at = max(self._resume_at, time.monotonic() + reset_seconds)
        if throttled and "Retry-After" not in headers:
            headers["Retry-After"] = str(max(reset_seconds, 0.1))
