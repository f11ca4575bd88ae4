"""Paths of the deployment files and their parsed form (pycep-parser), shared by the infra tests."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
WORKBOOK = INFRA / "workbook.json"
README = REPO / "README.md"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def readme_section(title: str) -> str:
    """The text of README's `## <title>` section, up to the next `## ` heading."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table_names(section: str, heading: str) -> list[str]:
    """First-column `names` of the Markdown table under `### <heading>` in a README section."""
    match = re.search(rf"^### {re.escape(heading)}\n(.*?)(?=^### |\Z)", section, flags=re.M | re.S)
    assert match, f"README Deploy section has no '### {heading}'"
    return re.findall(r"^\| `([^`]+)` \|", match.group(1), flags=re.M)
