"""Self-contained HTML: every figure an inline SVG data URI, inline CSS, no script, nothing fetched.

The pieces (``page``, ``img``, ``table``, ``section``) are shared by the one-run report
(:func:`write_report`) and the batch summary (``batch/summary.py``).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path

from . import figures
from .data import ReportData, collect

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem 3rem; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
  border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.sub { color: #666; font-size: 0.9rem; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.4rem 0.8rem; min-width: 7.5rem; }
.card .v { font-size: 1.3rem; font-weight: 600; } .card .k { color: #666; font-size: 0.8rem; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
figure { margin: 0.5rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.85rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; } .better { color: #1a7f37; } .worse { color: #c62828; font-weight: 600; }
.missing { color: #999; font-style: italic; }
.tables { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
h3 { font-size: 0.95rem; margin: 0.8rem 0 0.2rem; }
"""

CAPTIONS = {
    "top": "Ego path (black, start dot), truth trajectories (wide, light), confirmed tracks (thin, one "
    "colour each), tracks that never matched any truth object (red), ID switches (amber X, at the "
    "truth object's position).",
    "range": "Truth by its distance from the ego; a matched track goes with its truth object, a false "
    "one by its own distance.",
    "pr": "Precision-recall per class, detections in descending score order, matched within 2 m (the "
    "AP's matching).",
    "ego": "Ego position and yaw error against the truth odometry, over the time odometry was "
    "published; red: no GPS fix (outage).",
}

SUMMARY_KEYS = (
    ("mota", "MOTA"),
    ("hota", "HOTA"),
    ("idsw", "ID switches"),
    ("det_ap", "detection AP"),
    ("velocity_rmse", "velocity RMSE m/s"),
    ("ego_position_rmse", "ego position RMSE m"),
    ("ego_yaw_rmse_deg", "ego yaw RMSE deg"),
)


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Real):
        f = float(v)
        return "-" if math.isnan(f) else f"{f:.3f}"
    return str(v)


def img(svg: bytes | None, alt: str, missing: str = "not available for these bags") -> str:
    if svg is None:
        return f'<p class="missing">{esc(alt)}: {esc(missing)}</p>'
    data = base64.b64encode(svg).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/svg+xml;base64,{data}">'


def figure(svg: bytes | None, alt: str, caption: str) -> str:
    return f"<figure>{img(svg, alt)}<figcaption>{esc(caption)}</figcaption></figure>"


def table(
    header: Sequence[str], rows: Sequence[Sequence[object]], classes: Sequence[Sequence[str]] | None = None
) -> str:
    """An HTML table; ``classes`` (same shape as ``rows``) sets a CSS class per cell."""
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, r in enumerate(rows):
        cells = []
        for j, c in enumerate(r):
            cls = classes[i][j] if classes is not None else ""
            attr = f' class="{esc(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{esc(fmt(c))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def section(title: str, body: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{body}</section>"


def cards(items: Sequence[tuple[str, object]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{esc(fmt(v))}</div><div class="k">{esc(k)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )


def page(title: str, subtitle: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>{body}</body></html>\n'
    )


def _per_class_rows(result: Mapping) -> dict[str, dict]:
    rows = {}
    for cls, m in (result.get("per_class") or {}).items():
        n = m.get("num_objects")
        if not n:
            continue
        recall = 1.0 - m["num_misses"] / n if m.get("num_misses") is not None else None
        rows[cls] = {"mota": m.get("mota"), "hota": m.get("hota"), "recall": recall, "num_objects": n}
    return rows


def render(d: ReportData, result: Mapping) -> str:
    """The report page for one run."""
    lat = result.get("latency_ms") or {}
    total = lat.get("total", {}).get("p50") if isinstance(lat.get("total"), Mapping) else None
    summary = [(label, result.get(k)) for k, label in SUMMARY_KEYS] + [("pipeline p50 ms", total)]
    scen = result.get("scenario") or {}
    sub = "sensor-fusion report"
    if scen:
        sub += f" · scenario {scen.get('name')}, seed {scen.get('seed')}"
    sub += f" · {len(d.pairs)} truth frames"
    lat_rows = [
        [s, v.get("p50"), v.get("p99"), v.get("n")] for s, v in sorted(lat.items()) if isinstance(v, Mapping)
    ]
    scalars = [[k, v] for k, v in result.items() if isinstance(v, Real | str) and not isinstance(v, bool)]
    body = [
        cards(summary),
        section(
            "Top view",
            figure(
                figures.top_view(d),
                "top view",
                CAPTIONS["top"],
            )
            + figure(
                figures.timeline(d),
                "timeline",
                "Every truth object over time: tracked (green), missed (grey), ID switches (amber X).",
            ),
        ),
        section(
            "Tracking by class and by range",
            '<div class="grid2">'
            + figure(
                figures.metric_bars(_per_class_rows(result), "per class"),
                "per-class bars",
                "Per truth class (a mislabelled track counts as a miss of the true class).",
            )
            + figure(
                figures.metric_bars(d.per_range, "by distance from the ego"),
                "per-range bars",
                CAPTIONS["range"],
            )
            + "</div>",
        ),
        section(
            "Detections and velocity",
            '<div class="grid2">'
            + figure(
                figures.pr_figure(d.pr, d.pr_source),
                "precision-recall",
                CAPTIONS["pr"],
            )
            + figure(
                figures.velocity_figure(d.velocity_errors),
                "velocity error",
                "Speed-vector error of matched tracks by truth class (box: quartiles, whiskers: 1.5 IQR).",
            )
            + "</div>",
        ),
        section(
            "Latency per stage",
            figure(
                figures.latency_figure(d.latency_ms),
                "latency histograms",
                "Per-frame wall time of each pipeline stage.",
            )
            + (table(["stage", "p50 ms", "p99 ms", "frames"], lat_rows) if lat_rows else ""),
        ),
        section(
            "Ego state",
            figure(
                figures.ego_figure(d),
                "ego error",
                CAPTIONS["ego"],
            )
            + (
                "<p>GPS outages: " + ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in d.gps_outages_s) + "</p>"
                if d.gps_outages_s
                else "<p>No GPS outage in this bag.</p>"
            ),
        ),
        section(
            "Diagnostics counters",
            '<div class="tables">'
            + "".join(
                f"<div><h3>{esc(name)}</h3>" + table(["counter", "value"], list(kv.items())) + "</div>"
                for name, kv in d.counters.items()
            )
            + "</div>",
        ),
        section(
            "All scores",
            '<div class="tables">'
            + "".join(
                "<div>" + table(["metric", "value"], scalars[i : i + 12]) + "</div>"
                for i in range(0, len(scalars), 12)
            )
            + "</div>",
        ),
    ]
    return page(f"Fusion report: {d.title}", sub, "".join(body))


def write_report(
    truth_bag: str | Path,
    tracks_bag: str | Path,
    out_dir: str | Path,
    result: Mapping | None = None,
    max_distance_m: float = 2.0,
    detections: str | None = None,
    diagnostics: dict | None = None,
    on_stage=None,
) -> Path:
    """Score (unless ``result`` is given) and write ``<out_dir>/report.html``; returns its path."""
    from ..eval.bags import evaluate_bags

    stage = on_stage or (lambda _name: None)
    if result is None:
        result = evaluate_bags(
            truth_bag, tracks_bag, max_distance_m=max_distance_m, detections=detections, on_stage=stage
        )
    stage("report data")
    d = collect(truth_bag, tracks_bag, dict(result), max_distance_m, detections, diagnostics)
    stage("figures")
    text = render(d, result)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    path.write_text(text, encoding="utf-8")
    return path
