"""LidarDetector on ray-cast synthetic sweeps: boxes on (possibly sloped) noisy ground."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_fusion.core.classes import SENSOR_LIDAR, ObjectClass
from sensor_fusion.core.geometry import rpy_to_matrix
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.perception.size_class import classify_shape, position_covariance
from sensor_fusion.sim.boxes import spinning_scan

SENSOR_HEIGHT_M = 1.8


def raycast_sweep(boxes, **kw) -> np.ndarray:
    """The test LiDAR: ``sim.boxes.spinning_scan`` mounted at SENSOR_HEIGHT_M."""
    return spinning_scan(boxes, sensor_height_m=SENSOR_HEIGHT_M, **kw)


@pytest.fixture(scope="module")
def det() -> LidarDetector:
    d = LidarDetector()
    d.warm_up()
    return d


def _yaw_err(a: float, b: float) -> float:
    """Heading difference modulo pi (boxes have 180 deg ambiguity)."""
    return abs((a - b + np.pi / 2) % np.pi - np.pi / 2)


def _nearest(dets, xy) -> int:
    dist = np.hypot(dets.centers[:, 0] - xy[0], dets.centers[:, 1] - xy[1])
    assert len(dist) > 0, "no detections"
    return int(np.argmin(dist))


def test_car_box_centre_yaw_size_label(det):
    pts = raycast_sweep([(15.0, 3.0, 4.5, 1.8, 1.5, 0.3)])
    d = det.detect(pts, 123, "base_link")
    assert len(d) == 1, f"expected one car, got centres {d.centers}"
    assert np.hypot(*(d.centers[0, :2] - [15.0, 3.0])) < 0.35
    assert _yaw_err(d.yaw[0], 0.3) < math.radians(5.0)
    assert abs(d.sizes[0, 0] - 4.5) < 0.5 and abs(d.sizes[0, 1] - 1.8) < 0.5
    assert abs(d.sizes[0, 2] - 1.5) < 0.3 and abs(d.centers[0, 2] - 0.75) < 0.2
    assert d.labels[0] == ObjectClass.CAR
    assert d.stamp_ns == 123 and d.frame_id == "base_link"


def test_output_contract(det):
    pts = raycast_sweep([(15.0, 3.0, 4.5, 1.8, 1.5, 0.3), (-20.0, -5.0, 4.2, 1.8, 1.4, 1.4)])
    d = det.detect(pts, 0, "base_link")
    n = len(d)
    assert n == 2
    assert d.centers.shape == (n, 3) and d.sizes.shape == (n, 3) and d.yaw.shape == (n,)
    assert d.velocity.shape == (n, 2) and np.isnan(d.velocity).all()
    assert d.pos_cov.shape == (n, 2, 2) and np.all(np.linalg.eigvalsh(d.pos_cov) > 0)
    assert np.all((d.scores >= 0) & (d.scores <= 1))
    assert np.all(d.sizes[:, 0] >= d.sizes[:, 1])
    assert np.all((d.yaw >= -np.pi / 2) & (d.yaw < np.pi / 2))
    assert np.all(d.sensors == SENSOR_LIDAR) and d.sensors.dtype == np.uint8
    assert set(det.last_timing) == {"ground", "cluster", "boxfit"}
    assert all(v >= 0 for v in det.last_timing.values())


@pytest.mark.parametrize(
    "box,label",
    [
        ((8.0, -2.0, 0.5, 0.5, 1.75, 0.4), ObjectClass.PEDESTRIAN),
        ((22.0, -6.0, 9.0, 2.5, 3.5, -0.15), ObjectClass.TRUCK),
        ((9.0, 5.0, 1.8, 0.6, 1.7, 1.1), ObjectClass.BICYCLE),
    ],
)
def test_classes(det, box, label):
    d = det.detect(raycast_sweep([box]), 0, "base_link")
    assert len(d) == 1, f"got {len(d)} detections"
    assert d.labels[0] == label, f"sizes {d.sizes[0]} -> {ObjectClass(d.labels[0]).name}"


def test_two_cars_one_metre_apart_stay_separate(det):
    # The car dead ahead shows only its rear face: its centre needs shape completion.
    cars = [(12.0, 0.0, 4.5, 1.8, 1.5, 0.0), (12.0, 2.8, 4.5, 1.8, 1.5, 0.0)]
    d = det.detect(raycast_sweep(cars), 0, "base_link")
    assert len(d) == 2
    for cx, cy, l, w, _, yaw in cars:
        i = _nearest(d, (cx, cy))
        assert np.hypot(*(d.centers[i, :2] - [cx, cy])) < 0.35
        assert _yaw_err(d.yaw[i], yaw) < math.radians(5.0)
        assert abs(d.sizes[i, 0] - l) < 0.5 and abs(d.sizes[i, 1] - w) < 0.5
        assert d.labels[i] == ObjectClass.CAR


def test_pedestrians_half_a_metre_apart_stay_separate(det):
    peds = [(8.0, 0.0, 0.5, 0.5, 1.75, 0.0), (8.0, 1.0, 0.5, 0.5, 1.75, 0.0)]  # 0.5 m gap
    d = det.detect(raycast_sweep(peds), 0, "base_link")
    assert len(d) == 2
    assert np.all(d.labels == ObjectClass.PEDESTRIAN)


@pytest.mark.parametrize("ground", [(math.tan(math.radians(2.0)), 0.0, 0.1), (0.02, -0.03, -0.15)])
def test_sloped_ground_makes_no_clusters(det, ground):
    d = det.detect(raycast_sweep([], ground=ground, seed=3), 0, "base_link")
    assert len(d) == 0, f"ground clusters at {d.centers}"
    d = det.detect(raycast_sweep([(25.0, -4.0, 4.5, 1.8, 1.5, -0.2)], ground=ground, seed=4), 0, "base_link")
    assert len(d) == 1
    assert np.hypot(*(d.centers[0, :2] - [25.0, -4.0])) < 0.35
    assert d.labels[0] == ObjectClass.CAR


def test_walls_are_rejected(det):
    wall = (30.0, 0.0, 0.3, 40.0, 3.0, 0.0)  # 40 m long along y: too long
    d = det.detect(raycast_sweep([wall, (15.0, 3.0, 4.5, 1.8, 1.5, 0.3)]), 0, "base_link")
    assert len(d) == 1 and d.labels[0] == ObjectClass.CAR
    d = det.detect(raycast_sweep([wall]), 0, "base_link")
    assert len(d) == 0 and d.centers.shape == (0, 3) and d.pos_cov.shape == (0, 2, 2)
    # Short blocks of a tall building (truck-sized footprints): rejected as too tall.
    blocks = [(-35.0, y, 2.0, 6.0, 8.0, 0.0) for y in (-9.0, 0.0, 9.0)]
    cars = [(-20.0, y, 4.5, 1.8, 1.5, 0.0) for y in (-6.0, 6.0)]
    d = det.detect(raycast_sweep([*blocks, *cars]), 0, "base_link")
    assert len(d) == 2 and np.all(d.labels == ObjectClass.CAR), f"{d.centers}"


def test_sensor_offset_from_base_link():
    """A LiDAR mounted 1.2 m ahead of base_link: same boxes, shifted into base_link."""
    pts = raycast_sweep([(6.0, 4.0, 4.5, 1.8, 1.5, 1.2), (15.0, 3.0, 4.5, 1.8, 1.5, 0.3)])
    ref = LidarDetector().detect(pts, 0, "lidar")
    shifted = LidarDetector(LidarDetectorConfig(sensor_x_m=1.2)).detect(pts + np.float32([1.2, 0, 0]), 0, "b")
    assert len(ref) == len(shifted) == 2
    assert np.allclose(shifted.centers, ref.centers + [1.2, 0.0, 0.0], atol=1e-3)
    assert np.allclose(shifted.yaw, ref.yaw, atol=1e-4) and np.allclose(shifted.pos_cov, ref.pos_cov)


def test_empty_and_nan_inputs(det):
    assert len(det.detect(np.zeros((0, 3), np.float32), 5, "base_link")) == 0
    d = det.detect(np.full((1000, 3), np.nan, np.float32), 5, "base_link")
    assert len(d) == 0 and d.stamp_ns == 5
    assert len(det.detect(np.full((10, 3), np.inf, np.float64), 5, "base_link")) == 0


def test_non_finite_points_are_ignored(det):
    pts = raycast_sweep([(15.0, 3.0, 4.5, 1.8, 1.5, 0.3)])
    bad = pts.copy()
    rng = np.random.default_rng(1)
    bad[rng.choice(len(bad), 2000, replace=False), rng.integers(0, 3, 2000)] = np.nan
    bad = np.vstack([bad, np.full((50, 3), np.inf, np.float32)])
    d = det.detect(bad, 0, "base_link")
    assert len(d) == 1 and np.hypot(*(d.centers[0, :2] - [15.0, 3.0])) < 0.35


@pytest.mark.parametrize("shape", [(10,), (10, 2), (10, 4), (2, 10, 3)])
def test_wrong_shape_raises(det, shape):
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        det.detect(np.zeros(shape, np.float32), 0, "base_link")


def test_bad_stamp_type_raises(det):
    with pytest.raises(TypeError, match="stamp_ns"):
        det.detect(np.zeros((3, 3), np.float32), 1.5, "base_link")


_ROT_SCENE = raycast_sweep(
    [(15.0, 3.0, 4.5, 1.8, 1.5, 0.3), (22.0, -8.0, 9.0, 2.5, 3.5, -0.15), (-12.0, 6.0, 4.2, 1.7, 1.4, 1.2)]
)


@settings(max_examples=12, deadline=None)
@given(psi=st.floats(-np.pi, np.pi))
def test_rotating_scene_rotates_detections(det, psi):
    base = det.detect(_ROT_SCENE, 0, "base_link")
    R = rpy_to_matrix(0.0, 0.0, psi)
    rot = det.detect((_ROT_SCENE @ R.T.astype(np.float32)).astype(np.float32), 0, "base_link")
    assert len(base) == len(rot) == 3
    expect_xy = base.centers[:, :2] @ R[:2, :2].T
    for i in range(len(base)):
        j = _nearest(rot, expect_xy[i])
        assert np.hypot(*(rot.centers[j, :2] - expect_xy[i])) < 0.15
        assert _yaw_err(rot.yaw[j], base.yaw[i] + psi) < math.radians(3.0)
        assert np.allclose(rot.sizes[j], base.sizes[i], atol=0.15)
        assert rot.labels[j] == base.labels[i]


def test_covariance_grows_with_range_and_shrinks_with_points():
    cfg = LidarDetectorConfig()
    cov = position_covariance(
        np.array([[10.0, 0.0], [50.0, 0.0], [10.0, 0.0]]), np.array([100, 100, 10]), cfg
    )
    tr = np.trace(cov, axis1=1, axis2=2)
    assert tr[1] > tr[0] and tr[2] > tr[0]
    assert cov[0, 0, 0] >= cov[0, 1, 1]  # radial (x here) at least the tangential std


def test_classify_shape_rules():
    labels, scores, _ = classify_shape(
        np.array([[4.5, 1.8, 1.5], [0.6, 0.5, 1.7], [10.0, 2.5, 3.6], [0.5, 0.4, 0.5]])
    )
    assert list(labels) == [ObjectClass.CAR, ObjectClass.PEDESTRIAN, ObjectClass.TRUCK, ObjectClass.UNKNOWN]
    assert np.all((scores > 0) & (scores <= 1))


def test_a_far_truck_rear_cut_by_beam_gaps_is_a_truck():
    """A truck 68-82 m away with KITTI's LiDAR is a 2.3 x 2.3 m box measured 1.9-2.2 m tall (beam
    gaps cut its 3.5 m): taller than any car's roof as measured, a truck's height with the beam
    slack. A car there measures lower than its true 1.4-1.8 m; near by, 2.3 m still splits trucks
    from vans."""
    sizes = np.array(
        [
            [2.33, 2.28, 1.94],  # truck at 71 m (highway 301, hdl64e_kitti)
            [2.30, 1.90, 1.45],  # car at 70 m, rear and side
            [2.30, 1.95, 1.75],  # tall SUV at 70 m: not above a car's roof
            [2.40, 2.00, 2.05],  # van at 15 m: lower than 2.3 m with its small slack
            [2.40, 2.40, 2.60],  # truck at 15 m: the near rule, as before
        ]
    )
    slack = 0.011 * np.array([71.0, 70.0, 70.0, 15.0, 15.0])
    labels, _, _ = classify_shape(sizes, slack)
    assert list(labels) == [
        ObjectClass.TRUCK,
        ObjectClass.CAR,
        ObjectClass.CAR,
        ObjectClass.CAR,
        ObjectClass.TRUCK,
    ]


def test_config_from_dict_and_validation():
    cfg = LidarDetectorConfig.from_dict({"range_max_m": 60, "min_points": 8})
    assert cfg.range_max_m == 60 and cfg.min_points == 8
    with pytest.raises(ValueError, match="(?s)bogus_m: unknown.*nope: unknown"):
        LidarDetectorConfig.from_dict({"bogus_m": 1.0, "nope": 2})
    for bad, name in [
        ({"range_min_m": 90.0}, "range_min_m"),
        ({"z_min_m": 5.0}, "z_min_m"),
        ({"cluster_cell_m": 0.0}, "cluster_cell_m"),
        ({"min_points": 2.5}, "min_points"),
        ({"ground_max_slope": float("nan")}, "ground_max_slope"),
        ({"ground_reject_lowest": 9}, "ground_reject_lowest"),
        ({"cluster_cell_m": 0.001}, "cluster_cell_m"),
    ]:
        with pytest.raises(ValueError, match=name):
            LidarDetectorConfig.from_dict(bad)
    with pytest.raises(ValueError, match="range_max_m"):
        LidarDetector(LidarDetectorConfig(range_max_m=-1.0))


def test_boxes_carry_their_points_capture_time(det):
    """With per-point times each box reports the mean capture time of its points: a rotating
    LiDAR starting behind the car reaches the right side early in the sweep, the left late.
    (Turned 0.4 rad: a flat-topped cuboid seen exactly side-on is a wall to the detector.)"""
    pts = raycast_sweep([(0.0, -12.0, 4.5, 1.8, 1.5, 0.4), (0.0, 12.0, 4.5, 1.8, 1.5, -0.4)])
    az = np.arctan2(pts[:, 1], pts[:, 0])
    times = ((az + np.pi) / (2 * np.pi) * 0.1).astype(np.float32)  # CCW from -pi, 10 Hz
    d = det.detect(pts, 0, "base_link", times)
    assert len(d) == 2
    right, left = _nearest(d, (0.0, -12.0)), _nearest(d, (0.0, 12.0))
    assert abs(d.time_offset_s[right] - 0.025) < 0.005 and abs(d.time_offset_s[left] - 0.075) < 0.005
    assert det.detect(pts, 0, "base_link").time_offset_s is None  # no times, no capture-time row
    # NaN points are dropped with their times; the box times stay right
    bad = pts.copy()
    bad[::7] = np.nan
    d2 = det.detect(bad, 0, "base_link", times)
    assert abs(d2.time_offset_s[_nearest(d2, (0.0, 12.0))] - 0.075) < 0.005


def test_short_box_is_completed_along_the_line_of_sight():
    """A truck 51 m ahead in the next lane shows its rear face (2.5 m, across the line of sight)
    and 1.5 m of its side (along it, at grazing incidence). Highway seed 301's LiDAR boxed it
    so; grown along the rear face (the measured long side) its centre moved 2.75 m sideways
    into the next lane instead of 3.3 m ahead, where the truck's centre is."""
    from sensor_fusion.perception.size_class import complete_boxes

    xy, lw, yaw, grown = complete_boxes(
        np.array([[47.67, -3.74]]),
        np.array([[2.49, 1.48]]),
        np.array([-1.55]),
        np.array([int(ObjectClass.TRUCK)]),
        np.array([False]),
    )
    np.testing.assert_allclose(xy[0], [47.67 + 0.5 * (8.0 - 1.48), -3.74], atol=0.1)
    np.testing.assert_allclose(lw[0], [8.0, 2.49])
    assert _yaw_err(yaw[0], 0.0) < 0.05
    np.testing.assert_allclose(grown[0], [8.0 - 1.48, 0.0])
    # a box whose long side runs along the line of sight keeps it as the length
    xy, lw, yaw, _ = complete_boxes(
        np.array([[20.0, 0.0]]), np.array([[2.0, 1.5]]), np.array([0.1]), np.array([1]), np.array([False])
    )
    assert _yaw_err(yaw[0], 0.1) < 1e-9 and lw[0, 0] == 4.5 and xy[0, 0] > 21.0
    # a bicycle's frame is open from every side: its measured long side stays its length
    _, lw, yaw, _ = complete_boxes(
        np.array([[10.0, 0.0]]),
        np.array([[1.0, 0.5]]),
        np.array([0.5 * np.pi]),
        np.array([int(ObjectClass.BICYCLE)]),
        np.array([False]),
    )
    assert _yaw_err(yaw[0], 0.5 * np.pi) < 1e-9 and lw[0, 0] == 1.8


