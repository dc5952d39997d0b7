"""Text tables and a bird's-eye-view plot of evaluation results."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from sensor_fusion.eval.frames import FrameObjects


def merge_results(*results: Mapping) -> dict:
    """One dict from tracking, detection, ego, ... results; ``per_class`` entries are merged per class
    (a plain ``{**a, **b}`` would keep only the last ``per_class``)."""
    out: dict = {}
    for r in results:
        for k, v in r.items():
            if k == "per_class":
                pc = out.setdefault("per_class", {})
                for cls, metrics in v.items():
                    pc.setdefault(cls, {}).update(metrics)
            else:
                out[k] = v
    return out


def _fmt(v: object) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, Integral):
        return str(int(v))
    if isinstance(v, Real):
        return "-" if math.isnan(float(v)) else f"{float(v):.3f}"
    return str(v)


def _is_scalar(v: object) -> bool:
    return isinstance(v, Real | str | np.bool_)


def _table(title: str, rows: Mapping[str, Mapping], max_cols: int = 8) -> list[str]:
    """Rows x metrics; transposed to metrics x rows when there are more than ``max_cols`` metrics,
    so that a per-class table with tracking and detection metrics stays within a terminal."""
    cols: list[str] = []
    for r in rows.values():
        cols += [k for k, v in r.items() if _is_scalar(v) and k not in cols]
    names = [str(n) for n in rows]
    cells = [[_fmt(r[c]) if c in r else "" for c in cols] for r in rows.values()]
    if len(cols) > max_cols:
        header = ["metric", *names]
        cells = [[c, *(cells[i][j] for i in range(len(names)))] for j, c in enumerate(cols)]
    else:
        header = [title, *cols]
        cells = [[n, *row] for n, row in zip(names, cells)]
    width = [max(len(x) for x in col) for col in zip(header, *cells)]

    def line(xs: list[str]) -> str:
        return "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(xs, width)))

    return [line(header), "  ".join("-" * w for w in width), *(line(c) for c in cells)]


def format_table(result: Mapping) -> str:
    """Readable report: scalar metrics first, then one table per nested ``{row: {metric: value}}``
    mapping (``per_class``, latency stages, ...). NaN prints as ``-``; the evaluation region
    (``result["region"]``) heads the overall and per-class sections."""
    scalars = {k: v for k, v in result.items() if _is_scalar(v)}
    region = f" (region {result['region']})" if isinstance(result.get("region"), str) else ""
    lines: list[str] = []
    if scalars:
        w = max(len(k) for k in scalars)
        lines += [f"overall{region}", "-" * (w + 12)]
        lines += [f"{k.ljust(w)}  {_fmt(v):>10}" for k, v in scalars.items()]
    for k, v in result.items():
        if isinstance(v, Mapping) and v and all(_is_scalar(r) for r in v.values()):  # a flat breakdown
            lines += ["", f"{k}{region}: " + ", ".join(f"{n} {_fmt(x)}" for n, x in v.items())]
        if isinstance(v, Mapping) and v and all(isinstance(r, Mapping) for r in v.values()):
            if k == "per_class" and region:
                lines += ["", f"per class{region}"]
            lines += ["", *_table("class" if k == "per_class" else k, v)]
    return "\n".join(lines)


def _trajectories(frames: Sequence[FrameObjects]) -> list[tuple[int, np.ndarray]]:
    """(id, (n, 2) xy in time order) per id, from one concatenation instead of per-frame dicts."""
    if not frames:
        return []
    ids = np.concatenate([f.ids for f in frames])
    xy = np.concatenate([f.centers[:, :2] for f in frames])
    stamps = np.concatenate([np.full(len(f), f.stamp_ns, dtype=np.int64) for f in frames])
    order = np.lexsort((stamps, ids))
    ids, xy = ids[order], xy[order]
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return [(int(i[0]), p) for i, p in zip(np.split(ids, cuts), np.split(xy, cuts)) if i.size]


def bev_plot(
    truth_frames: Sequence[FrameObjects],
    est_frames: Sequence[FrameObjects],
    path_png: str | Path,
    ego_xy: np.ndarray | None = None,
    metrics: Mapping | None = None,
    title: str = "",
) -> Path:
    """Top view: truth trajectories solid per id, tracks dashed with markers and id labels, ego path black.

    Uses a bare ``Figure`` on the Agg canvas, so it neither needs a display nor touches pyplot's
    global state. ``metrics`` (e.g. the ``evaluate_tracking`` result) puts MOTA/HOTA in the title.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 9))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    truth_cmap, track_cmap = colormaps["tab10"], colormaps["tab20"]
    for k, (_, xy) in enumerate(_trajectories(truth_frames)):
        ax.plot(
            xy[:, 0],
            xy[:, 1],
            "-",
            lw=3.0,
            alpha=0.35,
            zorder=1,
            color=truth_cmap(k % 10),
            label="truth" if k == 0 else None,
        )
    for k, (tid, xy) in enumerate(_trajectories(est_frames)):
        c = track_cmap(k % 20)
        ax.plot(
            xy[:, 0], xy[:, 1], "--", marker=".", ms=3, lw=1.0, color=c, label="tracks" if k == 0 else None
        )
        ax.annotate(str(tid), xy[-1], fontsize=7, color=c, xytext=(3, 3), textcoords="offset points")
    if ego_xy is not None and len(ego_xy):
        e = np.asarray(ego_xy, dtype=np.float64)
        ax.plot(e[:, 0], e[:, 1], "-", color="black", lw=1.5, label="ego")
    parts = [title] if title else []
    if metrics:
        parts += [f"{k.upper()} {float(metrics[k]):.3f}" for k in ("mota", "hota") if k in metrics]
    ax.set_title("   ".join(parts))
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    path = Path(path_png)
    fig.savefig(path, dpi=110)
    return path
