"""The Log Analytics queries the tool ships, as .kql files beside this module."""

from __future__ import annotations

from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parent


def query_text(name: str) -> str:
    """The query without its comment header (comments say what it returns; the service does not need them)."""
    lines = (QUERIES_DIR / f"{name}.kql").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("//"))
