"""Text from clusters is plain text in every report: the hostile event text and owner tag of
tests/test_teams.py (`hostile_result`) through the Markdown, HTML and text reports, and, for any text
Hypothesis finds, a CommonMark renderer shows `inert_markdown(text)` as the text itself: no link, image,
emphasis, list, heading, code or HTML."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from checks.registry import CHECK_IDS
from publish.html_report import render_html
from publish.markdown_report import render_markdown
from publish.plain_text import REPLACEMENT, ZERO_WIDTH_SPACE, code_block, code_span, inert_markdown, printable
from publish.text_report import render_text
from tests.test_teams import hostile_result

# CommonMark with GitHub's tables and strikethrough: what a pull-request comment renders.
RENDERER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
STRUCTURE = re.compile(r"<(?!/?p>)[a-z]")  # any element but the paragraph every text is in


def rendered_text(html: str) -> str:
    """The text a reader sees in rendered HTML (entities decoded)."""
    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append  # type: ignore[method-assign]
    parser.feed(html)
    return "".join(parts)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200))
def test_any_text_renders_as_itself_and_nothing_else(text: str) -> None:
    shown = inert_markdown(text)
    html = RENDERER.render(shown)
    assert not STRUCTURE.search(html), (text, html)
    expected = " ".join(printable(text).replace("\x00", REPLACEMENT).split())
    assert " ".join(rendered_text(html).replace(ZERO_WIDTH_SPACE, "").split()) == expected


@given(st.text(alphabet="`ab \n", max_size=40))
def test_code_holds_any_backticks_literally(text: str) -> None:
    assume(text.strip())
    span = RENDERER.render(code_span(text))
    assert span.startswith("<p><code>") and rendered_text(span).strip() == " ".join(text.splitlines()).strip()
    block = RENDERER.render("\n".join(code_block(text)))
    code = re.fullmatch(r"<pre><code>(.*)</code></pre>\n", block, re.DOTALL)
    assert code and html.unescape(code[1]) == "".join(f"{line}\n" for line in text.splitlines())


def test_the_markdown_report_shows_the_hostile_text_as_text(tmp_path: Path) -> None:
    report = render_markdown([hostile_result(tmp_path)])
    page = RENDERER.render(report)
    assert "<a " not in page and "<strong>" not in page and "<img" not in page  # the docs URLs are bare text
    shown = rendered_text(page)
    assert "[Open the runbook](https:" + ZERO_WIDTH_SPACE + "//attacker.example)" in shown  # shown, never linked
    assert "team-payments, [Approve](https:" + ZERO_WIDTH_SPACE + "//attacker.example/owner)" in shown


def test_the_html_report_links_only_to_microsoft_learn(tmp_path: Path) -> None:
    page = render_html([hostile_result(tmp_path)], datetime(2026, 12, 1, tzinfo=UTC), CHECK_IDS)
    hrefs = re.findall(r"href='([^']*)'", page)
    assert hrefs and all(href.startswith(("#", "https://learn.microsoft.com/")) for href in hrefs)
    assert "[Open the runbook](https://attacker.example)" in rendered_text(page)  # the exact text, inert


def test_the_text_report_passes_no_terminal_control_sequence(tmp_path: Path) -> None:
    result = hostile_result(tmp_path)
    osc8 = "\x1b]8;;https://attacker.example\x1b\\click\x1b]8;;\x1b\\"
    findings = tuple(
        finding.__class__(**{**finding.__dict__, "detail": f"{finding.detail} {osc8}\r"}) for finding in result.findings
    )
    report = render_text([result.__class__(**{**result.__dict__, "findings": findings})], colour=True)
    assert "\x1b]" not in report and "\r" not in report and REPLACEMENT in report
    assert "\x1b[31m" in report  # the report's own colours stay
