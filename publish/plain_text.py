"""Text read from clusters, made inert where it is shown: a tenant shapes event messages, pod and release
names, user agents, log lines and tags, and none of that may become a link, markup or a terminal command
in a card or report (docs/report.md, "Text from clusters is plain text").

- `inert_markdown`: for Markdown renderers (Adaptive Card TextBlocks and Facts, which render a Markdown
  subset; the Markdown report): every character that Markdown gives a meaning is backslash-escaped, list
  and heading markers at a line's start included, and URLs are broken with a zero-width space after the
  scheme (and after `www`) so no renderer turns them into links.
- `printable`: control characters (ANSI escape sequences, OSC 8 terminal hyperlinks, carriage returns
  that overwrite a line) become U+FFFD, keeping newlines and tabs. Both do it first.
- `code_span` / `code_block`: literal text in Markdown, fenced longer than any backtick run inside it.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
ZERO_WIDTH_SPACE = "\u200b"
# C0 controls but tab and newline, DEL, and C1 controls (U+0080-U+009F: 0x9B alone starts an ANSI sequence).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Characters that make Markdown anywhere in a line (CommonMark 0.31 and GitHub's extensions: code, emphasis,
# link and image brackets, HTML and autolinks, strikethrough, table cells), and those that do at a line's
# start (lists, headings, block quotes, rules): escaped with a backslash, which CommonMark allows before
# any ASCII punctuation. `(` needs no escape once no `]` can close a link text.
_INLINE = re.compile(r"([\\`*_\[\]<>~|])")
_LINE_START = re.compile(r"^([ \t]*)([-+#=>])", re.MULTILINE)
_ORDERED_LIST = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:)(//)|\b(www)(\.)")


def printable(text: str) -> str:
    return _CONTROL.sub(REPLACEMENT, text)


def inert_markdown(text: str) -> str:
    """`text` shown as itself by a Markdown renderer: no link, image, emphasis, list, heading or HTML."""
    text = _URL.sub(lambda match: ZERO_WIDTH_SPACE.join(part for part in match.groups() if part), printable(text))
    text = _INLINE.sub(r"\\\1", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    return _ORDERED_LIST.sub(r"\1\\\2", text)


def code_span(text: str) -> str:
    """Inline code holding `text` literally (one line)."""
    text = printable(" ".join(text.splitlines()))
    fence = "`" * (_longest_backtick_run(text) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def code_block(text: str) -> list[str]:
    """A fenced code block holding `text` literally, as lines."""
    text = printable(text)
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [fence, *text.splitlines(), fence]


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
