"""One table of every bench's figures (``out/bench/*.json``, written by the ``bench_*.py`` scripts).

.venv/bin/python bench/summary.py [--dir out/bench] [--markdown]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(directory: Path) -> list[tuple[str, str, str, str]]:
    """(bench, figure, value, load average when measured) for every figure, in file order."""
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            out.append((path.stem, "(unreadable)", str(exc), ""))
            continue
        load = str(data.get("_meta", {}).get("load_avg_1min", ""))
        for key, value in data.items():
            if key == "_meta":
                continue
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            out.append((path.stem, key, text, load))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="out/bench")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table instead of aligned text")
    a = ap.parse_args()
    table = rows(Path(a.dir))
    if not table:
        print(f"no figures in {a.dir}: run the bench scripts first (make bench)")
        return 1
    head = ("bench", "figure", "value", "load")
    if a.markdown:
        print("| " + " | ".join(head) + " |\n|---|---|---|---|")
        for r in table:
            print("| " + " | ".join(r) + " |")
        return 0
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
