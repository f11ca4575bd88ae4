"""The live run's progress display: a bar redrawn in place on a terminal that log records never share a line
with; a heartbeat line every interval elsewhere."""

from __future__ import annotations

import io
import logging

from sweep.cli.console import CLEAR_LINE, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_with_a_newline() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, terminal=True, clock=clock)
    for done in range(1, 5):
        clock.now += 1.5
        progress(done, 4)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    frames = [frame for frame in text.rstrip("\n").split(CLEAR_LINE) if frame]
    assert len(frames) == 4
    assert frames[1].startswith("[") and " 2/4 clusters   50%  3 s" in frames[1]
    assert frames[1].count("#") * 2 == frames[1].count("#") + frames[1].count("-")  # half the cells filled
    assert "4/4 clusters  100%  6 s" in frames[-1] and "-" not in frames[-1].split("]")[0]


def test_a_log_record_clears_the_bar_line_first_so_they_never_share_a_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, terminal=True, clock=Clock())
    handler = logging.StreamHandler(stream)
    progress.keep_logs_apart(handler)
    logger = logging.getLogger("tests.console")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        progress(1, 3)
        logger.warning("a warning while collecting")
        progress(2, 3)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().split("\n")
    warning_line = next(line for line in lines if "a warning while collecting" in line)
    bar, printed = warning_line.rsplit(CLEAR_LINE, 1)  # the terminal erases the bar before the record
    assert "1/3 clusters" in bar and printed == "a warning while collecting"
    assert "2/3 clusters" in lines[-1]  # the bar is back on its own line


def test_elsewhere_a_line_every_interval_and_one_at_the_end() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, terminal=False, interval=10.0, clock=clock)
    for done in range(1, 61):
        clock.now += 0.5  # 30 s for 60 clusters
        progress(done, 60)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "collected 20/60 clusters (33%) in 10 s",
        "collected 40/60 clusters (66%) in 20 s",
        "collected 60/60 clusters (100%) in 30 s",
    ]
    assert "\r" not in stream.getvalue()
