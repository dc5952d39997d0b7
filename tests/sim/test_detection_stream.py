"""The realistic detection stream: visibility geometry, its statistics on a world, the bag it writes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.bag.io import bag_topics
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim.detection_stream import (
    DetectionStream,
    DetectionStreamConfig,
    care_mask,
    detection_probability,
)
from sensor_fusion.sim.recorder import STREAM_CONFIG_TOPIC, STREAM_TOPIC, record, stream_meta_from_bag
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.visibility import visibility
from sensor_fusion.sim.world import World
from tests.sim.test_visibility import CAR, PED, POSE, TRUCK, boxes


def test_detection_probability_falls_with_range_and_occlusion():
    cfg = DetectionStreamConfig()
    xs = [5.0, 20.0, 40.0, 60.0, 79.0]
    c, s, y = boxes(*[(x, 0.0, CAR) for x in xs])
    v = visibility(c[:1], s[:1], y[:1], POSE, math.radians(90))  # one at a time: no occlusion
    ps = []
    for i in range(len(xs)):
        v = visibility(c[i : i + 1], s[i : i + 1], y[i : i + 1], POSE, math.radians(90))
        ps.append(detection_probability(np.array([int(ObjectClass.CAR)]), v, cfg)[0])
    assert all(a > b for a, b in zip(ps, ps[1:]))
    assert ps[0] > 0.9 and ps[-1] < 0.5
    # pedestrians fall off sooner than cars
    v = visibility(*boxes((40.0, 0.0, PED)), POSE, math.radians(90))
    assert detection_probability(np.array([int(ObjectClass.PEDESTRIAN)]), v, cfg)[0] < ps[2]
    # the hidden pedestrian behind the truck cannot be detected; out of range and out of view neither
    both = visibility(
        *boxes((10.0, 0.0, TRUCK), (20.0, 0.0, PED), (90.0, 0.0, CAR), (0.0, 20.0, CAR)),
        POSE,
        math.radians(90),
    )
    p = detection_probability(np.array([2, 7, 1, 1]), both, cfg)
    assert p[0] > 0.8 and p[1] == 0.0 and p[2] == 0.0 and p[3] == 0.0
    assert list(care_mask(both, cfg)) == [True, False, False, False]


def test_config_overrides_and_validation():
    cfg = DetectionStreamConfig.from_dict({"fov_deg": 120.0, "classes": {"PEDESTRIAN": {"p_near": 0.7}}})
    assert cfg.fov_deg == 120.0 and cfg.classes["PEDESTRIAN"]["p_near"] == 0.7
    assert cfg.classes["PEDESTRIAN"]["range50_m"] == 45.0  # other keys keep their defaults
    assert DetectionStreamConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        DetectionStreamConfig.from_dict({"fov": 90})
    with pytest.raises(ValueError, match="fov_deg"):
        DetectionStreamConfig.from_dict({"fov_deg": 0.0})
    with pytest.raises(ValueError, match="unknown class"):
        DetectionStreamConfig.from_dict({"classes": {"TANK": {"p_near": 0.5}}})
    with pytest.raises(ValueError, match="sum"):
        DetectionStreamConfig.from_dict({"fp_class_probs": {"CAR": 0.5}})


@pytest.fixture(scope="module")
def urban_world():
    return World(scenario_config("urban", {"world": {"duration_s": 12.0}}), 7)


def run_stream(world, seed=7, cfg=None):
    cfg = cfg or DetectionStreamConfig()
    ds = DetectionStream(world, np.array([1.0, 0.0, 1.9]), cfg, seed)
    stamps = np.arange(world.t0_ns, world.t_end_ns - 100_000_000, 100_000_000)
    return [(int(t), ds.frame(int(t))) for t in stamps], cfg


def test_stream_statistics_on_a_world(urban_world):
    frames, cfg = run_stream(urban_world)
    fov = math.radians(cfg.fov_deg)
    near = [0, 0]
    far = [0, 0]
    tp_scores, fp_scores = [], []
    n_tp = n_fp = 0
    for t, f in frames:
        d = f.detections
        assert d.frame_id == "odom" and d.stamp_ns == t
        assert np.all(d.scores >= cfg.score_min) and np.all(d.scores <= 1.0)
        rel = d.centers[:, :2] - f.pose.xy
        bearing = np.angle(np.exp(1j * (np.arctan2(rel[:, 1], rel[:, 0]) - f.pose.axis_yaw)))
        assert np.all(np.abs(bearing) <= 0.5 * fov + 0.1)  # jitter may push a box just past the edge
        assert np.all(np.hypot(rel[:, 0], rel[:, 1]) <= cfg.max_range_m + 5.0)
        a = urban_world.actors_at(t)
        v = visibility(a.centers, a.sizes, a.yaw, f.pose, fov)
        care = care_mask(v, cfg)
        got = np.isin(a.ids, f.truth_ids)
        for acc, sel in ((near, care & (v.range_m < 30)), (far, care & (v.range_m > 50))):
            acc[0] += int((got & sel).sum())
            acc[1] += int(sel.sum())
        tp = f.truth_ids >= 0
        n_tp += int(tp.sum())
        n_fp += int((~tp).sum())
        tp_scores += d.scores[tp].tolist()
        fp_scores += d.scores[~tp].tolist()
        # a true positive lies near its object
        for k in np.flatnonzero(tp):
            i = int(np.flatnonzero(a.ids == f.truth_ids[k])[0])
            assert np.hypot(*(d.centers[k, :2] - a.centers[i, :2])) < 5.0
    assert near[1] > 50 and far[1] > 20
    recall_near, recall_far = near[0] / near[1], far[0] / far[1]
    assert recall_near > 0.75 and recall_far < recall_near - 0.15
    tp_scores, fp_scores = np.array(tp_scores), np.array(fp_scores)
    assert np.median(tp_scores) > 0.65 and np.median(fp_scores) < 0.35
    assert np.mean(fp_scores > 0.4) > 0.02 and np.mean(tp_scores < 0.4) > 0.01  # the distributions overlap
    precision = n_tp / (n_tp + n_fp)
    assert 0.5 < precision < 0.85  # near real raw LiDAR detector output (module docstring)


def test_static_false_positives_persist_at_fixed_places(urban_world):
    frames, _ = run_stream(urban_world)
    runs = []  # (centre, consecutive frames) of static false positives
    prev: list[tuple[np.ndarray, int]] = []
    for _t, f in frames:
        cur = []
        for c in f.detections.centers[f.static_fp, :2]:
            k = next((n for p, n in prev if np.hypot(*(p - c)) < 1.5), 0)
            cur.append((c, k + 1))
        runs += [n for _c, n in cur]
        prev = cur
    assert runs and max(runs) >= 3


def test_deterministic_per_seed(urban_world):
    a, _ = run_stream(urban_world, seed=7)
    b, _ = run_stream(urban_world, seed=7)
    c, _ = run_stream(urban_world, seed=8)
    assert all(np.array_equal(x.detections.centers, y.detections.centers) for (_, x), (_, y) in zip(a, b))
    assert not all(
        x.detections.centers.shape == y.detections.centers.shape
        and np.array_equal(x.detections.centers, y.detections.centers)
        for (_, x), (_, y) in zip(a, c)
    )


def test_detections_only_bag(tmp_path):
    from sensor_fusion.eval.stream import read_stream_bag

    out = tmp_path / "stream"
    cfg = DetectionStreamConfig(fov_deg=120.0)
    record("highway", 3, 2.0, out, detection_stream=cfg, sensors=False)
    topics = set(bag_topics(out))
    assert topics == {
        "/scenario",
        "/calibration",
        "/tf_static",
        "/ground_truth/objects",
        "/ground_truth/odom",
        "/ground_truth/gps_error",  # the GNSS truth is written with the truth, sensors or not
        "/ground_truth/gps_multipath",
        STREAM_TOPIC,
        STREAM_CONFIG_TOPIC,
    }
    meta = stream_meta_from_bag(out)
    assert meta["config"]["fov_deg"] == 120.0 and meta["mount_xyz"] == [1.0, 0.0, 1.9]
    data = read_stream_bag(out)
    assert len(data.detections) == len(data.truth) == 19 and data.config.fov_deg == 120.0
    # the bag holds exactly the stream's boxes
    world = World(scenario_config("highway", {"world": {"duration_s": 2.0}}), 3)
    ds = DetectionStream(world, np.array(meta["mount_xyz"]), cfg, 3)
    for det in data.detections:
        ref = ds.frame(det.stamp_ns).detections
        np.testing.assert_allclose(det.centers, ref.centers)
        np.testing.assert_allclose(det.scores, ref.scores, rtol=1e-6)
    assert any(c.any() for c in data.care)
    with pytest.raises(ValueError, match="nothing to write"):
        record("highway", 3, 2.0, tmp_path / "none", sensors=False)


def test_box_errors_grow_with_range():
    """Centre, size and yaw errors of true positives are larger far away than close by."""

    class Still:  # one car straight ahead at a given range, the vehicle at the origin
        def __init__(self, x):
            from sensor_fusion.sim.state import ActorStates, EgoState

            self.t0_ns, self.t_end_ns = 0, 10**9
            self._ego = EgoState(0, np.zeros(3), 0.0, np.zeros(3), 0.0, np.zeros(3), 0.0)
            self._a = ActorStates(
                ids=np.array([1]),
                labels=np.array([int(ObjectClass.CAR)]),
                centers=np.array([[x, 0.0, 0.75]]),
                sizes=np.array([[4.5, 1.8, 1.5]]),
                yaw=np.zeros(1),
                velocity=np.zeros((1, 3)),
                yaw_rate=np.zeros(1),
            )

        def ego_arrays(self, st):
            n = len(st)
            return {"position": np.zeros((n, 3)), "yaw": np.zeros(n)}

        def ego_at(self, t):
            return self._ego

        def actors_at(self, t):
            return self._a

    cfg = DetectionStreamConfig(
        fp_random_per_frame=0.0, fp_sites_per_100m=0.0, latent_std=0.0, outlier_prob=0.0
    )
    cfg.classes["CAR"].update(p_near=1.0, range50_m=1e3, yaw_flip_prob=0.0)
    err = {}
    for x in (10.0, 60.0):
        ds = DetectionStream(Still(x), np.zeros(3), cfg, seed=1)
        d = [ds.frame(k * 100_000_000).detections for k in range(400)]
        c = np.concatenate([f.centers for f in d])
        s = np.concatenate([f.sizes for f in d])
        y = np.concatenate([f.yaw for f in d])
        assert len(c) == 400  # always detected here
        err[x] = (np.std(c[:, 1]), np.std(np.log(s[:, 0])), np.std(y))
    for near, far in zip(err[10.0], err[60.0]):
        assert far > 1.6 * near