def test_a_camera_relabel_completes_the_box_for_its_new_class():
    """Highway seed 301: the first LiDAR box of that truck (2.49 x 1.48 x 2.51 m, too tall for a
    car's rule, too shallow for a truck's) was UNKNOWN, so not completed; the camera made it a
    truck, and the track born on it sat 3 m short of the truck, at a 0.4 m std, for seconds."""
    from sensor_fusion.core.types import Detections
    from sensor_fusion.perception.size_class import complete_relabelled

    det = Detections(
        0,
        "base_link",
        centers=np.array([[47.67, -3.74, 1.3], [20.0, 5.0, 0.8]]),
        sizes=np.array([[2.49, 1.48, 2.51], [4.5, 1.8, 1.5]]),
        yaw=np.array([-1.55, 0.0]),
        labels=np.array([int(ObjectClass.TRUCK), int(ObjectClass.CAR)]),
        scores=np.array([0.3, 0.9]),
        velocity=np.full((2, 2), np.nan),
        pos_cov=np.tile(0.1 * np.eye(2), (2, 1, 1)),
        sensors=np.full(2, SENSOR_LIDAR, np.uint8),
    )
    before = det.centers.copy()
    complete_relabelled(det, np.array([0]), (0.5, 0.0))
    assert abs(det.centers[0, 0] - (47.67 + 3.26)) < 0.1 and abs(det.centers[0, 1] + 3.74) < 0.1
    assert det.sizes[0, 0] == 8.0 and _yaw_err(det.yaw[0], 0.0) < 0.05
    assert det.pos_cov[0, 0, 0] > 0.1 + (0.2 * 6.0) ** 2  # the hypothesised extent's uncertainty
    np.testing.assert_array_equal(det.centers[1], before[1])  # rows not asked for stay


