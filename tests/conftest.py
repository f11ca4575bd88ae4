"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.azurite import Azurite, AzuriteProcess, AzuriteUnavailable


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite (blob, queue, table) for the session, on free 127.0.0.1 ports, in memory.

    A missing install fails the tests that need it (it is never skipped): CI must run them.
    """
    process = AzuriteProcess()
    try:
        running = process.start()
    except AzuriteUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        process.stop()
