"""Everything the HTML report draws, computed from a truth bag and a fusion-output bag.

The numbers come from the same code as ``sensor-fusion evaluate`` (``eval/``): the same frame
pairing, the same motmetrics matching (its events say where the ID switches, misses and false
positives were), the same AP matching for the precision-recall curves. What is added here is
only the breakdown the page shows: by range from the ego, over time, per stage.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bag.io import bag_topics
from ..eval.bags import (
    ANNOTATIONS,
    CALIBRATION,
    DETECTIONS,
    GPS,
    GT_OBJECTS,
    GT_ODOM,
    MATCH_TOLERANCE_NS,
    ODOM,
    SCENARIO,
    TIMING,
    TRACKS,
    objects_frame,
    odometry_poses,
    pair_restrictor,
    read_topics,
)
from ..eval.detection import pr_curves
from ..eval.ego import EgoPoses, wrap_angle
from ..eval.frames import FramePair, match_frames
from ..eval.mot import MatchEvents, class_name, match_events, score_pairs
from ..eval.regions import parse_region
from ..eval.tf import TF, WorldFrames

RANGE_BINS_M = (0.0, 20.0, 40.0, 60.0, np.inf)
DIAGNOSTICS = "/diagnostics"
GPS_GAP_FACTOR = 5.0  # a gap this many median fix periods long (and >= 1 s) is an outage


@dataclass
class EgoSeries:
    """Ego errors at the truth stamps inside the estimate's span: t (s from the first truth stamp)."""

    t_s: np.ndarray
    position_error_m: np.ndarray
    yaw_error_deg: np.ndarray


@dataclass
class ReportData:
    title: str
    t0_ns: int
    pairs: list[FramePair]
    events: MatchEvents
    ego_truth: EgoPoses | None
    ego_est: EgoPoses | None
    ego_series: EgoSeries | None
    gps_outages_s: list[tuple[float, float]]
    per_range: dict[str, dict]
    pr: dict[str, dict]
    pr_source: str | None
    velocity_errors: dict[str, np.ndarray]
    latency_ms: dict[str, np.ndarray]
    counters: dict[str, dict[str, object]] = field(default_factory=dict)
    scenario: dict | None = None


def range_bin_names() -> list[str]:
    names = []
    for lo, hi in zip(RANGE_BINS_M[:-1], RANGE_BINS_M[1:]):
        names.append(f"{lo:g}-{hi:g} m" if np.isfinite(hi) else f"{lo:g}+ m")
    return names


def _ego_xy_at(poses: EgoPoses | None, stamps_ns: np.ndarray) -> np.ndarray | None:
    if poses is None or not len(poses.stamp_ns):
        return None
    t = (stamps_ns - poses.stamp_ns[0]).astype(np.float64)
    tp = (poses.stamp_ns - poses.stamp_ns[0]).astype(np.float64)
    return np.column_stack([np.interp(t, tp, poses.x), np.interp(t, tp, poses.y)])


def per_range_scores(
    pairs: list[FramePair], events: MatchEvents, ego: EgoPoses | None, max_distance_m: float
) -> dict[str, dict]:
    """MOTA, HOTA and recall per range bin. Truth objects go to the bin of their distance from the
    ego; an estimate goes to the bin of the truth it was matched to (in the whole-sequence matching),
    an unmatched one to its own distance's bin, so no pair is split across a bin edge."""
    stamps = np.array([t.stamp_ns for t, _ in pairs], np.int64)
    ego_xy = _ego_xy_at(ego, stamps)
    if ego_xy is None:
        return {}
    edges = np.asarray(RANGE_BINS_M)
    t_bin, e_bin = [], []
    for k, (t, e) in enumerate(pairs):
        t_bin.append(np.digitize(np.hypot(*(t.centers[:, :2] - ego_xy[k]).T), edges) - 1)
        e_bin.append(np.digitize(np.hypot(*(e.centers[:, :2] - ego_xy[k]).T), edges) - 1)
    matched = np.isin(events.kind, ("MATCH", "SWITCH")) & (events.truth_row >= 0) & (events.est_row >= 0)
    for k, tr, er in zip(events.frame[matched], events.truth_row[matched], events.est_row[matched]):
        e_bin[k][er] = t_bin[k][tr]
    out: dict[str, dict] = {}
    for b, name in enumerate(range_bin_names()):
        sub = [(t.select(tb == b), e.select(eb == b)) for (t, e), tb, eb in zip(pairs, t_bin, e_bin)]
        n_truth = sum(len(t) for t, _ in sub)
        if n_truth == 0:
            continue
        s = score_pairs(sub, max_distance_m)
        recall = 1.0 - s["num_misses"] / s["num_objects"] if s["num_objects"] else float("nan")
        out[name] = {"mota": s["mota"], "hota": s["hota"], "recall": recall, "num_objects": n_truth}
    return out