def test_a_bus_fragment_is_completed_for_a_bus():
    """Urban seed 4 (10 s): a bus at 90 m came back as two boxes (5.5 m and a 2.9 x 1.8 m front
    piece), which the camera called BUS. With no bus size to complete to, the piece kept a car's
    uncertainty, started a second track 3 m ahead of the bus's and took an oncoming car's box."""
    from sensor_fusion.core.types import Detections
    from sensor_fusion.perception.size_class import complete_relabelled

    def piece() -> Detections:
        return Detections(
            0,
            "base_link",
            centers=np.array([[40.0, 0.0, 1.5]]),
            sizes=np.array([[2.9, 1.8, 2.3]]),
            yaw=np.array([0.0]),
            labels=np.array([int(ObjectClass.BUS)]),
            scores=np.array([0.3]),
            velocity=np.full((1, 2), np.nan),
            pos_cov=np.tile(0.1 * np.eye(2), (1, 1, 1)),
            sensors=np.full(1, SENSOR_LIDAR, np.uint8),
        )

    det = piece()  # the LiDAR had no class for it: moved and grown to a bus
    complete_relabelled(det, np.array([0]), (0.0, 0.0))
    assert det.sizes[0, 0] == 12.0 and det.sizes[0, 1] == 1.8  # 1.8 m is most of a bus width: seen
    assert abs(det.centers[0, 0] - (40.0 + 0.5 * (12.0 - 2.9))) < 1e-6
    det = piece()  # the LiDAR called it something else: kept, with the hidden extent's spread
    complete_relabelled(det, np.array([0]), (0.0, 0.0), move=np.array([False]))
    assert det.centers[0, 0] == 40.0 and det.sizes[0, 0] == 2.9
    assert abs(det.pos_cov[0, 0, 0] - (0.1 + (12.0 - 2.9) ** 2 / 12.0)) < 1e-6


