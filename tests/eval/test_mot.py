"""eval/mot.py: CLEAR MOT scoring on hand-built cases (perfect, swapped ids, misses, false positives,
gates, MOTP, velocity error, ids, per-class split)."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.eval.detection import evaluate_detection_ap
from sensor_fusion.eval.hota import ALPHAS
from sensor_fusion.eval.mot import evaluate_tracking
from tests.eval.common import BIKE, CAR, PED, copy_as_tracks, frame, world


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
