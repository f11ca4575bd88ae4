"""The README's screenshots of the HTML report on the sample estate (with examples/mute-list.yaml).

python -m tools.report_screenshot   # writes docs/estate-report.png and docs/estate-report-findings.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.headless_chromium import chromium_page

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aks-reach-shot-") as scratch:
        html = Path(scratch) / "estate.html"
        report = ["--format", "html", "--output", str(html)]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sweep",
                "--snapshot",
                "examples/estate",
                "--mute-list",
                "examples/mute-list.yaml",
                *report,
            ],
            cwd=ROOT,
            check=False,  # exit 1: the sample estate has failures
            capture_output=True,
        )
        with chromium_page(1400, 1000) as page:
            page.load(html)
            page.screenshot(DOCS / "estate-report.png", 1400, 1000)
            page.evaluate("location.hash = '#' + document.querySelector('.grid [role=cell].s-fail a').hash.slice(1)")
            page.evaluate("document.getElementById('theme').click(); document.getElementById('theme').click()")
            page.evaluate("document.querySelector('details.cluster[open]').scrollIntoView()")
            time.sleep(0.3)
            page.screenshot(DOCS / "estate-report-findings.png", 1400, 1000, dark=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
