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
DEPLOYMENT_PAGE = REPO / "docs" / "deployment.md"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def table_names(page: str, heading: str) -> list[str]:
    """First-column `names` of the Markdown table under `## <heading>` of a docs page."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, flags=re.M | re.S)
    assert match, f"the page has no '## {heading}'"
    return re.findall(r"^\| `([^`]+)` \|", match.group(1), flags=re.M)
