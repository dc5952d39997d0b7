"""bev/road_boxes.py: a network box whose LiDAR returns all lie low over the road seen around it is
dropped; boxes over bodies, beside a walker, roofs seen alone, roofs of a second parked row (no road
seen there) and boxes too thinly seen to judge are kept."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.bev.road_boxes import MIN_RETURNS, road_boxes
from sensor_fusion.core.types import Detections
from sensor_fusion.perception.lidar import LidarDetectorConfig

HALF_M = 51.2
LIDAR = LidarDetectorConfig().with_sensor_origin((0.0, 0.0, 1.9))  # the ground model, the LiDAR's place


def _road(x: np.ndarray, sag_at_m: float | None) -> np.ndarray:
    """Flat, or flat up to ``sag_at_m`` then climbing 6 %: a sag curve the quadratic fit lags."""
    return np.zeros_like(x) if sag_at_m is None else 0.06 * np.clip(x - sag_at_m, 0.0, None)


def _sweep(sag_at_m: float | None = None) -> np.ndarray:
    """Road returns every 0.25 m over a 20 m wide street from -50 to 50 m (base_link)."""
    x, y = (a.ravel() for a in np.meshgrid(np.arange(-50.0, 50.0, 0.25), np.arange(-10.0, 10.0, 0.25)))
    return np.column_stack([x, y, _road(x, sag_at_m)]).astype(np.float32)


def _boxes(rows: list[tuple[float, float, float, float]]) -> Detections:
    """(x, y, length, width) boxes, yaw 0, 1.6 m tall, standing on z = 0."""
    n = len(rows)
    a = np.asarray(rows, np.float64).reshape(n, 4)
    return Detections(
        stamp_ns=0,
        frame_id="base_link",
        centers=np.column_stack([a[:, 0], a[:, 1], np.full(n, 0.8)]),
        sizes=np.column_stack([a[:, 2], a[:, 3], np.full(n, 1.6)]),
        yaw=np.zeros(n),
        labels=np.ones(n, np.int64),
        scores=np.full(n, 0.9),
        velocity=np.full((n, 2), np.nan),
        pos_cov=np.tile(np.eye(2), (n, 1, 1)),
        sensors=np.ones(n, np.uint8),
    )


def _drop(xyz: np.ndarray, det: Detections, min_height_m: float = 0.5) -> np.ndarray:
    return road_boxes(det, xyz, min_height_m, HALF_M, LIDAR)


def test_a_box_on_the_open_road_is_dropped_and_one_over_a_body_is_kept():
    xyz = _sweep()
    # a pedestrian at (20, 3): returns from the feet to the head; a car roof at (30, -4) seen alone
    # (its sides hidden, the road under it too), the road beside it in view
    xyz = xyz[~((np.abs(xyz[:, 0] - 30.0) <= 2.4) & (np.abs(xyz[:, 1] + 4.0) <= 1.2))]
    walker = np.column_stack([np.full(12, 20.0), np.full(12, 3.0), np.linspace(0.1, 1.7, 12)])
    roof = np.column_stack([np.linspace(28.5, 31.5, 10), np.full(10, -4.0), np.full(10, 1.5)])
    xyz = np.vstack([xyz, walker, roof]).astype(np.float32)
    det = _boxes([(10.0, 0.0, 4.2, 1.8), (20.0, 3.0, 0.7, 0.6), (30.0, -4.0, 4.2, 1.8)])
    assert _drop(xyz, det).tolist() == [True, False, False]
    # 0 turns the test off
    assert not _drop(xyz, det, min_height_m=0.0).any()


def test_a_box_beside_a_walker_is_kept():
    """The network's box lies 0.8 m beside the walker (within its centre error in the canyon): its
    own footprint holds only pavement, but the walker stands within reach of it."""
    walker = np.column_stack([np.full(12, 15.0), np.full(12, 10.0), np.linspace(0.1, 1.7, 12)])
    xyz = np.vstack([_sweep(), walker]).astype(np.float32)
    det = _boxes([(15.0, 9.2, 0.6, 0.6), (15.0, 5.0, 0.6, 0.6)])
    assert _drop(xyz, det).tolist() == [False, True]


def test_a_box_on_a_sag_curve_is_dropped_where_the_fit_lags():
    """46-47 m ahead on a road that starts climbing 6 % at 25 m: 1.3 m over the flat plane, and 0.6 m
    over a quadratic fitted to the sweep (``level.road_surface``), more than the 0.5 m test. The
    ground model follows the bend."""
    xyz = _sweep(sag_at_m=25.0)
    det = _boxes([(46.0, -2.3, 1.8, 0.6), (47.0, 4.0, 4.2, 1.8)])
    assert _drop(xyz, det).all()


def test_a_box_too_thinly_seen_or_off_the_cloud_is_kept():
    road = _sweep()
    keep = np.hypot(road[:, 0] - 15.0, road[:, 1]) > 5.0  # nothing near (15, 0) ...
    few = np.array([[15.0, 0.0, 0.0], [15.2, 0.1, 0.0]], np.float32)[: MIN_RETURNS - 1]  # ... but this
    xyz = np.vstack([road[keep], few])
    det = _boxes([(15.0, 0.0, 4.2, 1.8), (70.0, 0.0, 4.2, 1.8)])  # the second lies beyond the grid
    assert not _drop(xyz, det).any()


@pytest.mark.parametrize("xyz", [None, np.zeros((0, 3), np.float32)])
def test_no_cloud_refutes_nothing(xyz):
    det = _boxes([(10.0, 0.0, 4.2, 1.8)])
    assert not road_boxes(det, xyz, 0.5, HALF_M, LIDAR).any()
    assert road_boxes(_boxes([]), _sweep(), 0.5, HALF_M, LIDAR).shape == (0,)


def test_without_the_lidar_position_nothing_is_dropped():
    """The shadow test needs the sensor's place; without it every box is kept."""
    det = _boxes([(10.0, 0.0, 4.2, 1.8)])
    assert _drop(_sweep(), det).tolist() == [True]
    assert not road_boxes(det, _sweep(), 0.5, HALF_M).any()
    assert not road_boxes(det, _sweep(), 0.5, HALF_M, LidarDetectorConfig()).any()


