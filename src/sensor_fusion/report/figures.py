"""The report's figures as SVG bytes (matplotlib on a bare ``Figure``: no display, no pyplot state).

Each function returns None when its data is missing, so the page can say so instead of drawing
an empty axis. SVG output is deterministic (no date, fixed hash salt), so the same bags give the
same page.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from .data import ReportData

VIEW_MARGIN_M = 15.0
LATENCY_PANELS = 6  # total and the five slowest stages get a histogram; the table lists all
METRIC_COLOURS = {"mota": "#4c72b0", "hota": "#dd8452", "recall": "#55a868"}


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _svg(fig) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "sensor_fusion"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _trajectories(frames, keep=None) -> dict[int, np.ndarray]:
    """id -> (n, 2) positions in time order, from per-frame arrays (``keep``: per-frame masks)."""
    pts: dict[int, list] = {}
    for k, f in enumerate(frames):
        idx = np.flatnonzero(keep[k]) if keep is not None else range(len(f))
        for i in idx:
            pts.setdefault(int(f.ids[i]), []).append(f.centers[i, :2])
    return {i: np.asarray(p) for i, p in pts.items()}


def top_view(d: ReportData) -> bytes | None:
    """Ego path, truth trajectories, tracks; false tracks (never matched) red, ID switches marked."""
    if not d.pairs:
        return None
    from matplotlib import colormaps

    truth = [t for t, _ in d.pairs]
    est = [e for _, e in d.pairs]
    ev = d.events
    matched_ids = {
        int(est[k].ids[r])
        for k, r, kind in zip(ev.frame, ev.est_row, ev.kind)
        if kind in ("MATCH", "SWITCH") and r >= 0
    }
    # the view is the truth's and the ego's extent: a track that runs away leaves through the edge
    # instead of shrinking the scene to a dot
    pts = [t.centers[:, :2] for t in truth if len(t)]
    if d.ego_truth is not None:
        pts.append(np.column_stack([d.ego_truth.x, d.ego_truth.y]))
    xy_all = np.concatenate(pts) if pts else np.zeros((1, 2))
    lo, hi = xy_all.min(0) - VIEW_MARGIN_M, xy_all.max(0) + VIEW_MARGIN_M
    ratio = (hi[1] - lo[1]) / (hi[0] - lo[0])
    if ratio < 0.35 or ratio > 1.2:  # too flat or too tall a scene: widen the short side
        c, span = (lo + hi) / 2, hi - lo
        span = np.maximum(span, span[::-1] * np.array([1 / 1.2, 0.35]))
        lo, hi = c - span / 2, c + span / 2
        ratio = span[1] / span[0]
    fig = _figure(9.0, 9.0 * ratio + 0.6)
    ax = fig.add_subplot(1, 1, 1)
    for k, (_i, xy) in enumerate(sorted(_trajectories(truth).items())):
        ax.plot(*xy.T, "-", lw=4.0, alpha=0.25, color="#1f77b4", label="truth" if k == 0 else None, zorder=1)
    cmap = colormaps["tab20"]
    n_true = n_false = 0
    for i, xy in sorted(_trajectories(est).items()):
        if i in matched_ids:
            ax.plot(
                *xy.T,
                "-",
                lw=1.0,
                color=cmap(n_true % 20),
                zorder=2,
                label="tracks" if n_true == 0 else None,
            )
            n_true += 1
        else:
            ax.plot(
                *xy.T,
                "-",
                lw=1.6,
                color="#d62728",
                zorder=3,
                label="false tracks (never matched)" if n_false == 0 else None,
            )
            n_false += 1
    sw = (ev.kind == "SWITCH") & (ev.truth_row >= 0)
    if sw.any():
        xy = np.array([truth[k].centers[r, :2] for k, r in zip(ev.frame[sw], ev.truth_row[sw])])
        ax.plot(
            *xy.T, "X", ms=9, mfc="#ffbf00", mec="black", zorder=5, ls="none", label=f"ID switch ({len(xy)})"
        )
    if d.ego_truth is not None:
        ax.plot(d.ego_truth.x, d.ego_truth.y, "-", color="black", lw=1.8, zorder=4, label="ego (truth)")
        ax.plot(d.ego_truth.x[:1], d.ego_truth.y[:1], "o", color="black", zorder=4)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x [m] (odom)")
    ax.set_ylabel("y [m]")
    ax.set_aspect("equal", adjustable="box")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _svg(fig)


def timeline(d: ReportData, max_rows: int = 60) -> bytes | None:
    """Each truth object's life over time: tracked (green), missed (grey), ID switches (amber)."""
    if not d.pairs:
        return None
    t_s = np.array([(t.stamp_ns - d.t0_ns) / 1e9 for t, _ in d.pairs])
    dt = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 0.1
    state: dict[int, dict[int, str]] = {}
    ev = d.events
    for k, r, kind in zip(ev.frame, ev.truth_row, ev.kind):
        if r >= 0:
            state.setdefault(int(d.pairs[k][0].ids[r]), {})[int(k)] = kind
    if not state:
        return None
    order = sorted(state, key=lambda i: (min(state[i]), i))[:max_rows]
    fig = _figure(9.0, 1.2 + 0.12 * len(order))
    ax = fig.add_subplot(1, 1, 1)
    colours = {"MATCH": "#55a868", "SWITCH": "#55a868", "MISS": "#c7c7c7"}
    for row, oid in enumerate(order):
        for kind, colour in (("MATCH", colours["MATCH"]), ("MISS", colours["MISS"])):
            ks = np.array(
                sorted(k for k, v in state[oid].items() if v == kind or (kind == "MATCH" and v == "SWITCH"))
            )
            if ks.size:
                cuts = np.flatnonzero(np.diff(ks) > 1) + 1
                spans = [(t_s[s[0]], t_s[s[-1]] - t_s[s[0]] + dt) for s in np.split(ks, cuts)]
                ax.broken_barh(spans, (row - 0.4, 0.8), color=colour, lw=0)
        sws = [k for k, v in state[oid].items() if v == "SWITCH"]
        if sws:
            ax.plot(t_s[sws], [row] * len(sws), "X", ms=6, mfc="#ffbf00", mec="black", ls="none")
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_ylabel(f"truth objects ({len(order)} of {len(state)})")
    ax.set_xlabel("time [s]")
    ax.grid(True, axis="x", alpha=0.3)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color=colours["MATCH"], label="tracked"),
            Patch(color=colours["MISS"], label="missed"),
            Line2D([], [], marker="X", ls="none", mfc="#ffbf00", mec="black", label="ID switch"),
        ],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        ncols=3,
        frameon=False,
    )
    return _svg(fig)