def test_a_lone_face_seen_at_grazing_incidence_is_not_an_end_on_car():
    """urban_clutter dev seed 713: fence panels (1.7 x 0.1 x 1.5 m) 15-21 m away, seen along the
    street, took the end-on car rule (a rear face alone) and became cars. A car seen that obliquely
    would show its side; a rear face seen head-on stays a car."""
    from sensor_fusion.perception import lidar as L
    from sensor_fusion.perception.boxfit import N_FIT_COLS

    fit = np.zeros((3, N_FIT_COLS))
    fit[:, L.CX] = [18.0, 18.0, 18.0]
    fit[:, L.CY] = [-6.0, -6.0, -6.0]
    fit[:, L.YAW] = [0.0, 0.5 * np.pi, 0.0]  # along the street; across it (seen head-on); along
    labels = np.array([int(ObjectClass.CAR), int(ObjectClass.CAR), int(ObjectClass.PEDESTRIAN)])
    end_on = np.array([True, True, False])
    drop = L.grazing_faces(fit, labels, end_on, 45.0)
    # 18 m ahead, 6 m to the side: the line of sight is 18 degrees off the street
    assert drop.tolist() == [True, False, False]
    assert not L.grazing_faces(fit, labels, end_on, 0.0).any()


def test_a_lone_truck_face_seen_at_grazing_incidence_is_dropped():
    """The end-on truck rule (a face 1.8-3.2 m across, up to 1.2 m deep, 2.3-4.6 m tall) took façade
    sections and sign faces seen along the street, and completed them to 8 m trucks. A truck seen
    that obliquely would show its side; a rear seen head-on stays a truck."""
    from sensor_fusion.perception import lidar as L
    from sensor_fusion.perception.boxfit import N_FIT_COLS

    fit = np.zeros((2, N_FIT_COLS))
    fit[:, L.CX] = [25.0, 25.0]
    fit[:, L.CY] = [8.0, 8.0]
    fit[:, L.YAW] = [0.0, 0.5 * np.pi]  # along the street (18 degrees off the line of sight); across it
    labels = np.full(2, int(ObjectClass.TRUCK))
    drop = L.grazing_faces(fit, labels, np.array([True, True]), 45.0)
    assert drop.tolist() == [True, False]


