"""The command line's progress display for live runs, on stderr (the report goes to stdout).

On a terminal: one bar redrawn in place, `[#######-------------]  312/600 clusters  52%  41 s`; a log
record printed meanwhile clears the bar's line first, so the two never share a line, and the bar comes
back at the next cluster. Elsewhere (CI, a redirected log): a plain line every `interval` seconds and one
at the end, so a log file gets a heartbeat instead of thousands of carriage returns.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from typing import TextIO

CLEAR_LINE = "\r\033[K"
BAR_MAX_CHARS = 40


class Progress:
    def __init__(
        self,
        stream: TextIO,
        terminal: bool | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._terminal = stream.isatty() if terminal is None else terminal
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._drawn = False  # a bar is on the terminal's current line

    def __call__(self, done: int, total: int) -> None:
        elapsed = self._clock() - self._started
        if self._terminal:
            self._stream.write(CLEAR_LINE + self._bar(done, total, elapsed))
            self._drawn = done < total
            if done >= total:
                self._stream.write("\n")
        elif done >= total or self._clock() - self._last_line >= self._interval:
            self._last_line = self._clock()
            self._stream.write(f"collected {done}/{total} clusters ({_percent(done, total)}%) in {elapsed:.0f} s\n")
        self._stream.flush()

    def _bar(self, done: int, total: int, elapsed: float) -> str:
        text = f"  {done}/{total} clusters  {_percent(done, total):>3}%  {elapsed:.0f} s"
        room = shutil.get_terminal_size(fallback=(80, 24)).columns - len(text) - 3
        cells = max(min(room, BAR_MAX_CHARS), 10)
        filled = cells * done // total if total else cells
        return f"[{'#' * filled}{'-' * (cells - filled)}]{text}"

    def keep_logs_apart(self, handler: logging.Handler) -> None:
        """Clear the bar's line before `handler` prints a record (the bar is redrawn at the next cluster)."""

        def clear_bar(record: logging.LogRecord) -> bool:
            if self._drawn:
                self._stream.write(CLEAR_LINE)
                self._drawn = False
            return True

        handler.addFilter(clear_bar)


def _percent(done: int, total: int) -> int:
    return 100 * done // total if total else 100
