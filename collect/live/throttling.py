"""Resource Graph throttles per user (15 queries per 5 s) and says so in its own headers:
`x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` (hh:mm:ss). This policy waits for
the window to reset when the quota is spent, and turns a 429 that carries only the quota header
into one with `Retry-After`, so azure-core's retry policy waits exactly as long as the service asks
(azure-core does not retry a POST's 429 without Retry-After, and every Resource Graph query is a POST)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

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


# ARM's documented buckets per subscription and principal: (size, refill per second), by operation kind.
ARM_BUCKETS = {"reads": (250, 25.0), "writes": (200, 10.0)}
ARM_RESERVE = 10  # below this many tokens left (at least), requests of that subscription go at the refill rate


class ArmBucketPolicy(SansIOHTTPPolicy):
    """Spends each subscription's ARM token buckets no faster than they refill once they run low.

    ARM throttles per subscription and principal: reads 250 tokens refilled at 25/s, writes 200 at 10/s
    (`listClusterUserCredential` is a POST, so a write), and says what is left in
    `x-ms-ratelimit-remaining-subscription-reads` / `-writes`. When a subscription's remaining tokens fall
    to the reserve, this policy gives its requests slots at the refill rate, so a thousand clusters of
    one subscription queue here instead of spending their retries on 429s (which would end as audit or
    credential errors of our own making). One instance serves every ARM client of a process (thread-safe).

    `reserve`: the pacing starts this many tokens before the bucket is empty, at least as many as the
    process may have in flight (each was let through on an older header). `shared_by`: subscriptions whose
    clusters several processes of a sweep collect, with how many: each paces at its share of the refill.
    """

    def __init__(
        self, sleep: object = time.sleep, reserve: int = ARM_RESERVE, shared_by: Mapping[str, int] | None = None
    ) -> None:
        self._reserve = max(ARM_RESERVE, reserve)
        self._shared_by = {subscription.lower(): count for subscription, count in (shared_by or {}).items()}
        self._lock = threading.Lock()
        self._remaining: dict[tuple[str, str], int] = {}
        self._next_slot: dict[tuple[str, str], float] = {}
        self._sleep = sleep

    @staticmethod
    def _key(request: PipelineRequest) -> tuple[str, str] | None:
        path = request.http_request.url.split("://", 1)[-1].split("?", 1)[0]
        parts = path.split("/")
        if len(parts) < 3 or parts[1].lower() != "subscriptions":
            return None
        return parts[2].lower(), "reads" if request.http_request.method == "GET" else "writes"

    def on_request(self, request: PipelineRequest) -> None:
        key = self._key(request)
        if key is None:
            return
        with self._lock:
            if self._remaining.get(key, self._reserve + 1) > self._reserve:
                return
            now = time.monotonic()
            slot = max(now, self._next_slot.get(key, now))
            self._next_slot[key] = slot + self._shared_by.get(key[0], 1) / ARM_BUCKETS[key[1]][1]
        if slot > now:
            self._sleep(slot - now)  # type: ignore[operator]

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        key = self._key(request)
        value = response.http_response.headers.get(f"x-ms-ratelimit-remaining-subscription-{key[1]}") if key else None
        if key is None or value is None:
            return
        try:
            remaining = int(value)
        except ValueError:
            return
        with self._lock:
            self._remaining[key] = remaining