def test_an_unknown_lidar_height_is_said_once(caplog):
    """Without the LiDAR's height the roughness and ceiling rules are off: one warning when the
    detector is made, none when the calibration gives it."""
    with caplog.at_level("WARNING", logger="sensor_fusion.perception.lidar"):
        LidarDetector()
        LidarDetector(LidarDetectorConfig().with_sensor_origin((1.0, 0.0, 1.9)))
    assert [r.getMessage()[:21] for r in caplog.records] == ["LiDAR height unknown "]


def test_a_tall_narrow_piece_no_class_takes_is_structure():
    """Under KITTI's ceiling (highest beam +2 deg) a 1.3 m column 30 m away, 8 m tall, shows its
    lowest 2.7 m: no class rule takes it (taller than any person, narrower than any van), and
    without ``structure_tall_unknown_m`` it is an UNKNOWN box. A person and a van keep theirs."""
    from tests.perception.test_ends import KITTI_ELEV_DEG, SENSOR_Z_M

    column = (30.0, -3.0, 1.3, 0.6, 8.0, 0.5 * np.pi)
    person = (30.0, 3.0, 0.5, 0.5, 1.8, 0.0)
    van = (40.0, 3.0, 5.5, 2.0, 2.7, 0.0)

    def labels(box, tall_unknown_m):
        pts = spinning_scan([box], sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083)
        cfg = LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, structure_tall_unknown_m=tall_unknown_m)
        d = LidarDetector(cfg).detect(pts, 0, "base_link")
        return [ObjectClass(int(lab)).name for lab in d.labels]

    assert labels(column, 0.0) == ["UNKNOWN"], "an UNKNOWN box without the rule: proves nothing"
    assert labels(column, 2.2) == []
    assert labels(person, 2.2) == ["PEDESTRIAN"]
    assert labels(van, 2.2) == ["TRUCK"]