def test_a_second_parked_row_seen_by_its_roofs_is_kept():
    """A first row of parked cars 18-22 m ahead hides the road behind it; the second row's roofs,
    1.5 m up at 30-34 m, are the lowest returns there for metres around, so heights alone call them
    road (the ground's envelope climbs from the first row's sills, 0.3 m up 12 m away, at 10 %). No
    ground is seen near them (the first row's shadow): nothing to judge by. A box on the open road
    beside is still dropped."""
    road = _sweep()
    az = np.arctan2(road[:, 1], road[:, 0])
    hidden = (road[:, 0] > 18.0) & (az > np.arctan2(-14.0, 18.0)) & (az < np.arctan2(6.0, 18.0))
    ys = np.arange(-14.0, 6.0, 0.2)
    front = [(18.0, y, z) for y in ys for z in np.arange(0.3, 1.46, 0.2)]
    top = [(x, y, 1.45) for x in np.arange(18.0, 22.0, 0.3) for y in ys]
    roof = [(x, y, 1.5) for x in np.arange(30.0, 34.0, 0.3) for y in np.arange(-4.8, -3.2, 0.3)]
    xyz = np.vstack([road[~hidden], front, top, roof]).astype(np.float32)
    det = _boxes([(32.0, -4.0, 4.2, 1.8), (10.0, 8.0, 4.2, 1.8)])
    assert _drop(xyz, det).tolist() == [False, True]


def test_non_finite_returns_are_ignored():
    xyz = _sweep()
    xyz[:50, 2] = np.nan
    xyz[50:60, 2] = np.inf
    assert _drop(xyz, _boxes([(-45.0, 0.0, 4.2, 1.8)])).tolist() == [True]