def metric_bars(
    rows: Mapping[str, Mapping], title: str, metrics: Sequence[str] = ("mota", "hota", "recall")
) -> bytes | None:
    """Grouped bars, one group per row (class or range bin), one bar per metric; n under each group."""
    rows = {k: v for k, v in rows.items() if any(v.get(m) is not None for m in metrics)}
    if not rows:
        return None
    names = list(rows)
    fig = _figure(max(5.0, 1.1 * len(names) + 2.0), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    w = 0.8 / len(metrics)
    x = np.arange(len(names))
    for j, m in enumerate(metrics):
        vals = np.array([np.nan if rows[n].get(m) is None else float(rows[n][m]) for n in names])
        bars = ax.bar(
            x + (j - (len(metrics) - 1) / 2) * w,
            np.nan_to_num(vals),
            w,
            label=m.upper() if m != "recall" else "recall",
            color=METRIC_COLOURS.get(m),
        )
        for b, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(
                    f"{v:.2f}",
                    (b.get_x() + b.get_width() / 2, max(v, 0)),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    labels = [f"{n}\n(n={rows[n].get('num_objects', '?')})" for n in names]
    ax.set_xticks(x, labels, fontsize=8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.08)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _svg(fig)


def pr_figure(pr: Mapping[str, Mapping], source: str | None) -> bytes | None:
    """Precision against recall per class (2 m centre distance, score-ordered as the AP)."""
    if not pr:
        return None
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for name, c in pr.items():
        if len(c["recall"]):
            ax.plot(
                np.r_[0.0, c["recall"]],
                np.r_[1.0, c["precision"]],
                lw=1.5,
                label=f"{name} (n={c['num_truth']})",
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"detections '{source}', match within 2 m", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _svg(fig)


def velocity_figure(errors: Mapping[str, np.ndarray]) -> bytes | None:
    """Distribution of the speed-vector error of matched tracks per truth class, RMSE annotated."""
    errors = {k: v for k, v in errors.items() if len(v)}
    if not errors:
        return None
    names = list(errors)
    fig = _figure(max(5.0, 1.0 * len(names) + 2.0), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.boxplot([errors[n] for n in names], showfliers=False, widths=0.5)
    for i, n in enumerate(names, start=1):
        rmse = float(np.sqrt(np.mean(errors[n] ** 2)))
        ax.annotate(
            f"RMSE {rmse:.2f}\nn={len(errors[n])}",
            (i, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=7,
        )
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("|v_track - v_truth| [m/s]")
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y", alpha=0.3)
    return _svg(fig)


def latency_figure(latency_ms: Mapping[str, np.ndarray], cols: int = 3) -> bytes | None:
    """One histogram per pipeline stage with its p50 and p99."""
    stages = [s for s, v in latency_ms.items() if np.isfinite(v).any()]
    if not stages:
        return None
    stages.sort(key=lambda s: (s != "total", -float(np.nanmedian(latency_ms[s]))))
    stages = stages[:LATENCY_PANELS]
    rows = -(-len(stages) // cols)
    fig = _figure(9.0, 1.9 * rows + 0.3)
    for i, s in enumerate(stages):
        ax = fig.add_subplot(rows, cols, i + 1)
        v = latency_ms[s][np.isfinite(latency_ms[s])]
        p50, p99 = np.percentile(v, [50, 99])
        top = 1.15 * p99 if p99 > 0 else 1.0
        ax.hist(np.minimum(v, top), bins=30, range=(0.0, top), color="#8172b3")  # slower: last bin
        ax.axvline(p50, color="black", lw=1.0)
        ax.axvline(p99, color="#d62728", lw=1.0, ls="--")
        ax.set_title(f"{s}: p50 {p50:.1f}, p99 {p99:.1f} ms", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.supxlabel("ms per frame (black: p50, red dashed: p99; slower frames in the last bin)", fontsize=8)
    return _svg(fig)


def ego_figure(d: ReportData) -> bytes | None:
    """Ego position and yaw error over time; GPS outages shaded."""
    s = d.ego_series
    if s is None or not len(s.t_s):
        return None
    fig = _figure(9.0, 4.4)
    axes = [fig.add_subplot(2, 1, 1)]
    axes.append(fig.add_subplot(2, 1, 2, sharex=axes[0]))
    axes[0].plot(s.t_s, s.position_error_m, color="#4c72b0", lw=1.2)
    axes[0].set_ylabel("position error [m]")
    axes[1].plot(s.t_s, s.yaw_error_deg, color="#dd8452", lw=1.2)
    axes[1].set_ylabel("|yaw error| [deg]")
    axes[1].set_xlabel("time [s]")
    for ax in axes:
        for k, (a, b) in enumerate(d.gps_outages_s):
            ax.axvspan(a, b, color="#d62728", alpha=0.12, lw=0, label="GPS outage" if k == 0 else None)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    if d.gps_outages_s:
        axes[0].legend(fontsize=8, loc="upper left")
    return _svg(fig)
