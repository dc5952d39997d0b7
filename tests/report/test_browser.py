"""The report in a real headless browser (Debian's Chromium): no console error, every image decodes.

Runs wherever chromium is installed (``scripts/setup_env.sh`` installs it as root, so CI has it);
skips with the reason elsewhere. A deliberately broken page shows that the check can fail.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sensor_fusion.report.browser import check_page, find_chromium
from sensor_fusion.report.page import write_report

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="no chromium installed (apt-get install chromium; setup_env.sh does it as root)",
)

BAD_PAGE = """<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>bad</title></head><body>
<img src="data:image/svg+xml;base64,bm90IGFuIHN2Zw==">
<img src="https://cdn.example.invalid/lib.png">
<script>console.error("deliberate"); notDefined();</script></body></html>
"""


def test_report_opens_without_console_errors(fleet, fusion_batch, tmp_path, repo):
    page = write_report(fleet / "urban_s2", fusion_batch[0] / "tracks" / "urban_s2", tmp_path / "r")
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [sys.executable, str(repo / "scripts" / "check_report.py"), str(page), "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok: ") and "(8 images" in proc.stdout
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


def test_the_check_fails_on_a_broken_page(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(BAD_PAGE)
    res = check_page(page)
    assert not res.ok
    text = "\n".join(res.errors)
    assert "console.error: deliberate" in text
    assert "uncaught exception: ReferenceError" in text
    assert "network request: https://cdn.example.invalid/lib.png" in text
    assert "images did not decode" in text
