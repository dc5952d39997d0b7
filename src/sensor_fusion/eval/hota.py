"""HOTA (Luiten et al., IJCV 2021), computed exactly as TrackEval's ``HOTA.eval_sequence``.

Own implementation rather than a runtime dependency on ``trackeval``: its wheel
pins GUI OpenCV and prints on import. ``tests/eval/test_hota.py`` checks every curve
against TrackEval when it is importable. Differences are storage only: matched
pairs are kept sparse (TrackEval holds 19 dense gt-id x track-id arrays), and
the potential-match matrix is dense (n_gt_ids x n_track_ids float64).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Localisation thresholds, identical to TrackEval's ``np.arange(0.05, 0.99, 0.05)`` (19 values).
ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo(float).eps
CURVE_FIELDS = ("hota", "deta", "assa", "detre", "detpr", "assre", "asspr", "loca")


def _contiguous(ids: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Map arbitrary int64 ids onto 0..n-1 across the sequence (per-frame uniqueness is checked)."""
    lengths = [len(i) for i in ids]
    flat = np.concatenate([np.asarray(i, dtype=np.int64) for i in ids]) if ids else np.zeros(0, np.int64)
    uniq, inv = np.unique(flat, return_inverse=True)
    out = np.split(inv.astype(np.int64), np.cumsum(lengths)[:-1]) if ids else []
    for frame in out:
        if np.unique(frame).size != frame.size:
            raise ValueError("ids must be unique within a frame")
    return out, int(uniq.size)


def hota_curves(
    gt_ids: Sequence[np.ndarray], tr_ids: Sequence[np.ndarray], similarity: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Per-alpha HOTA sub-metrics for one sequence.

    ``similarity[k]`` is the (n_gt, n_tr) similarity in [0, 1] of frame ``k``; ids are any
    int64 values, unique within a frame. Returns arrays over ``ALPHAS`` for ``CURVE_FIELDS``
    plus integer-valued ``tp``, ``fn``, ``fp``.
    """
    if not len(gt_ids) == len(tr_ids) == len(similarity):
        raise ValueError("gt_ids, tr_ids and similarity need one entry per frame")
    n_a = ALPHAS.size
    res = {f: np.zeros(n_a) for f in (*CURVE_FIELDS, "tp", "fn", "fp")}
    n_gt_dets = sum(len(g) for g in gt_ids)
    n_tr_dets = sum(len(t) for t in tr_ids)
    if n_gt_dets == 0 or n_tr_dets == 0:  # TrackEval's early exit: everything is FN or FP
        res["fn"][:] = n_gt_dets
        res["fp"][:] = n_tr_dets
        res["loca"][:] = 1.0
        return res
    gts, n_g = _contiguous(gt_ids)
    trs, n_t = _contiguous(tr_ids)
    sims = [np.asarray(s, dtype=np.float64).reshape(len(g), len(t)) for s, g, t in zip(similarity, gts, trs)]

    # Pass 1: soft global alignment between every gt id and track id.
    potential = np.zeros((n_g, n_t))
    gt_count = np.zeros(n_g)
    tr_count = np.zeros(n_t)
    for g, t, s in zip(gts, trs, sims):
        if s.size:
            denom = s.sum(0)[np.newaxis, :] + s.sum(1)[:, np.newaxis] - s
            sim_iou = np.zeros_like(s)
            mask = denom > 0 + _EPS
            sim_iou[mask] = s[mask] / denom[mask]
            potential[g[:, np.newaxis], t[np.newaxis, :]] += sim_iou
        gt_count[g] += 1
        tr_count[t] += 1
    alignment = potential / (gt_count[:, np.newaxis] + tr_count[np.newaxis, :] - potential)

    # Pass 2: per-frame Hungarian on alignment x similarity, thresholded at every alpha.
    m_g, m_t, m_s = [], [], []
    for g, t, s in zip(gts, trs, sims):
        if len(g) == 0 or len(t) == 0:
            res["fp"] += len(t)
            res["fn"] += len(g)
            continue
        rows, cols = linear_sum_assignment(-(alignment[g[:, np.newaxis], t[np.newaxis, :]] * s))
        sv = s[rows, cols]
        ok = sv[np.newaxis, :] >= ALPHAS[:, np.newaxis] - _EPS  # (alphas, matches)
        n_ok = ok.sum(1)
        res["tp"] += n_ok
        res["fn"] += len(g) - n_ok
        res["fp"] += len(t) - n_ok
        res["loca"] += np.where(ok, sv, 0.0).sum(1)
        m_g.append(g[rows])
        m_t.append(t[cols])
        m_s.append(sv)

    # Association scores from how often each (gt id, track id) pair matched, per alpha.
    g_all, t_all, s_all = (np.concatenate(x) for x in (m_g, m_t, m_s)) if m_g else (np.zeros(0),) * 3
    key = g_all.astype(np.int64) * n_t + t_all.astype(np.int64)
    tp_div = np.maximum(1, res["tp"])
    for a, alpha in enumerate(ALPHAS):
        pairs, count = np.unique(key[s_all >= alpha - _EPS], return_counts=True)
        gc = gt_count[pairs // n_t]
        tc = tr_count[pairs % n_t]
        res["assa"][a] = np.sum(count * (count / np.maximum(1, gc + tc - count))) / tp_div[a]
        res["assre"][a] = np.sum(count * (count / np.maximum(1, gc))) / tp_div[a]
        res["asspr"][a] = np.sum(count * (count / np.maximum(1, tc))) / tp_div[a]

    tp, fn, fp = res["tp"], res["fn"], res["fp"]
    res["loca"] = np.maximum(1e-10, res["loca"]) / np.maximum(1e-10, tp)
    res["detre"] = tp / np.maximum(1, tp + fn)
    res["detpr"] = tp / np.maximum(1, tp + fp)
    res["deta"] = tp / np.maximum(1, tp + fn + fp)
    res["hota"] = np.sqrt(res["deta"] * res["assa"])
    return res


def hota(
    gt_ids: Sequence[np.ndarray], tr_ids: Sequence[np.ndarray], similarity: Sequence[np.ndarray]
) -> dict[str, float]:
    """HOTA, DetA, AssA, ... averaged over alpha, as TrackEval reports them."""
    curves = hota_curves(gt_ids, tr_ids, similarity)
    return {f: float(np.mean(curves[f])) for f in CURVE_FIELDS}
