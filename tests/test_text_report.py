"""The text report's layout (wrapping, alignment, summary, filter) and word-boundary shortening, on open-ended text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from model.finding import ClusterResult, Finding, Severity, Status
from model.text import ELLIPSIS, shorten
from publish.text_report import clusters_by_worst_status, only_statuses, render_text
from tests.builders import make_cluster

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789./:-_", min_size=1, max_size=40)
PROSE = st.lists(WORDS, min_size=1, max_size=60).map(" ".join)


def finding(check: str, status: Status, title: str = "t", detail: str = "", fix: str = "") -> Finding:
    return Finding(check, status, Severity.HIGH, title, detail, fix, {}, "https://learn.microsoft.com/azure/aks/")


def result(name: str, *findings: Finding) -> ClusterResult:
    return ClusterResult(cluster=make_cluster(name=name), owners=("team-a",), findings=findings)


@settings(max_examples=150, deadline=None)
@given(title=PROSE, detail=PROSE, fix=PROSE, width=st.integers(min_value=40, max_value=220))
def test_every_line_fits_the_width_no_word_is_cut_and_continuations_align(title, detail, fix, width) -> None:
    results = [
        result("aks-a", finding("egress-rules", Status.FAIL, title, detail, fix), finding("alpn-tls", Status.PASS))
    ]
    text = render_text(results, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width or " " not in line.strip() for line in lines)
    words = text.split()
    for word in (*title.split(), *detail.split(), *fix.split()):
        assert word in words  # wrapped between words, never inside one
    column = 2 + 7 + 1 + len("egress-rules") + 2  # status, check id, then the text column
    if width - column < 30:
        column = 4  # narrow: the text goes under the check id
    first = lines.index(next(line for line in lines if line.startswith("  FAIL")))
    assert column == 4 or lines[first][column - 1] == " " != lines[first][column]
    for line in lines[first + 1 :]:
        if not line.strip() or line.startswith("  PASS"):
            break
        content = line.strip()
        if " " in content or len(content) <= width - column - len("docs: "):  # a longer word starts further left
            assert len(line) - len(line.lstrip()) >= column, (line, column)


def test_summary_counts_each_cluster_once_by_its_worst_finding() -> None:
    results = [
        result("a", finding("egress-rules", Status.FAIL), finding("alpn-tls", Status.FAIL)),
        result("b", finding("egress-rules", Status.WARN), finding("alpn-tls", Status.ERROR)),
        result("c", finding("egress-rules", Status.PASS), finding("alpn-tls", Status.SKIPPED)),
        result("d", finding("egress-rules", Status.PASS)),
    ]
    assert clusters_by_worst_status(results) == "4 clusters: 1 fail, 1 error, 0 warn, 1 skipped, 1 pass"
    assert clusters_by_worst_status(results[:1]) == "1 cluster: 1 fail, 0 error, 0 warn, 0 skipped, 0 pass"
    shown = only_statuses(results, {Status.WARN, Status.ERROR})
    assert [(r.cluster.name, [f.status for f in r.findings]) for r in shown] == [("b", [Status.WARN, Status.ERROR])]
    text = render_text(results, shown=shown)
    assert "1 of 4 clusters shown (--status)" in text and "aks-a" not in text
    assert "docs: https://learn.microsoft.com/azure/aks/" in text and "docs/checks.md" in text


@settings(max_examples=300, deadline=None)
@given(text=PROSE, limit=st.integers(min_value=2, max_value=120))
def test_shorten_cuts_between_words_and_says_so(text, limit) -> None:
    short = shorten(text, limit)
    assert len(short) <= limit
    if len(text) <= limit:
        assert short == text
        return
    assert short.endswith(ELLIPSIS)
    kept = short[: -len(ELLIPSIS)]
    words = " ".join(text.split())
    assert words.startswith(kept)
    if len(words.split()[0]) + len(ELLIPSIS) <= limit:  # only a first word longer than the limit is cut
        assert kept and words[len(kept)] in " ,;:"  # the cut falls between words (or drops their punctuation)


def test_shorten_keeps_punctuation_that_is_all_there_is() -> None:
    # found by hypothesis with a random seed: the cut dropped the only word that fitted
    assert shorten(": 0", 2) == ":…"


def test_shorten_the_log_line_of_the_issue() -> None:
    line = 'E0101 transport: authentication handshake failed: "tls: no application protocol"'
    assert shorten(line, 62) == 'E0101 transport: authentication handshake failed: "tls: no…'
