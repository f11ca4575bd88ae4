"""Optimistic concurrency on one Table Storage row, with one policy for the whole app: read the row, decide,
write under the ETag that was read; when another writer changed the row meanwhile, read it again and decide
again, after a short random pause that grows with each try, so that writers racing for one row spread out
(the sweep's count shards, the recheck claims, the Teams and root-cause rows)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

TRIES = 20  # tries of one decision lost to other writers before giving up
PAUSE_SECONDS = 0.05  # the pause after the n-th lost try is random, below n times this

T = TypeVar("T")


class Conflict(Exception):
    """The row changed (was written, created or deleted by another writer) since it was read: try again."""


class RacesLost(RuntimeError):
    """Every try lost to another writer."""


def retry_on_conflict(attempt: Callable[[], T], what: str) -> T:
    """What `attempt()` returns; it reads the row afresh each time and raises Conflict to be tried again.
    RacesLost, naming `what`, after TRIES conflicts in a row."""
    for tried in range(1, TRIES + 1):
        try:
            return attempt()
        except Conflict:
            if tried < TRIES:
                time.sleep(random.uniform(0, PAUSE_SECONDS * tried))
    raise RacesLost(f"{what}: the row changed under {TRIES} concurrent writers")
