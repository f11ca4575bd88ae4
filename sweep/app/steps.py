"""Bounded steps: a call that may hang on a service (a read that never answers, an identity endpoint that
never sends a token) waited for at most a given time, so the trigger that needs it can stop in one line
naming the step instead of hanging until its SDK's retries are spent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from azure.core.exceptions import AzureError

from model.text import one_line

T = TypeVar("T")
SETTING = "AKS_REACH_TIMER_STEP_TIMEOUT_SECONDS"


class StepError(Exception):
    """A step failed (after the SDK's retries) or did not end within its bound; the message names the step."""


def bounded(step: str, seconds: float, call: Callable[[], T]) -> T:
    """`call()` on a thread of its own, waited for at most `seconds`; StepError naming `step` when it takes
    longer or Azure failed it. The thread is a daemon and ends when its requests time out: a step is one that
    changes nothing the caller relies on (a read, or creating what already exists), so the caller can stop
    without it."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the waiting caller, which raises it
            future.set_exception(exc)

    threading.Thread(target=run, name="bounded-step", daemon=True).start()
    try:
        return future.result(timeout=seconds)
    except AzureError as exc:
        raise StepError(f"{step} failed: {one_line(exc)}") from None
    except FutureTimeout:
        raise StepError(f"{step} took longer than {seconds:g} s ({SETTING})") from None
