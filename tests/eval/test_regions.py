"""Evaluation region, don't-care truth, per-class detection P/R and static false positives on
hand-built frames whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.geometry import make_transform, rpy_to_matrix
from sensor_fusion.eval.detection import evaluate_detection_ap
from sensor_fusion.eval.regions import (
    Annotations,
    CameraView,
    Region,
    StaticBoxes,
    boxes_overlap,
    parse_region,
    region_mask,
    restrict_pairs,
    static_false_positives,
)
from tests.eval.common import CAR, PED, frame

EGO = (100.0, 50.0, np.pi / 2)  # ego at (100, 50) heading +y


def test_parse_region_forms_and_errors():
    assert parse_region("all") == Region("all") and str(parse_region("range:50")) == "range:50"
    assert parse_region("fov:camera_front").camera == "camera_front"
    for bad in ("range:-3", "range:x", "fov:", "box:3", "range"):
        with pytest.raises(ValueError, match="want all"):
            parse_region(bad)


def test_range_region_is_measured_from_the_ego():
    f = frame(0, [1, 2, 3], [(100, 60), (130, 50), (100, 10)])  # 10 m, 30 m, 40 m away
    np.testing.assert_array_equal(region_mask(f, parse_region("range:30"), EGO), [True, True, False])
    with pytest.raises(ValueError, match="ego pose"):
        region_mask(f, parse_region("range:30"), None)


def test_fov_region_keeps_what_the_camera_sees():
    # optical axis along base x (camera z forward, x right, y down), 640 px wide, fx 400: +-38.7 deg
    T = make_transform(rpy_to_matrix(-np.pi / 2, 0.0, -np.pi / 2), np.array([1.5, 0.0, 1.5]))
    cam = CameraView(T, np.array([[400.0, 0, 320], [0, 400, 192], [0, 0, 1]]), 640)
    # ego heads +y: ahead is +y; 30 deg left of the axis is inside, 60 deg outside, behind outside
    ahead = (100.0, 70.0)
    left30 = (100.0 - 20 * np.sin(np.radians(30)), 50.0 + 20 * np.cos(np.radians(30)))
    left60 = (100.0 - 20 * np.sin(np.radians(60)), 50.0 + 20 * np.cos(np.radians(60)))
    behind = (100.0, 30.0)
    f = frame(0, [1, 2, 3, 4], [ahead, left30, left60, behind])
    np.testing.assert_array_equal(
        region_mask(f, parse_region("fov:cam"), EGO, cam), [True, True, False, False]
    )


def _ann(stamp, ids, lidar, radar=None, radar_dt=30_000_000):
    docs = [{"sensor": "lidar", "stamp_ns": stamp, "ids": ids, "num_points": lidar}]
    if radar is not None:
        docs.append({"sensor": "radar_front", "stamp_ns": stamp + radar_dt, "ids": ids, "num_points": radar})
    return Annotations.from_json(docs)


def test_objects_without_lidar_points_or_radar_returns_are_dont_care():
    # truth 1 has LiDAR points, 2 has nothing, 3 only radar returns (within the window)
    t = frame(0, [1, 2, 3], [(0, 0), (0, 20), (0, 40)])
    e = frame(0, [0, 1, 2], [(0.5, 0), (0.5, 20), (30, 30)])  # on 1, on 2 (don't care), a far FP
    ann = _ann(0, [1, 2, 3], [12, 0, 0], radar=[0, 0, 2])
    (pair,), n_dc = restrict_pairs([(t, e)], Region("all"), lambda s: None, None, ann, 2.0)
    assert n_dc == 1
    np.testing.assert_array_equal(pair[0].ids, [1, 3])
    np.testing.assert_allclose(pair[1].centers[:, :2], [(0.5, 0), (30, 30)])  # the one on 2 is ignored
    r = evaluate_detection_ap([pair])
    assert r["det_recall"] == pytest.approx(0.5) and r["det_precision"] == pytest.approx(0.5)
    # a radar scan outside the window does not rescue object 3; a frame without annotation keeps all
    far = _ann(0, [1, 2, 3], [12, 0, 0], radar=[0, 0, 2], radar_dt=300_000_000)
    np.testing.assert_array_equal(far.care_mask(t), [True, False, False])
    np.testing.assert_array_equal(far.care_mask(frame(10, [1, 2], [(0, 0), (1, 1)])), [True, True])


def test_per_class_detection_precision_and_recall():
    t = frame(0, [1, 2, 3], [(0, 0), (0, 20), (0, 40)], labels=[CAR, CAR, PED])
    e = frame(0, [0, 1, 2], [(0.3, 0), (0.3, 20), (50, 50)], labels=[CAR, CAR, CAR])
    pc = evaluate_detection_ap([(t, e)])["per_class"]
    assert pc["car"]["det_precision"] == pytest.approx(2 / 3) and pc["car"]["det_recall"] == 1.0
    assert pc["pedestrian"]["det_recall"] == 0.0 and np.isnan(pc["pedestrian"]["det_precision"])


def test_static_false_positives_count_unmatched_detections_on_structure():
    wall = StaticBoxes(
        np.array([[20.0, 5.0]]), np.array([[15.0, 0.2]]), np.zeros(1), np.zeros(1), np.full(1, 3.0), ("wall",)
    )
    t = frame(0, [1], [(25.0, 5.5)])  # a parked car against the wall
    e = frame(
        0, [0, 1, 2, 3], [(15.0, 5.0), (25.0, 5.4), (14.0, -10.0), (25.5, 5.6)], scores=[0.9, 0.8, 0.7, 0.6]
    )  # on the wall (FP), the car (TP), open road (FP, not static), a duplicate of the car on the wall
    empty = frame(100, [], np.zeros((0, 2)))
    r = static_false_positives([(t, e), (empty, empty)], wall, 2.0)
    assert r["static_false_positives"] == 2 and r["static_false_positives_per_frame"] == 1.0
    assert r["static_false_positives_by_element"] == {"wall": 2}
    assert (
        static_false_positives([(t, e)], StaticBoxes.empty(), 2.0)["static_false_positives_per_frame"] == 0.0
    )
    # a sign gantry 5.5-7 m above the road: the detection under it is not on it
    gantry = StaticBoxes(
        np.array([[15.0, 5.0]]), np.array([[1.0, 20.0]]), np.zeros(1), np.full(1, 5.5), np.full(1, 7.0)
    )
    assert static_false_positives([(t, e)], gantry, 2.0)["static_false_positives"] == 0


def test_static_boxes_from_the_element_list_skip_ground_like_slabs():
    d = {  # /ground_truth/static (sim/static/world.py StaticElements.to_dict)
        "frame": "odom",
        "classes": ["building", "sidewalk", "pavement"],
        "center": [[0, 0, 5], [0, 3, 0.1], [0, 8, 0.0025]],
        "size": [[20, 10, 10], [20, 3, 0.15], [20, 5, 0.005]],
        "yaw": [0.0, 0.0, 0.0],
    }
    s = StaticBoxes.from_json(d)
    assert len(s) == 1 and s.classes == ("building",)
    assert s.z_lo[0] == 0.0 and s.z_hi[0] == 10.0


def test_ground_like_classes_are_the_generators():
    """A box over a sidewalk or a paved parking strip lies on the ground, not on structure: the
    scorer leaves out what the generator calls ground-like (a pavement counted until session 33)."""
    from sensor_fusion.eval.regions import GROUND_LIKE_CLASSES
    from sensor_fusion.sim.static.materials import GROUND_LIKE

    assert GROUND_LIKE_CLASSES == {c.name.lower() for c in GROUND_LIKE}


def test_an_element_that_follows_graded_ground_is_asked_over_the_ground_there():
    """On graded roads a 60 m fence's box spans the ground's rise along it (here 3 m: a 5 % grade),
    so its box says nothing at one place; its height over the ground does, from the bag's ground
    grid: a detection standing against it counts, one floating over its top does not, as on the
    plane."""
    x = np.arange(0.0, 81.0, 2.0)
    grid = {"x0": 0.0, "y0": -20.0, "cell": 2.0, "heights": np.tile(0.05 * x, (21, 1)).tolist()}
    d = {
        "frame": "odom",
        "classes": ["fence", "building"],
        "center": [[30.0, 5.0, 2.1], [30.0, 20.0, 5.0]],
        "size": [[60.0, 2.5, 4.2], [20.0, 10.0, 10.0]],
        "yaw": [0.0, 0.0],
        "follows_ground": [True, False],
        "ground_relative_z": [[0.0, 1.2], [0.0, 10.0]],
        "ground": grid,
    }
    s = StaticBoxes.from_json(d)
    assert np.isnan(s.rel_z[1, 0]) and s.z_lo[1] == 0.0  # the building keeps its box
    t = frame(0, [], np.zeros((0, 2)))
    e = frame(0, [0, 1], [(55.0, 5.0), (10.0, 5.0)])  # phantom cars on the fence's line
    # at 55 m standing on the ground (2.75 m up; its bottom 2 cm low), at 10 m floating over the
    # fence's top (ground 0.5 m, top 1.7 m, the box from 2.0 m)
    e.centers[:, 2] = [2.75 - 0.02 + 0.8, 0.5 + 1.5 + 0.8]
    r = static_false_positives([(t, e)], s, 2.0)
    assert r["static_false_positives"] == 1 and r["static_false_positives_by_element"] == {"fence": 1}
    # the spanning box alone would take the floating one too
    d2 = {k: v for k, v in d.items() if k not in ("follows_ground", "ground_relative_z", "ground")}
    assert static_false_positives([(t, e)], StaticBoxes.from_json(d2), 2.0)["static_false_positives"] == 2


def test_box_overlap_matches_point_sampling():
    rng = np.random.default_rng(1)
    a_c, b_c = rng.uniform(-3, 3, (200, 2)), rng.uniform(-3, 3, (1, 2))
    a_s, b_s = rng.uniform(0.2, 4, (200, 2)), np.array([[6.0, 0.3]])
    a_y, b_y = rng.uniform(-np.pi, np.pi, 200), np.array([0.7])
    got = boxes_overlap(a_c, a_s, a_y, b_c, b_s, b_y)
    assert 20 < got.sum() < 180  # both outcomes occur
    # reference: dense samples of each box A tested against B's half-widths
    u = np.stack(np.meshgrid(np.linspace(-0.5, 0.5, 60), np.linspace(-0.5, 0.5, 60)), -1).reshape(-1, 2)
    for k in range(200):
        c, s = np.cos(a_y[k]), np.sin(a_y[k])
        p = a_c[k] + (u * a_s[k]) @ np.array([[c, s], [-s, c]])
        q = p - b_c[0]
        cb, sb = np.cos(b_y[0]), np.sin(b_y[0])
        lx, ly = q[:, 0] * cb + q[:, 1] * sb, -q[:, 0] * sb + q[:, 1] * cb
        inside = ((np.abs(lx) <= 3.0) & (np.abs(ly) <= 0.15)).any()
        if inside:
            assert got[k]
