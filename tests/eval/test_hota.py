"""eval/hota.py: HOTA against TrackEval on random sequences, alpha edges, the empty convention."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from sensor_fusion.eval.frames import FrameObjects
from sensor_fusion.eval.hota import hota_curves
from sensor_fusion.eval.mot import evaluate_tracking
from tests.eval.common import MS, frame


def _trackeval_hota():
    with contextlib.redirect_stdout(io.StringIO()):  # it prints about optional datasets on import
        trackeval = pytest.importorskip("trackeval")
    return trackeval.metrics.HOTA()


def _random_sequence(rng, n_frames=30):
    """Objects and tracks that appear, vanish and get noisy positions; tracks swap and split."""
    truth, est = [], []
    n_obj = 6
    paths = rng.uniform(-15, 15, (n_obj, 2)) + np.cumsum(rng.normal(0, 0.3, (n_frames, n_obj, 2)), 0)
    for k in range(n_frames):
        vis = rng.random(n_obj) < 0.8
        ids = np.flatnonzero(vis) + 1
        truth.append(frame(k * 100 * MS, ids, paths[k, vis]))
        det = vis & (rng.random(n_obj) < 0.85)
        tid = np.flatnonzero(det) + 10 + 7 * (rng.random(det.sum()) < 0.15)  # occasional wrong id
        _, keep = np.unique(tid, return_index=True)
        xy = paths[k, det][keep] + rng.normal(0, 0.7, (keep.size, 2))
        n_fp = rng.integers(0, 3)
        ids_e = np.concatenate([tid[keep], 500 + rng.choice(20, n_fp, replace=False)])
        xy = np.vstack([xy, rng.uniform(-20, 20, (n_fp, 2))])
        est.append(frame(k * 100 * MS, ids_e, xy))
    est[3] = FrameObjects.empty(est[3].stamp_ns)  # frame with no estimates
    truth[7] = FrameObjects.empty(truth[7].stamp_ns)  # frame with no truth
    return list(zip(truth, est))


def _trackeval_data(pairs, max_d):
    gt_u = np.unique(np.concatenate([t.ids for t, _ in pairs]))
    tr_u = np.unique(np.concatenate([e.ids for _, e in pairs]))
    sims = []
    for t, e in pairs:
        d = np.linalg.norm(t.centers[:, None, :2] - e.centers[None, :, :2], axis=2)
        sims.append(np.maximum(0.0, 1.0 - d / max_d))
    return {
        "num_gt_dets": sum(len(t) for t, _ in pairs),
        "num_tracker_dets": sum(len(e) for _, e in pairs),
        "num_gt_ids": gt_u.size,
        "num_tracker_ids": tr_u.size,
        "gt_ids": [np.searchsorted(gt_u, t.ids) for t, _ in pairs],
        "tracker_ids": [np.searchsorted(tr_u, e.ids) for _, e in pairs],
        "similarity_scores": sims,
    }


FIELDS = {"hota": "HOTA", "deta": "DetA", "assa": "AssA", "detre": "DetRe", "detpr": "DetPr"}
FIELDS |= {
    "assre": "AssRe",
    "asspr": "AssPr",
    "loca": "LocA",
    "tp": "HOTA_TP",
    "fn": "HOTA_FN",
    "fp": "HOTA_FP",
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hota_matches_trackeval(seed):
    ref_metric = _trackeval_hota()
    pairs = _random_sequence(np.random.default_rng(seed))
    data = _trackeval_data(pairs, max_d=2.0)
    ref = ref_metric.eval_sequence(data)
    ours = hota_curves(data["gt_ids"], data["tracker_ids"], data["similarity_scores"])
    for mine, theirs in FIELDS.items():
        np.testing.assert_allclose(ours[mine], ref[theirs], atol=1e-6, err_msg=mine)
    assert 0.05 < float(np.mean(ref["HOTA"])) < 0.95  # a non-trivial case
    r = evaluate_tracking(pairs, max_distance_m=2.0)  # end to end, with the original sparse int64 ids
    for k in ("hota", "deta", "assa", "loca"):
        assert r[k] == pytest.approx(float(np.mean(ref[FIELDS[k]])), abs=1e-6)


@pytest.mark.parametrize("sim", [0.15, 0.35, 0.6, 0.9])
def test_hota_alpha_edges_inclusive(sim):
    # np.arange alphas are a hair above their decimal (0.15000000000000002): TrackEval's eps keeps
    # a similarity of exactly 0.15 matched at alpha 0.15
    r = hota_curves([np.array([1])], [np.array([5])], [np.array([[sim]])])
    assert r["tp"].sum() == round(sim / 0.05)


def test_hota_empty_matches_trackeval_convention():
    r = hota_curves([np.array([1, 2])], [np.zeros(0, np.int64)], [np.zeros((2, 0))])
    assert np.all(r["hota"] == 0) and np.all(r["fn"] == 2) and np.all(r["loca"] == 1)
