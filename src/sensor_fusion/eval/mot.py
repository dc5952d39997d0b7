"""CLEAR-MOT (py-motmetrics), HOTA and velocity error of tracks against ground truth.

Matching is on bird's-eye-view centre distance, the quantity the tracker actually
estimates (its state is x, y, vx, vy). The ``overall`` numbers ignore labels, so they
measure geometry and identity; ``per_class`` counts a mislabelled track as a miss of
the true class and a false positive of the label it carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.eval.frames import FrameObjects, FramePair
from sensor_fusion.eval.hota import hota

_MM_METRICS = (
    "num_frames",
    "num_objects",
    "num_matches",
    "num_switches",
    "num_fragmentations",
    "num_misses",
    "num_false_positives",
    "idtp",
    "idfp",
    "idfn",
)


def class_name(label: int) -> str:
    """Readable key for per-class results (``car``), ``class_<n>`` for labels outside ObjectClass."""
    try:
        return ObjectClass(int(label)).name.lower()
    except ValueError:
        return f"class_{int(label)}"


def bev_distance2(truth: FrameObjects, est: FrameObjects) -> np.ndarray:
    """(n_truth, n_est) squared centre distance in the x-y plane, m^2."""
    d = truth.centers[:, np.newaxis, :2] - est.centers[np.newaxis, :, :2]
    return np.einsum("ijk,ijk->ij", d, d)


def bev_matches(
    truth: FrameObjects, est: FrameObjects, max_distance_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Class-agnostic one-to-one matches within ``max_distance_m`` in the x-y plane: (truth rows,
    estimate columns), as many pairs as possible, then the least squared distance."""
    if not len(truth) or not len(est):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d2 = bev_distance2(truth, est)
    cost = np.where(d2 <= max_distance_m**2, d2, 1e12)
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < 1e12
    return rows[ok], cols[ok]


def select_classes(pairs: Sequence[FramePair], classes: Iterable[int]) -> list[FramePair]:
    """Keep only objects whose label is in ``classes`` (truth and estimates alike)."""
    cls = np.fromiter((int(c) for c in classes), dtype=np.int64)
    return [(t.select(np.isin(t.labels, cls)), e.select(np.isin(e.labels, cls))) for t, e in pairs]


def _present_classes(pairs: Sequence[FramePair]) -> list[int]:
    labels = [f.labels for pair in pairs for f in pair]
    return [int(c) for c in np.unique(np.concatenate(labels))] if labels else []