def test_a_malformed_box_is_kept_and_the_rest_judged():
    det = _boxes([(np.nan, 0.0, 4.2, 1.8), (10.0, 0.0, np.inf, 1.8), (-45.0, 0.0, 4.2, 1.8)])
    det.yaw[0] = np.nan
    assert _drop(_sweep(), det).tolist() == [False, False, True]


def test_the_pipeline_gives_the_network_the_placed_ground_model(repo, calibration):
    """In `both` (and `bev`) the road test runs on the classical detector's ground placed at the
    LiDAR; without that position it would silently drop nothing."""
    from sensor_fusion.config import from_flat, load_params_file
    from sensor_fusion.pipeline import FusionPipeline

    params = load_params_file(repo / "config" / "fusion.yaml")
    assert params["bev.min_height_over_road_m"] == 0.5
    for mode in ("both", "bev"):
        pipe = FusionPipeline(from_flat({**params, "detection_mode": mode}), calibration)
        ground = pipe.detector.bev.ground
        lidar = calibration.T_base_from(params["lidar.frame"])[:3, 3]
        assert (ground.sensor_x_m, ground.sensor_y_m, ground.sensor_z_m) == tuple(float(v) for v in lidar)


def _crown(x: float, y: float, z0: float, z1: float, half: float = 3.0) -> np.ndarray:
    """Returns in a tree crown over (x, y), ``z0`` to ``z1`` up, ``half`` m either side."""
    ax = (np.arange(x - half, x + half, 0.3), np.arange(y - half, y + half, 0.3), np.arange(z0, z1, 0.5))
    g = np.meshgrid(*ax)
    return np.column_stack([a.ravel() for a in g])


def test_a_box_on_the_road_under_a_crown_is_dropped_and_a_walker_there_kept():
    """A crown 4-8 m over the road at 30 m: its returns say nothing about what stands under it. The
    network's box on the road there is dropped; a walker under it is kept. A box under branches
    2 m up is kept (they could be a body's top: the test leaves what it cannot tell)."""
    walker = np.column_stack([np.full(12, 30.0), np.full(12, -2.0), np.linspace(0.1, 1.7, 12)])
    xyz = np.vstack([_sweep(), _crown(30.0, 0.0, 4.0, 8.0), _crown(15.0, 6.0, 2.0, 2.6), walker])
    det = _boxes([(30.0, 1.5, 4.2, 1.8), (30.0, -2.0, 0.7, 0.6), (15.0, 6.0, 4.2, 1.8)])
    assert _drop(xyz.astype(np.float32), det).tolist() == [True, False, False]


def test_the_classical_detectors_ground_gives_the_same_verdicts():
    """In `both` with one LiDAR the test reads the classical detector's ground model of the sweep
    (``LidarDetector.last_ground``) instead of computing it again: the same boxes are dropped."""
    from sensor_fusion.perception.lidar import LidarDetector

    walker = np.column_stack([np.full(12, 30.0), np.full(12, -2.0), np.linspace(0.1, 1.7, 12)])
    xyz = np.vstack([_sweep(sag_at_m=25.0), _crown(30.0, 0.0, 4.0, 8.0), walker]).astype(np.float32)
    rows = [(30.0, 1.5, 4.2, 1.8), (30.0, -2.0, 0.7, 0.6), (46.0, -2.3, 1.8, 0.6), (-20.0, 3.0, 4.2, 1.8)]
    det = _boxes(rows)
    lidar = LidarDetector(LIDAR)
    lidar.detect(xyz, 7, "base_link")
    sweep = lidar.last_ground
    assert sweep is not None and sweep.stamp_ns == 7
    own = _drop(xyz, det)
    assert own.tolist() == [True, False, True, True]
    assert road_boxes(det, None, 0.5, HALF_M, LIDAR, sweep).tolist() == own.tolist()
    # without the LiDAR's height the detector makes no seen test, and offers no ground
    lidar = LidarDetector(LidarDetectorConfig())
    lidar.detect(xyz, 8, "base_link")
    assert lidar.last_ground is None