def velocity_errors_by_class(pairs: list[FramePair], events: MatchEvents) -> dict[str, np.ndarray]:
    """|v_track - v_truth| (m/s) of every matched pair with both velocities known, by truth class."""
    ok = np.isin(events.kind, ("MATCH", "SWITCH")) & (events.truth_row >= 0) & (events.est_row >= 0)
    out: dict[str, list[float]] = {}
    for k, tr, er in zip(events.frame[ok], events.truth_row[ok], events.est_row[ok]):
        t, e = pairs[k]
        dv = e.velocity[er] - t.velocity[tr]
        if np.isfinite(dv).all():
            out.setdefault(class_name(int(t.labels[tr])), []).append(float(np.hypot(*dv)))
    return {c: np.asarray(v) for c, v in sorted(out.items())}


def ego_error_series(truth: EgoPoses | None, est: EgoPoses | None, t0_ns: int) -> EgoSeries | None:
    """Position and yaw error over time, interpolated as ``eval.ego.ego_errors`` does (no extrapolation)."""
    if truth is None or est is None or len(est.stamp_ns) < 2:
        return None
    inside = (truth.stamp_ns >= est.stamp_ns[0]) & (truth.stamp_ns <= est.stamp_ns[-1])
    if not inside.any():
        return None
    ref = truth.stamp_ns[0]
    tt = (truth.stamp_ns[inside] - ref).astype(np.float64)
    te = (est.stamp_ns - ref).astype(np.float64)
    dx = np.interp(tt, te, est.x) - truth.x[inside]
    dy = np.interp(tt, te, est.y) - truth.y[inside]
    dyaw = wrap_angle(np.interp(tt, te, np.unwrap(est.yaw)) - truth.yaw[inside])
    t_s = (truth.stamp_ns[inside] - t0_ns) / 1e9
    return EgoSeries(t_s, np.hypot(dx, dy), np.degrees(np.abs(dyaw)))


def gps_outages(gps_stamps_ns: np.ndarray, t0_ns: int, t_end_ns: int) -> list[tuple[float, float]]:
    """Spans (s from ``t0_ns``) without a GPS fix: gaps longer than ``GPS_GAP_FACTOR`` median
    periods and at least 1 s, including before the first and after the last fix."""
    if t_end_ns <= t0_ns:
        return []
    st = np.sort(np.asarray(gps_stamps_ns, np.int64))
    if st.size < 2:
        return [(0.0, (t_end_ns - t0_ns) / 1e9)]
    period = float(np.median(np.diff(st)))
    min_gap = max(1e9, GPS_GAP_FACTOR * period)
    edges = np.concatenate([[t0_ns], st, [t_end_ns]])
    gaps = np.flatnonzero(np.diff(edges) > min_gap)
    return [((edges[i] - t0_ns) / 1e9, (edges[i + 1] - t0_ns) / 1e9) for i in gaps]


def timing_samples(timing_msgs) -> tuple[dict[str, np.ndarray], Counter]:
    """Per-stage durations (ms) and how many frames each sensor was missing from."""
    samples: dict[str, list[float]] = {}
    missing: Counter = Counter()
    for st in timing_msgs:
        for kv in st.values:
            if kv.key == "missing":
                missing.update(s for s in kv.value.split(",") if s)
            else:
                try:
                    samples.setdefault(kv.key, []).append(float(kv.value) * 1e3)
                except ValueError:
                    continue
    return {k: np.asarray(v) for k, v in samples.items()}, missing


def _last_diagnostics(msgs) -> dict[str, dict[str, object]]:
    """The last ``/diagnostics`` array of a recording, as {status name: {key: value}}."""
    out: dict[str, dict[str, object]] = {}
    for arr in msgs[-1:]:
        for st in arr.status:
            out[st.name] = {kv.key: kv.value for kv in st.values}
    return out


def _flatten(prefix: str, d: object, out: dict[str, object]) -> None:
    if isinstance(d, dict):
        for k, v in d.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(d, list | tuple):
        out[prefix] = ", ".join(str(x) for x in d)
    else:
        out[prefix] = d


