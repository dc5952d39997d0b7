"""Scoring against ground truth: hand-computed cases, plus HOTA against TrackEval when installed."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.eval.detection import evaluate_detection_ap
from sensor_fusion.eval.ego import EgoPoses, ego_errors, gps_average_bound, position_rmse
from sensor_fusion.eval.frames import FrameObjects, match_frames
from sensor_fusion.eval.hota import ALPHAS, hota_curves
from sensor_fusion.eval.latency import latency_percentiles
from sensor_fusion.eval.mot import evaluate_tracking
from sensor_fusion.eval.report import bev_plot, format_table, merge_results

MS = 1_000_000
CAR, PED, BIKE = int(ObjectClass.CAR), int(ObjectClass.PEDESTRIAN), int(ObjectClass.BICYCLE)


def frame(stamp_ns, ids, xy, labels=None, vel=None, scores=None) -> FrameObjects:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = xy.shape[0]
    return FrameObjects(
        stamp_ns=stamp_ns,
        ids=np.asarray(ids, dtype=np.int64),
        labels=np.full(n, CAR) if labels is None else np.asarray(labels),
        centers=np.column_stack([xy, np.zeros(n)]),
        sizes=np.tile([4.5, 1.9, 1.6], (n, 1)),
        yaw=np.zeros(n),
        velocity=np.zeros((n, 2)) if vel is None else np.asarray(vel, dtype=float).reshape(n, 2),
        scores=np.ones(n) if scores is None else np.asarray(scores, dtype=float),
    )


def world(n_frames=10, n_obj=2, labels=None) -> list[FrameObjects]:
    """Objects 20 m apart moving at 1 m/s along x, 10 Hz."""
    frames = []
    for k in range(n_frames):
        t = 0.1 * k
        xy = np.column_stack([np.full(n_obj, t), 20.0 * np.arange(n_obj)])
        vel = np.tile([1.0, 0.0], (n_obj, 1))
        frames.append(frame(k * 100 * MS, np.arange(n_obj) + 1, xy, labels=labels, vel=vel))
    return frames


def copy_as_tracks(truth, id_offset=100, dxy=(0.0, 0.0), dv=(0.0, 0.0)) -> list[FrameObjects]:
    return [
        frame(
            f.stamp_ns,
            f.ids + id_offset,
            f.centers[:, :2] + dxy,
            labels=f.labels,
            vel=f.velocity + dv,
            scores=np.full(len(f), 0.9),
        )
        for f in truth
    ]


# ---------------------------------------------------------------- tracking


def test_perfect_tracks():
    truth = world()
    pairs = list(zip(truth, copy_as_tracks(truth)))
    r = evaluate_tracking(pairs)
    assert r["mota"] == 1.0 and r["idsw"] == 0 and r["frag"] == 0
    assert r["num_matches"] == 20 and r["num_misses"] == 0 and r["num_false_positives"] == 0
    assert r["motp"] == 0.0
    assert r["idf1"] == 1.0 and r["precision"] == 1.0 and r["recall"] == 1.0
    assert (
        r["hota"] == pytest.approx(1.0)
        and r["deta"] == pytest.approx(1.0)
        and r["assa"] == pytest.approx(1.0)
    )
    assert r["velocity_rmse"] == 0.0 and r["num_velocity_pairs"] == 20
    d = evaluate_detection_ap(pairs)
    assert d["det_ap"] == pytest.approx(1.0)
    assert d["det_precision"] == 1.0 and d["det_recall"] == 1.0


def test_swapped_ids_counted_as_switches():
    truth = world(n_frames=10, n_obj=2)
    tracks = copy_as_tracks(truth)
    for f in tracks[5:]:
        f.ids = f.ids[::-1].copy()  # both identities swap at frame 5
    r = evaluate_tracking(list(zip(truth, tracks)))
    assert r["idsw"] == 2
    assert r["num_matches"] == 18  # the two switch events are not MATCH events
    assert r["mota"] == pytest.approx(1.0 - 2 / 20)
    assert r["frag"] == 0
    # Each truth id matches each track id in 5 of 10 frames: A(c) = 5 / (10 + 10 - 5) = 1/3 for every
    # match, so AssA = 1/3, DetA = 1 and HOTA = sqrt(1/3) at every alpha.
    assert r["assa"] == pytest.approx(1 / 3) and r["deta"] == pytest.approx(1.0)
    assert r["hota"] == pytest.approx(np.sqrt(1 / 3))
    # IDF1: one identity per truth id over the sequence, right in 5 of 10 frames each:
    # IDTP 10, IDFN 10, IDFP 10 -> 2 * 10 / 40; precision and recall count switches as found
    assert r["idf1"] == pytest.approx(0.5)
    assert r["precision"] == 1.0 and r["recall"] == 1.0


def test_missed_objects():
    truth = world(n_frames=10, n_obj=2)
    tracks = copy_as_tracks(truth)
    for k in (3, 4, 5):  # object 1 lost for three frames, then re-acquired by the same track
        tracks[k] = tracks[k].select(tracks[k].ids != 101)
    tracks[9] = tracks[9].select(tracks[9].ids != 102)  # object 2 lost in the last frame
    r = evaluate_tracking(list(zip(truth, tracks)))
    assert r["num_misses"] == 4
    assert r["num_matches"] == 16
    assert r["mota"] == pytest.approx(1.0 - 4 / 20)
    assert r["idsw"] == 0
    assert r["frag"] == 1  # only the interrupted track; a miss after the last match is no fragment
    assert r["idf1"] == pytest.approx(2 * 16 / (2 * 16 + 0 + 4))
    assert r["recall"] == pytest.approx(16 / 20) and r["precision"] == 1.0


def test_false_positives_and_gate():
    truth = world(n_frames=10, n_obj=2)
    tracks = copy_as_tracks(truth)
    for k in range(4):  # a ghost far from everything in 4 frames
        f = tracks[k]
        tracks[k] = frame(f.stamp_ns, [*f.ids, 999], np.vstack([f.centers[:, :2], [50.0, 50.0]]))
    # frame 9: object 1's track 2.5 m off, beyond the 2 m gate -> one miss and one false positive
    f = tracks[9]
    tracks[9] = frame(f.stamp_ns, f.ids, f.centers[:, :2] + [[0.0, 2.5], [0.0, 0.0]])
    r = evaluate_tracking(list(zip(truth, tracks)), max_distance_m=2.0)
    assert r["num_false_positives"] == 5
    assert r["num_misses"] == 1
    assert r["mota"] == pytest.approx(1.0 - 6 / 20)
    assert r["idf1"] == pytest.approx(2 * 19 / (2 * 19 + 5 + 1))
    assert r["precision"] == pytest.approx(19 / 24) and r["recall"] == pytest.approx(19 / 20)


def test_offset_track_motp_hota_velocity():
    truth = world()
    pairs = list(zip(truth, copy_as_tracks(truth, dxy=(1.0, 0.0), dv=(0.3, 0.4))))
    r = evaluate_tracking(pairs, max_distance_m=2.0)
    assert r["motp"] == pytest.approx(1.0)
    assert r["mota"] == 1.0
    assert r["velocity_rmse"] == pytest.approx(0.5)
    # similarity 1 - 1/2 = 0.5: matched at the 10 alphas <= 0.5, nothing matched above
    assert np.sum(ALPHAS <= 0.5 + 1e-9) == 10
    assert r["hota"] == pytest.approx(10 / 19)
    assert r["loca"] == pytest.approx(0.5 * 10 / 19 + 9 / 19)  # TrackEval: LocA is 1 where nothing matched
    # metres, not motmetrics' squared distance (which a 1 m offset cannot tell apart)
    assert evaluate_tracking(list(zip(truth, copy_as_tracks(truth, dxy=(0.9, 1.2)))))[
        "motp"
    ] == pytest.approx(1.5)


def test_nan_velocity_excluded():
    truth = world()
    tracks = copy_as_tracks(truth, dv=(0.0, 2.0))
    for f in tracks[:5]:
        f.velocity[:] = np.nan
    r = evaluate_tracking(list(zip(truth, tracks)))
    assert r["num_velocity_pairs"] == 10
    assert r["velocity_rmse"] == pytest.approx(2.0)


def test_large_int64_ids_not_merged():
    # Ids above 2**53 collide as float64 (motmetrics' event table); they must still be told apart.
    truth = world(n_frames=6, n_obj=2)
    tracks = copy_as_tracks(truth, id_offset=0)
    big = np.array([2**62, 2**62 + 1], dtype=np.int64)
    for k, f in enumerate(tracks):
        f.ids = big.copy() if k < 3 else big[::-1].copy()
    r = evaluate_tracking(list(zip(truth, tracks)))
    assert r["idsw"] == 2


def test_duplicate_ids_rejected():
    truth = [frame(0, [1, 1], [[0, 0], [10, 0]])]
    with pytest.raises(ValueError, match="unique"):
        evaluate_tracking([(truth[0], truth[0])])


def test_per_class_split():
    labels = np.array([CAR, PED])
    truth = world(n_frames=10, n_obj=2, labels=labels)
    tracks = copy_as_tracks(truth)
    for f in tracks:
        f.labels = np.array([CAR, BIKE])  # pedestrian tracked well but called a bicycle
    pairs = list(zip(truth, tracks))
    r = evaluate_tracking(pairs)
    assert r["mota"] == 1.0  # overall ignores labels
    pc = r["per_class"]
    assert set(pc) == {"car", "pedestrian", "bicycle"}
    assert pc["car"]["mota"] == 1.0 and pc["car"]["num_objects"] == 10
    assert pc["pedestrian"]["num_misses"] == 10 and pc["pedestrian"]["mota"] == 0.0
    assert pc["pedestrian"]["hota"] == 0.0
    assert pc["bicycle"]["num_false_positives"] == 10 and np.isnan(pc["bicycle"]["mota"])
    # classes= restricts everything, overall included
    r_car = evaluate_tracking(pairs, classes=[CAR])
    assert set(r_car["per_class"]) == {"car"} and r_car["num_objects"] == 10
    d = evaluate_detection_ap(pairs)
    assert set(d["per_class"]) == {"car", "pedestrian", "bicycle"}
    assert d["per_class"]["car"]["det_ap"] == pytest.approx(1.0)
    assert d["per_class"]["pedestrian"]["det_ap"] == 0.0
    assert np.isnan(d["per_class"]["bicycle"]["det_ap"])  # no truth: left out of det_ap
    assert d["det_ap"] == pytest.approx(0.5)
    assert d["det_precision"] == pytest.approx(0.5) and d["det_recall"] == pytest.approx(0.5)


# ---------------------------------------------------------------- HOTA vs TrackEval


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


# ---------------------------------------------------------------- detection AP


def _ap_hand(prec_at):
    """nuScenes AP from a precision function of recall: bins 0.11..1.00, minus 0.1, over 0.9."""
    r = np.linspace(0, 1, 101)[11:]
    return float(np.mean(np.clip(prec_at(r) - 0.1, 0, None)) / 0.9)


def test_ap_hand_made_curve():
    truth = [frame(0, [1, 2, 3], [[0, 0], [10, 0], [20, 0]])]
    # by score: TP (0 m), FP (nothing near), TP (0.3 m), TP at 2 m and 4 m only (1.5 m off)
    est = [frame(0, [1, 2, 3, 4], [[0, 0], [50, 0], [10, 0.3], [20, 1.5]], scores=[0.9, 0.8, 0.7, 0.6])]
    d = evaluate_detection_ap(list(zip(truth, est)))

    # tp = 1,0,1,1: recall 1/3,1/3,2/3,1 with precision 1,1/2,2/3,3/4 -> piecewise linear between
    # (1/3, 1/2), (2/3, 2/3), (1, 3/4); flat at 1 below recall 1/3
    def p_wide(r):
        return np.where(
            r < 1 / 3, 1.0, np.where(r < 2 / 3, 0.5 + (r - 1 / 3) * 0.5, 2 / 3 + (r - 2 / 3) * 0.25)
        )

    # tp = 1,0,1,0: recall stops at 2/3 (precision 0 beyond)
    def p_tight(r):
        return np.where(r < 1 / 3, 1.0, np.where(r < 2 / 3, 0.5 + (r - 1 / 3) * 0.5, 0.0))

    assert d["det_ap_2m"] == pytest.approx(_ap_hand(p_wide)) and d["det_ap_4m"] == d["det_ap_2m"]
    assert d["det_ap_0.5m"] == pytest.approx(_ap_hand(p_tight)) and d["det_ap_1m"] == d["det_ap_0.5m"]
    assert d["det_ap"] == pytest.approx((_ap_hand(p_wide) + _ap_hand(p_tight)) / 2)
    assert 0.3 < d["det_ap"] < 0.9
    assert d["det_precision"] == pytest.approx(3 / 4) and d["det_recall"] == 1.0
    # a confident false positive first costs precision everywhere; raising the true ones above it helps
    est[0].scores = np.array([0.9, 0.1, 0.7, 0.6])
    assert evaluate_detection_ap(list(zip(truth, est)))["det_ap_2m"] == pytest.approx(
        _ap_hand(lambda r: np.where(r < 1.0, 1.0, 0.75))
    )


def test_ap_greedy_takes_nearest_truth_and_no_double_match():
    truth = [frame(0, [1, 2], [[0, 0], [1.0, 0]])]
    # the best-scored estimate sits on truth 2; the second is nearer truth 2 than truth 1 but it is taken
    est = [frame(0, [1, 2], [[1.0, 0], [0.8, 0]], scores=[0.9, 0.8])]
    d = evaluate_detection_ap(list(zip(truth, est)), thresholds_m=(0.5, 1.0))
    assert d["det_ap_1m"] == pytest.approx(1.0)  # second matches truth 1 at 0.8 m
    # a match needs distance strictly below the threshold, as in nuScenes
    edge = [(frame(0, [1], [[0.0, 0.0]]), frame(0, [1], [[0.6, 0.8]], scores=[0.9]))]  # 1 m off
    assert evaluate_detection_ap(edge, thresholds_m=(1.0,))["det_ap"] == 0.0
    assert evaluate_detection_ap(edge, thresholds_m=(1.0 + 1e-9,))["det_ap"] == pytest.approx(1.0)
    # at 0.5 m: tp = 1,0 -> recall 1/2,1/2 with precision 1,1/2; as in nuScenes (np.interp over repeated
    # recall), the bin exactly at recall 0.5 takes the last precision there, 1/2
    expected = _ap_hand(lambda r: np.where(r < 0.495, 1.0, np.where(r < 0.505, 0.5, 0.0)))
    assert d["det_ap_0.5m"] == pytest.approx(expected)


def test_ap_absent_class_is_nan_and_skipped():
    truth = world()
    d = evaluate_detection_ap(list(zip(truth, copy_as_tracks(truth))), classes=[CAR, PED])
    assert np.isnan(d["per_class"]["pedestrian"]["det_ap"])
    assert d["det_ap"] == pytest.approx(1.0)


# ---------------------------------------------------------------- frames, ego, latency, report


def test_match_frames_offsets_and_gaps():
    truth = [frame(k * 100 * MS, [1], [[0, 0]]) for k in range(5)]
    stamps = [305 * MS, 3 * MS, 98 * MS, 150 * MS]  # unsorted; 200 and 400 have nothing within 10 ms
    est = [frame(s, [7], [[0, 0]]) for s in stamps]
    pairs = match_frames(truth, est, tolerance_ns=10 * MS)
    assert [t.stamp_ns for t, _ in pairs] == [t.stamp_ns for t in truth]
    assert [e.stamp_ns for _, e in pairs] == [3 * MS, 98 * MS, 200 * MS, 305 * MS, 400 * MS]
    assert [len(e) for _, e in pairs] == [1, 1, 0, 1, 0]
    # equidistant estimates: the earlier wins
    tie = match_frames([truth[1]], [frame(50 * MS, [1], [[0, 0]]), frame(150 * MS, [2], [[0, 0]])], 60 * MS)
    assert tie[0][1].ids.tolist() == [1]
    assert all(len(e) == 0 for _, e in match_frames(truth, [], 10 * MS))
    r = evaluate_tracking(pairs)
    assert r["num_misses"] == 2 and r["num_matches"] == 3


def test_ego_rmse_known_offset():
    t = np.arange(50) * 100 * MS + 1_700_000_000 * 10**9  # realistic epoch stamps
    x, y = 2.0 * np.arange(50) * 0.1, np.zeros(50)

    def yaw_at(stamps):  # turning at 0.2 rad/s through +-pi
        return np.pi - 0.5 + 0.2 * (stamps - t[0]) / 1e9

    truth = EgoPoses(t, x, y, wrap_angle(yaw_at(t)))
    te = t[0] + 5 * MS + np.arange(21) * 250 * MS  # slower, other phase, runs past the truth end
    xe = 2.0 * (te - t[0]) / 1e9 + 0.3
    est = (te, xe, np.full(te.size, 0.4), wrap_angle(yaw_at(te) + np.radians(2.0)))
    r = ego_errors(truth, est)
    assert r["ego_position_rmse"] == pytest.approx(0.5, abs=1e-6)
    assert r["ego_yaw_rmse_deg"] == pytest.approx(2.0, abs=1e-6)
    assert r["ego_num_samples"] == 49  # the first truth pose precedes the estimate


def test_position_rmse():
    truth = np.zeros((4, 2))
    meas = np.array([[3.0, 4.0], [0.0, 5.0], [np.nan, np.nan], [-5.0, 0.0]])
    assert position_rmse(truth, meas) == pytest.approx(5.0)


def test_gps_average_bound():
    """The running mean of the fix errors from the first fix on, scored inside the window only;
    unsorted stamps and NaN rows are handled; white noise gives ~ sigma * sqrt(2 H_n / n)."""
    st = np.array([3, 1, 2, 4]) * 10**9
    err = np.array([[0.0, 0.0], [2.0, 0.0], [np.nan, 1.0], [0.0, -4.0]])
    # sorted: 2 (t1), NaN (t2, dropped), 0 (t3), -4 in y (t4): running means (2,0), (1,0), (2/3,-4/3)
    assert gps_average_bound(st, err, 0, 10**10) == pytest.approx(np.sqrt((4 + 1 + 4 / 9 + 16 / 9) / 3))
    assert gps_average_bound(st, err, 3 * 10**9, 4 * 10**9) == pytest.approx(np.sqrt((1 + 20 / 9) / 2))
    assert np.isnan(gps_average_bound(st, err, 5 * 10**9, 6 * 10**9))
    assert np.isnan(gps_average_bound(np.array([]), np.zeros((0, 2)), 0, 10**10))
    assert gps_average_bound(np.array([np.nan, 1e9]), np.ones((2, 2)), 0, 10**10) == pytest.approx(np.sqrt(2))
    rng = np.random.default_rng(0)
    n, trials, sigma = 100, 200, 0.5
    ms = [gps_average_bound(np.arange(n), rng.normal(0.0, sigma, (n, 2)), 0, n) ** 2 for _ in range(trials)]
    expected = 2 * sigma**2 * np.sum(1.0 / np.arange(1, n + 1)) / n
    assert np.mean(ms) == pytest.approx(expected, rel=0.1)


def test_latency_percentiles():
    r = latency_percentiles({"track": list(np.arange(1, 101) * 1e-3), "empty": []})
    assert r["track"]["p50"] == pytest.approx(50.5) and r["track"]["p99"] == pytest.approx(99.01)
    assert r["track"]["n"] == 100 and np.isnan(r["empty"]["p50"])


def test_report_table_and_plot(tmp_path):
    truth = world(labels=np.array([CAR, PED]))
    pairs = list(zip(truth, copy_as_tracks(truth)))
    res = merge_results(
        evaluate_tracking(pairs),
        evaluate_detection_ap(pairs),
        {"latency": latency_percentiles({"fusion": [0.01, 0.02]})},
    )
    assert "mota" in res["per_class"]["car"] and "det_ap" in res["per_class"]["car"]
    text = format_table(res)
    assert "mota" in text and "det_ap" in text and "pedestrian" in text and "fusion" in text
    path = bev_plot(truth, [e for _, e in pairs], tmp_path / "bev.png", ego_xy=np.zeros((3, 2)), metrics=res)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