def _sedan(x: float, y: float, facing_away: bool = True) -> list:
    """A sedan as two boxes: the body (boot and bonnet, 0.25-0.95 m) and the cabin set 0.9 m in from
    the rear (to 1.45 m), the rear towards the sensor when ``facing_away``."""
    s = 1.0 if facing_away else -1.0
    return [(x, y, 4.5, 1.8, 0.7, 0.0, 0.25), (x + s * (-2.25 + 0.9 + 1.2), y, 2.4, 1.6, 0.5, 0.0, 0.95)]


def _without_and_with_car_ends(pts: np.ndarray):
    """The detector on a KITTI-LiDAR sweep without and with ``vehicle_end_recede_m`` (0.4 m)."""
    from tests.perception.test_ends import SENSOR_Z_M

    return (
        LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, vehicle_end_recede_m=r)).detect(
            pts, 0, "base_link"
        )
        for r in (0.0, 0.4)
    )


@pytest.mark.parametrize(
    "x, y, grade, facing_away",
    [(35.0, 1.0, 0.0, True), (35.0, 1.0, 0.0, False), (45.0, 0.0, 0.0, True), (50.0, 0.0, 0.005, True),
     (35.0, -2.0, 0.01, True)],
)  # fmt: skip
def test_a_far_car_end_whose_top_recedes_is_a_car(x, y, grade, facing_away):
    """With KITTI's LiDAR a sedan 35-50 m ahead shows four or five rows of its end: the boot (or
    bonnet) and the cabin's two lowest rows behind it, a 1.6 x 1.0 m patch 1.3 m tall, a side-on
    cyclist's footprint, boxed 1.6-1.8 m short of the car. Its upper half stands 0.9 m behind its
    lower half (``vehicle_end_recede_m``): a car, completed along the line of sight."""
    from tests.perception.test_ends import KITTI_ELEV_DEG, SENSOR_Z_M

    pts = spinning_scan(
        _sedan(x, y, facing_away), sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083,
        ground=(grade, 0.0, 0.0),
    )  # fmt: skip
    off, on = _without_and_with_car_ends(pts)
    assert len(off) == 1 and len(on) == 1
    assert off.labels[0] == ObjectClass.BICYCLE, "a car box without the rule: proves nothing"
    assert np.hypot(off.centers[0, 0] - x, off.centers[0, 1] - y) > 1.5
    assert on.labels[0] == ObjectClass.CAR
    assert np.hypot(on.centers[0, 0] - x, on.centers[0, 1] - y) < 0.3
    assert _yaw_err(float(on.yaw[0]), 0.0) < 0.1


