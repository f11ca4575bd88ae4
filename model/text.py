"""Text for people: an exception in one line, and shortening that cuts only between words and says it was cut."""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: whitespace runs collapsed, cut at the last word boundary
    that fits, ending in an ellipsis. A first word longer than the limit is the one place a word is cut."""
    if len(text) <= limit:
        return text
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(limit - len(ELLIPSIS), 0)
    cut = text[: room + 1].rsplit(" ", 1)[0] if " " in text[: room + 1] else text[:room]
    kept = cut[:room]
    # Trailing punctuation goes with the cut, unless it is all there is (": 0" in 2 characters is ":…").
    return (kept.rstrip(" ,;:") or kept.rstrip()) + ELLIPSIS


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its message, or its type when it has none."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
