#!/usr/bin/env python3
"""Open an HTML report in headless Chromium (Debian's), fail on console errors, take a screenshot.

    .venv/bin/python scripts/check_report.py out/demo/report/report.html --screenshot docs/report.png

Fails (exit 1) on an uncaught exception, a console error, a browser log error, any request that
leaves the machine, or an image that does not decode; exit 2 when no chromium is installed
(``apt-get install chromium``; ``scripts/setup_env.sh`` installs it as root). The DevTools protocol
runs over a pipe, so no port is opened; the browser gets a fresh profile each time.
"""

from __future__ import annotations

import argparse
import sys

from sensor_fusion.report.browser import BrowserError, check_page, find_chromium


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page", help="HTML file to open")
    ap.add_argument("--screenshot", help="write a PNG of the page here")
    ap.add_argument("--width", type=int, default=1280, help="viewport width, CSS px")
    ap.add_argument(
        "--max-height", type=int, help="crop the screenshot to this height, CSS px (default: all)"
    )
    ap.add_argument("--chromium", help="browser executable (default: chromium on PATH)")
    ap.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the browser and the page"
    )
    a = ap.parse_args()
    exe = a.chromium or find_chromium()
    if exe is None:
        print("no chromium installed (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        res = check_page(a.page, a.screenshot, a.width, a.max_height, exe, a.timeout)
    except BrowserError as exc:
        print(f"browser failed: {exc}", file=sys.stderr)
        return 1
    for e in res.errors:
        print(f"ERROR {e}", file=sys.stderr)
    shot = f", screenshot -> {res.screenshot}" if res.screenshot else ""
    verdict = "ok" if res.ok else f"{len(res.errors)} error(s)"
    print(f"{verdict}: {res.url} ({res.images} images, {res.height_px} px high{shot})")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