def test_a_cyclist_or_person_is_no_car_end():
    """A cyclist crossing 20 m ahead (two wheels, the frame, the rider over them), a cyclist riding
    away (leaning: the shoulders 0.5 m ahead of the rear wheel, but 0.6 m wide) and a person walking
    away, 20-50 m ahead: the rule leaves their class. (Past ~30 m a crossing cyclist measures lower
    than a rider and is taken for an end-on car with or without this rule: the shape rules' known
    ambiguity, ``size_class``.)"""
    from tests.perception.test_ends import KITTI_ELEV_DEG, SENSOR_Z_M

    h = 0.5 * np.pi
    crossing = [
        (20.0, 0.45, 0.65, 0.05, 0.65, h),
        (20.0, 1.55, 0.65, 0.05, 0.65, h),
        (20.0, 1.0, 1.1, 0.05, 0.1, h, 0.5),
        (20.0, 1.1, 0.45, 0.4, 0.8, h, 0.9),
    ]
    scenes = [crossing]
    for x in (20.0, 35.0, 50.0):
        scenes.append(
            [
                (x, 1.0, 0.6, 0.05, 0.65, 0.0),
                (x + 0.3, 1.0, 0.35, 0.45, 0.6, 0.0, 0.8),
                (x + 0.5, 1.0, 0.3, 0.6, 0.3, 0.0, 1.3),
            ]
        )
        scenes.append([(x, -3.0, 0.3, 0.5, 0.9, 0.0), (x, -3.0, 0.3, 0.5, 0.8, 0.0, 0.9)])
    for scene in scenes:
        pts = spinning_scan(scene, sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083)
        off, on = _without_and_with_car_ends(pts)
        assert len(on) == len(off) == 1
        assert on.labels[0] == off.labels[0] and on.labels[0] in (ObjectClass.BICYCLE, ObjectClass.PEDESTRIAN)