def collect(
    truth_bag: str | Path,
    tracks_bag: str | Path,
    result: dict,
    max_distance_m: float = 2.0,
    detections: str | None = None,
    diagnostics: dict | None = None,
) -> ReportData:
    """Read both bags once more and compute what the page shows; ``result`` is ``evaluate_bags``'
    output for the same bags (its scores are shown as they are, not recomputed). ``diagnostics``:
    the pipeline's counters of the run (``RunSummary.diagnostics``), when known."""
    truth = read_topics(truth_bag, [GT_OBJECTS, GT_ODOM, GPS, SCENARIO, ANNOTATIONS, CALIBRATION])
    restrict = pair_restrictor(
        truth,
        parse_region(result.get("region") or "all"),
        result.get("num_dont_care") is not None,
        max_distance_m,
    )
    have = bag_topics(tracks_bag)
    if detections is None:
        detections = result.get("det_source") or (
            "bev" if DETECTIONS.format(source="bev") in have else "lidar"
        )
    det_topic = DETECTIONS.format(source=detections)
    est = read_topics(tracks_bag, [TRACKS, det_topic, ODOM, TIMING, DIAGNOSTICS, TF])
    if not truth[GT_OBJECTS]:
        raise ValueError(f"{truth_bag} has no {GT_OBJECTS}: not a ground-truth bag")
    truth_frame = truth[GT_OBJECTS][0].header.frame_id
    gt_frames = [objects_frame(m) for m in truth[GT_OBJECTS]]

    in_truth_frame = WorldFrames(est[TF], truth_frame, objects_frame)  # as evaluate_bags scores them

    pairs, _ = restrict(match_frames(gt_frames, [in_truth_frame(m) for m in est[TRACKS]], MATCH_TOLERANCE_NS))
    events = match_events(pairs, max_distance_m)
    ego_truth, ego_est = odometry_poses(truth[GT_ODOM]), odometry_poses(est[ODOM])
    t0 = int(min([gt_frames[0].stamp_ns] + ([int(ego_truth.stamp_ns[0])] if ego_truth is not None else [])))
    t_end = int(
        max([gt_frames[-1].stamp_ns] + ([int(ego_truth.stamp_ns[-1])] if ego_truth is not None else []))
    )
    gps_st = np.array([m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in truth[GPS]])
    pr, pr_source = {}, None
    if est[det_topic]:
        det_pairs, _ = restrict(
            match_frames(
                gt_frames, [in_truth_frame(m, with_ids=False) for m in est[det_topic]], MATCH_TOLERANCE_NS
            )
        )
        pr, pr_source = pr_curves(det_pairs, 2.0), detections
    latency, missing = timing_samples(est[TIMING])
    scenario = json.loads(truth[SCENARIO][0].data) if truth[SCENARIO] else None

    kinds = Counter(events.kind.tolist())
    counters: dict[str, dict[str, object]] = {
        "frames": {
            "truth frames": len(gt_frames),
            "output frames (tracks)": len(est[TRACKS]),
            "output frames scored (truth frame or odom)": sum(
                in_truth_frame.scored(m.header.frame_id) for m in est[TRACKS]
            ),
            "odometry messages": len(est[ODOM]),
            f"detection messages ({detections})": len(est[det_topic]),
        },
        "evaluation events": {
            "matches": kinds.get("MATCH", 0),
            "ID switches": kinds.get("SWITCH", 0),
            "misses": kinds.get("MISS", 0),
            "false positives": kinds.get("FP", 0),
            "fragmentations": result.get("frag"),
        },
        "frames each sensor was missing from": dict(sorted(missing.items())) or {"(none)": 0},
    }
    if diagnostics:
        flat: dict[str, object] = {}
        _flatten("", {k: v for k, v in diagnostics.items() if k != "timing_ms"}, flat)
        counters["pipeline diagnostics"] = flat
    if est[DIAGNOSTICS]:
        for name, kv in _last_diagnostics(est[DIAGNOSTICS]).items():
            counters[f"/diagnostics: {name}"] = kv
    title = f"{Path(truth_bag).name} vs {Path(tracks_bag).name}"
    return ReportData(
        title=title,
        t0_ns=t0,
        pairs=pairs,
        events=events,
        ego_truth=ego_truth,
        ego_est=ego_est,
        ego_series=ego_error_series(ego_truth, ego_est, t0),
        gps_outages_s=gps_outages(gps_st, t0, t_end) if truth[GPS] or scenario else [],
        per_range=per_range_scores(pairs, events, ego_truth, max_distance_m),
        pr=pr,
        pr_source=pr_source,
        velocity_errors=velocity_errors_by_class(pairs, events),
        latency_ms=latency,
        counters=counters,
        scenario=scenario,
    )
