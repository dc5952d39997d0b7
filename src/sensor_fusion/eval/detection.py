"""nuScenes-style detection AP with BEV centre-distance matching.

Follows ``nuscenes.eval.detection.algo.accumulate`` and ``calc_ap``: per class,
estimates sorted by score (ties: later estimate first, as nuScenes' reversed sort)
are greedily matched to the nearest untaken truth of that class in the same frame,
a match when the distance is strictly below the threshold; precision is sampled at
101 recall points by linear interpolation (0 beyond the highest recall reached), and
AP averages ``max(0, precision - min_precision) / (1 - min_precision)`` over the recall
points above ``min_recall``. nuScenes uses min_recall = min_precision = 0.1: the
operating points below 10 % recall and below 10 % precision are too noisy to rank
detectors by, so they are ignored. Set both to 0 for the plain 101-point AP.
Deviation: a class with no truth has AP NaN (nuScenes gives 0) and is left out of
the mean, so asking for an absent class does not drag ``det_ap`` down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sensor_fusion.eval.frames import FramePair
from sensor_fusion.eval.mot import bev_distance2, class_name, select_classes

N_RECALL = 101


def _greedy_tp(pairs: Sequence[FramePair], rank: list[np.ndarray], threshold_m: float) -> list[np.ndarray]:
    """TP flag per estimate, frame by frame in global score order (matching never crosses frames)."""
    th2 = threshold_m**2
    out = []
    for (t, e), r in zip(pairs, rank):
        tp = np.zeros(len(e), dtype=bool)
        if len(t) and len(e):
            d2 = bev_distance2(t, e).T  # (n_est, n_truth)
            taken = np.zeros(len(t), dtype=bool)
            for j in np.argsort(r):
                row = np.where(taken, np.inf, d2[j])
                i = int(np.argmin(row))  # first of equals, as nuScenes' strict "<" scan
                if row[i] < th2:
                    taken[i] = True
                    tp[j] = True
        out.append(tp)
    return out


def average_precision(
    tp_sorted: np.ndarray, num_truth: int, min_recall: float, min_precision: float
) -> float:
    """nuScenes AP from TP flags of estimates in descending score order."""
    if num_truth == 0:
        return float("nan")
    tp = np.cumsum(tp_sorted, dtype=np.float64)
    if tp.size == 0 or tp[-1] == 0:  # nuScenes' "no predictions": precision 0 everywhere
        return 0.0
    fp = np.cumsum(~tp_sorted, dtype=np.float64)
    prec = tp / (tp + fp)
    rec = tp / num_truth
    prec = np.interp(np.linspace(0.0, 1.0, N_RECALL), rec, prec, right=0.0)
    prec = np.clip(prec[round(100 * min_recall) + 1 :] - min_precision, 0.0, None)
    return float(np.mean(prec)) / (1.0 - min_precision)


def _class_tp(
    pairs: Sequence[FramePair], thresholds: Sequence[float]
) -> tuple[dict[float, np.ndarray], int, int]:
    """Score-sorted TP flags per threshold for pairs already restricted to one class."""
    scores = np.concatenate([e.scores for _, e in pairs])
    n = scores.size
    # nuScenes sorts (score, index) ascending and reverses: descending score, later index first.
    order = np.lexsort((-np.arange(n), -scores))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    bounds = np.cumsum([0] + [len(e) for _, e in pairs])
    rank_per_frame = [rank[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    tp = {th: np.concatenate(_greedy_tp(pairs, rank_per_frame, th))[order] for th in thresholds}
    return tp, sum(len(t) for t, _ in pairs), n


def evaluate_detection_ap(
    pairs: Sequence[FramePair],
    thresholds_m: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    classes: Iterable[int] | None = None,
    min_recall: float = 0.1,
    min_precision: float = 0.1,
    pr_threshold_m: float = 2.0,
    pr_min_score: float = 0.0,
) -> dict:
    """Detection AP per class and threshold, their mean ``det_ap``, and P/R at ``pr_threshold_m``.

    ``classes`` defaults to every label present in truth or estimates, so an estimate with a
    label no truth has still counts against ``det_precision``; such classes get AP NaN and
    stay out of ``det_ap``. ``det_precision``/``det_recall`` use the estimates of the evaluated
    classes scoring at least ``pr_min_score`` (the detector's operating point; AP uses every
    score), class-aware with the same greedy as AP, overall and per class
    (``per_class.<class>.det_precision``/``det_recall``). Keys per threshold read ``det_ap_<th>m``.
    """
    if not 0.0 <= min_precision < 1.0 or not 0.0 <= min_recall <= 1.0:
        raise ValueError("min_precision must be in [0, 1) and min_recall in [0, 1]")
    thresholds = [float(t) for t in thresholds_m]
    if classes is None:
        labels = [f.labels for pair in pairs for f in pair]
        classes = [int(c) for c in np.unique(np.concatenate(labels))] if labels else []
    classes = [int(c) for c in classes]
    all_th = sorted(set(thresholds) | {float(pr_threshold_m)})

    per_class: dict[str, dict] = {}
    ap = np.full((len(classes), len(thresholds)), np.nan)
    n_tp = n_truth = n_est = 0
    for ci, c in enumerate(classes):
        class_pairs = select_classes(pairs, [c])
        tp, num_truth, num_est = _class_tp(class_pairs, all_th)
        ap[ci] = [average_precision(tp[th], num_truth, min_recall, min_precision) for th in thresholds]
        # greedy matching runs in descending score order, so the matches of the estimates at or
        # above the operating point are the first ones, whatever scored below it
        num_op = sum(int(np.count_nonzero(e.scores >= pr_min_score)) for _, e in class_pairs)
        c_tp = int(tp[float(pr_threshold_m)][:num_op].sum())
        n_tp += c_tp
        n_truth += num_truth
        n_est += num_op
        entry: dict = {"det_ap": float(np.mean(ap[ci]))}
        entry.update({f"det_ap_{th:g}m": float(v) for th, v in zip(thresholds, ap[ci])})
        entry.update({"det_num_truth": num_truth, "det_num_estimates": num_est})
        entry["det_precision"] = c_tp / num_op if num_op else float("nan")
        entry["det_recall"] = c_tp / num_truth if num_truth else float("nan")
        per_class[class_name(c)] = entry

    valid = ~np.isnan(ap).all(1)
    result: dict = {"det_ap": float(np.mean(ap[valid])) if valid.any() else float("nan")}
    for k, th in enumerate(thresholds):
        result[f"det_ap_{th:g}m"] = float(np.mean(ap[valid, k])) if valid.any() else float("nan")
    result["det_precision"] = n_tp / n_est if n_est else float("nan")
    result["det_recall"] = n_tp / n_truth if n_truth else float("nan")
    result["per_class"] = per_class
    return result


def pr_curves(
    pairs: Sequence[FramePair], threshold_m: float = 2.0, classes: Iterable[int] | None = None
) -> dict[str, dict]:
    """Precision-recall curve per class at one matching threshold (the same greedy, score-ordered
    matching as the AP): ``{class: {"recall": (n,), "precision": (n,), "num_truth": int}}``, one
    point per estimate in descending score order. Classes without truth are left out."""
    if classes is None:
        labels = [f.labels for pair in pairs for f in pair]
        classes = [int(c) for c in np.unique(np.concatenate(labels))] if labels else []
    out: dict[str, dict] = {}
    for c in classes:
        tp, num_truth, _num_est = _class_tp(select_classes(pairs, [int(c)]), [float(threshold_m)])
        if num_truth == 0:
            continue
        flags = tp[float(threshold_m)]
        ctp = np.cumsum(flags, dtype=np.float64)
        n = np.arange(1, flags.size + 1, dtype=np.float64)
        out[class_name(int(c))] = {"recall": ctp / num_truth, "precision": ctp / n, "num_truth": num_truth}
    return out
