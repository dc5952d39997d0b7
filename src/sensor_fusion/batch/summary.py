"""A batch's outputs: one JSON per bag, a summary table (markdown and JSON) and an HTML summary.

The HTML page is built from the report's pieces (``report.page``, ``report.figures``): a table
of every bag, the mean, and grouped MOTA / HOTA / recall bars per bag.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

# metric -> +1 when higher is better, -1 when lower is better
METRICS: dict[str, int] = {
    "mota": +1,
    "hota": +1,
    "idsw": -1,
    "frag": -1,
    "motp": -1,
    "det_ap": +1,
    "det_precision": +1,
    "det_recall": +1,
    "velocity_rmse": -1,
    "ego_position_rmse": -1,
    "ego_yaw_rmse_deg": -1,
    "static_false_positives_per_frame": -1,  # detections on walls, vegetation, poles (eval/regions.py)
}
TABLE_METRICS = ("mota", "hota", "idsw", "det_ap", "velocity_rmse", "ego_position_rmse", "ego_yaw_rmse_deg")


def bag_json_path(out_dir: Path, bag_name: str) -> Path:
    return out_dir / "bags" / f"{bag_name}.json"


def write_bag_record(out_dir: Path, rec: Mapping) -> Path:
    path = bag_json_path(out_dir, rec["bag"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1, default=float))
    return path


def _num(v: object) -> float | int | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def scalar_metrics(rec: Mapping) -> dict[str, float | None]:
    m = rec.get("metrics") or {}
    return {k: _num(m.get(k)) for k in METRICS}


def mean_metrics(records: Sequence[Mapping]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in METRICS:
        vals = [v for r in records if r.get("status") == "ok" and (v := scalar_metrics(r)[k]) is not None]
        out[k] = sum(vals) / len(vals) if vals else None
    return out


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def markdown_table(records: Sequence[Mapping], metrics: Sequence[str] = TABLE_METRICS) -> str:
    """One row per bag (ok ones with their metrics, failed ones with their last error) and the mean."""
    head = ["bag", "status", *metrics, "frames", "run s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        if r.get("status") == "ok":
            m = scalar_metrics(r)
            cells = [_fmt(m[k]) for k in metrics]
            run = r.get("run", {})
            status = "ok" if r.get("attempts", 1) == 1 else f"ok (attempt {r['attempts']})"
            cells += [str(run.get("frames", "-")), _fmt(run.get("wall_s"))]
        else:
            status = "FAILED"
            cells = ["-"] * len(metrics) + ["-", "-"]
        lines.append("| " + " | ".join([r["bag"], status, *cells]) + " |")
    mean = mean_metrics(records)
    n_ok = sum(r.get("status") == "ok" for r in records)
    lines.append(
        "| " + " | ".join([f"**mean** ({n_ok} bags)", "", *(_fmt(mean[k]) for k in metrics), "", ""]) + " |"
    )
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["", f"{len(failed)} bag(s) failed after a retry:"]
        lines += [f"- {r['bag']}: " + " / ".join(r.get("errors", [])) for r in failed]
    return "\n".join(lines)


def write_summary(out_dir: Path, records: Sequence[Mapping], meta: Mapping) -> dict[str, Path]:
    """summary.json, summary.md and index.html in ``out_dir``; returns their paths."""
    records = sorted(records, key=lambda r: r["bag"])
    md = markdown_table(records)
    summary = {
        "meta": dict(meta),
        "bags": {r["bag"]: {"status": r["status"], **scalar_metrics(r)} for r in records},
        "mean": mean_metrics(records),
        "failed": [r["bag"] for r in records if r.get("status") != "ok"],
    }
    paths = {"json": out_dir / "summary.json", "md": out_dir / "summary.md", "html": out_dir / "index.html"}
    paths["json"].write_text(json.dumps(summary, indent=1))
    paths["md"].write_text(f"# Batch {out_dir.name}\n\n{_meta_line(meta)}\n\n{md}\n")
    paths["html"].write_text(summary_html(out_dir, records, meta), encoding="utf-8")
    return paths


def _meta_line(meta: Mapping) -> str:
    parts = [f"config `{meta.get('config') or 'config/fusion.yaml (shipped)'}`"]
    if meta.get("detector"):
        parts.append(f"detector {meta['detector']}")
    parts.append(f"engine {meta.get('engine')}")
    if meta.get("wall_s") is not None:
        parts.append(f"{meta['wall_s']:.1f} s wall")
    return ", ".join(parts)


def summary_html(out_dir: Path, records: Sequence[Mapping], meta: Mapping) -> str:
    from ..report import figures
    from ..report.page import esc, figure, page, section, table

    rows, classes = [], []
    for r in records:
        m = scalar_metrics(r)
        ok = r.get("status") == "ok"
        rows.append([r["bag"], r.get("status"), *(m[k] for k in TABLE_METRICS)])
        classes.append(["", "" if ok else "worse", *([""] * len(TABLE_METRICS))])
    mean = mean_metrics(records)
    rows.append(["mean", "", *(mean[k] for k in TABLE_METRICS)])
    classes.append([""] * (2 + len(TABLE_METRICS)))
    bars = {}
    for r in records:
        m = r.get("metrics") or {}
        if r.get("status") == "ok" and m.get("num_objects"):
            recall = 1.0 - m["num_misses"] / m["num_objects"] if m.get("num_misses") is not None else None
            bars[r["bag"]] = {"mota": m.get("mota"), "hota": m.get("hota"), "recall": recall}
            bars[r["bag"]]["num_objects"] = m["num_objects"]
    body = section("Per bag", table(["bag", "status", *TABLE_METRICS], rows, classes))
    body += section(
        "Tracking per bag",
        figure(figures.metric_bars(bars, "per bag"), "per-bag bars", "MOTA, HOTA and recall of each bag."),
    )
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        body += section(
            "Failed bags",
            table(["bag", "errors"], [[r["bag"], " / ".join(r.get("errors", []))] for r in failed]),
        )
    links = [r["bag"] for r in records if (out_dir / "reports" / r["bag"] / "report.html").exists()]
    if links:
        items = "".join(f'<li><a href="reports/{esc(b)}/report.html">{esc(b)}</a></li>' for b in links)
        body += section("Reports", f"<ul>{items}</ul>")
    return page(f"Batch {out_dir.name}: {len(records)} bags", _meta_line(meta).replace("`", ""), body)
