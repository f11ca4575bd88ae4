"""The one ETag-retry policy: a lost race is tried again after a growing random pause, anything else is not,
and losing every try names what was being written."""

from __future__ import annotations

import pytest

from model import etag_retry
from model.etag_retry import TRIES, Conflict, RacesLost, retry_on_conflict


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(etag_retry.time, "sleep", slept.append)
    return slept


def test_a_lost_race_is_read_and_decided_again(pauses: list[float]) -> None:
    tries = []

    def attempt() -> str:
        tries.append(len(tries))
        if len(tries) < 3:
            raise Conflict("row changed")
        return "written"

    assert retry_on_conflict(attempt, "row r") == "written"
    assert len(tries) == 3 and len(pauses) == 2
    assert 0 <= pauses[0] < etag_retry.PAUSE_SECONDS and 0 <= pauses[1] < 2 * etag_retry.PAUSE_SECONDS


def test_losing_every_try_names_the_row(pauses: list[float]) -> None:
    tries = []

    def attempt() -> None:
        tries.append(1)
        raise Conflict("row changed")

    with pytest.raises(RacesLost, match=f"^sweep s: counting c: the row changed under {TRIES} concurrent writers$"):
        retry_on_conflict(attempt, "sweep s: counting c")
    assert len(tries) == TRIES and len(pauses) == TRIES - 1  # no pause after the last try


def test_other_errors_are_not_retried(pauses: list[float]) -> None:
    tries = []

    def attempt() -> None:
        tries.append(1)
        raise OSError("table unreachable")

    with pytest.raises(OSError, match="table unreachable"):
        retry_on_conflict(attempt, "row r")
    assert tries == [1] and pauses == []