def _dense_ids(frames: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Sequence-wide ids mapped to 0..n-1: motmetrics stores ids as float64, which would merge
    distinct int64 ids above 2**53 and so miscount switches."""
    if not frames:
        return [], 0
    lengths = [len(f) for f in frames]
    uniq, inv = np.unique(np.concatenate(frames), return_inverse=True)
    return np.split(inv.astype(np.int64), np.cumsum(lengths)[:-1]), int(uniq.size)


def _accumulate(pairs: Sequence[FramePair], max_distance_m: float):
    """The motmetrics accumulator of a sequence, its dense ids per frame and the HOTA similarities."""
    import motmetrics as mm  # deferred: pulls in pandas

    max_d2 = max_distance_m**2
    gt_ids, n_gt = _dense_ids([t.ids for t, _ in pairs])
    tr_ids, n_tr = _dense_ids([e.ids for _, e in pairs])
    acc = mm.MOTAccumulator(auto_id=False)
    sims = []
    for k, ((t, e), g, h) in enumerate(zip(pairs, gt_ids, tr_ids)):
        if np.unique(g).size != g.size or np.unique(h).size != h.size:
            raise ValueError(f"ids must be unique within a frame (frame {k}, stamp {t.stamp_ns} ns)")
        d2 = bev_distance2(t, e)
        sims.append(np.maximum(0.0, 1.0 - np.sqrt(d2) / max_distance_m))
        acc.update(g, h, np.where(d2 <= max_d2, d2, np.nan), frameid=k)
    return acc, gt_ids, n_gt, tr_ids, n_tr, sims


@dataclass
class MatchEvents:
    """CLEAR-MOT events of a sequence, one row each: frame index, kind (MATCH, SWITCH, MISS, FP) and
    the row of the truth / estimate object in that frame's arrays (-1 where the event has none)."""

    frame: np.ndarray
    kind: np.ndarray
    truth_row: np.ndarray
    est_row: np.ndarray


def match_events(pairs: Sequence[FramePair], max_distance_m: float = 2.0) -> MatchEvents:
    """The events behind ``evaluate_tracking``'s counts (same matching), for plots that show where
    switches, misses and false positives happened."""
    acc, gt_ids, _n_gt, tr_ids, _n_tr, _sims = _accumulate(pairs, max_distance_m)
    ev = acc.mot_events
    ev = ev[ev.Type.isin(["MATCH", "SWITCH", "MISS", "FP"])]
    frame = ev.index.get_level_values("FrameId").to_numpy(np.int64)
    oid = ev.OId.to_numpy(np.float64)
    hid = ev.HId.to_numpy(np.float64)

    def rows(ids_per_frame: list[np.ndarray], dense: np.ndarray) -> np.ndarray:
        out = np.full(len(frame), -1, np.int64)
        for i, (k, d) in enumerate(zip(frame, dense)):
            if np.isfinite(d):
                hit = np.flatnonzero(ids_per_frame[k] == int(d))
                out[i] = hit[0] if hit.size else -1
        return out

    return MatchEvents(frame, ev.Type.to_numpy().astype(str), rows(gt_ids, oid), rows(tr_ids, hid))


def score_pairs(pairs: Sequence[FramePair], max_distance_m: float = 2.0) -> dict[str, float | int]:
    """``evaluate_tracking``'s overall metrics without the per-class breakdown (for subsets such as
    range bins)."""
    if not pairs:
        raise ValueError("no frame pairs to evaluate")
    return _score(pairs, max_distance_m)


def _score(pairs: Sequence[FramePair], max_distance_m: float) -> dict[str, float | int]:
    """All tracking metrics for one (possibly class-filtered) sequence of frame pairs."""
    import motmetrics as mm

    acc, gt_ids, n_gt, tr_ids, n_tr, sims = _accumulate(pairs, max_distance_m)

    summary = mm.metrics.create().compute(acc, metrics=list(_MM_METRICS), return_dataframe=False)
    n = {k: int(round(float(v))) for k, v in summary.items()}
    ev = acc.mot_events
    matched = ev[ev.Type.isin(["MATCH", "SWITCH"])]
    frame = matched.index.get_level_values("FrameId").to_numpy(np.int64)
    oid = matched.OId.to_numpy().astype(np.int64)
    hid = matched.HId.to_numpy().astype(np.int64)
    dist = np.sqrt(matched.D.to_numpy(np.float64))

    # Velocity of each matched pair, looked up by (frame, dense id) keys: no per-object Python.
    v_gt = np.concatenate([t.velocity for t, _ in pairs])
    v_tr = np.concatenate([e.velocity for _, e in pairs])
    k_gt = np.concatenate([k * n_gt + g for k, g in enumerate(gt_ids)])
    k_tr = np.concatenate([k * n_tr + h for k, h in enumerate(tr_ids)])
    o_gt, o_tr = np.argsort(k_gt), np.argsort(k_tr)
    rows_gt = o_gt[np.searchsorted(k_gt[o_gt], frame * n_gt + oid)]
    rows_tr = o_tr[np.searchsorted(k_tr[o_tr], frame * n_tr + hid)]
    dv = v_tr[rows_tr] - v_gt[rows_gt]
    dv = dv[np.isfinite(dv).all(1)]

    h = hota(gt_ids, tr_ids, sims)
    num_objects = n["num_objects"]
    errors = n["num_misses"] + n["num_switches"] + n["num_false_positives"]
    found = n["num_matches"] + n["num_switches"]  # truth objects that had a track
    id_all = 2 * n["idtp"] + n["idfp"] + n["idfn"]
    return {
        "mota": 1.0 - errors / num_objects if num_objects else float("nan"),
        "motp": float(dist.mean()) if dist.size else float("nan"),
        "idsw": n["num_switches"],
        # IDF1 (Ristani et al. 2016): F1 of the identity-consistent matching over the whole sequence
        "idf1": 2 * n["idtp"] / id_all if id_all else float("nan"),
        "precision": found / (found + n["num_false_positives"])
        if found + n["num_false_positives"]
        else float("nan"),
        "recall": found / num_objects if num_objects else float("nan"),
        "frag": n["num_fragmentations"],
        "num_matches": n["num_matches"],
        "num_misses": n["num_misses"],
        "num_false_positives": n["num_false_positives"],
        "num_objects": num_objects,
        "num_frames": n["num_frames"],
        "hota": h["hota"],
        "deta": h["deta"],
        "assa": h["assa"],
        "loca": h["loca"],
        "velocity_rmse": float(np.sqrt(np.mean(np.sum(dv**2, 1)))) if dv.size else float("nan"),
        "num_velocity_pairs": int(dv.shape[0]),
    }


def evaluate_tracking(
    pairs: Sequence[FramePair], max_distance_m: float = 2.0, classes: Iterable[int] | None = None
) -> dict:
    """Score tracks against truth, frame pair by frame pair (see ``match_frames``).

    CLEAR-MOT from py-motmetrics with cost = squared BEV centre distance, gated at
    ``max_distance_m**2`` (pairs at exactly the gate still match). ``motp`` is the mean
    matched distance in m (motmetrics' own MOTP would be the mean squared distance).
    ``num_matches`` counts MATCH events only; ``motp`` and ``velocity_rmse`` use matches and
    switches, i.e. every truth object that had a track. HOTA uses similarity
    ``max(0, 1 - d / max_distance_m)`` and is averaged over TrackEval's 19 alphas. ``idf1`` is
    py-motmetrics' identity F1 (same gate); ``precision`` and ``recall`` count a truth object with
    any track (match or switch) as found, as CLEAR-MOT's do.
    ``velocity_rmse`` (m/s) is over matched pairs where both velocities are finite.

    ``classes`` limits which labels count at all (default: every label present in truth or
    estimates); ``per_class`` maps ``class_name(label)`` to the same metrics restricted to
    truth of that class against estimates labelled with it. MOTA is NaN without truth.
    """
    if max_distance_m <= 0:
        raise ValueError(f"max_distance_m must be > 0, got {max_distance_m}")
    if not pairs:
        raise ValueError("no frame pairs to evaluate")
    if classes is not None:
        classes = [int(c) for c in classes]
        pairs = select_classes(pairs, classes)
    else:
        classes = _present_classes(pairs)
    result: dict = _score(pairs, max_distance_m)
    result["per_class"] = {class_name(c): _score(select_classes(pairs, [c]), max_distance_m) for c in classes}
    return result
