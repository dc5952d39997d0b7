"""Per-frame detection: base_link at the frame stamp, the ``both`` split, one move to the tracking frame."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from sensor_fusion.bev.grid import BevGrid
from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.classes import SENSOR_BEV, SENSOR_LIDAR, SENSOR_RADAR, ObjectClass
from sensor_fusion.core.types import Detections, PointCloud, RadarScan
from sensor_fusion.ego.frame_ego import FrameEgo
from sensor_fusion.perception.frame_detector import FrameDetections, FrameDetector
from sensor_fusion.sync.synchronizer import FusionFrame
from tests.ego.test_frame_ego import FakeEstimator

BEV_EDGE_MARGIN_M = from_flat({}).bev.edge_margin_m  # the shipped default

MS = 1_000_000
STAMP = 2_000_000_000
GRID = BevGrid(x_min_m=-40.0, x_max_m=40.0, y_min_m=-20.0, y_max_m=20.0)


def boxes(xy, sensor: int, scores=None, frame_id: str = "base_link", **rows) -> Detections:
    xy = np.asarray(xy, float).reshape(-1, 2)
    n = len(xy)
    return Detections(
        STAMP,
        frame_id,
        centers=np.column_stack([xy, np.full(n, 0.8)]),
        sizes=np.tile([4.5, 1.8, 1.6], (n, 1)),
        yaw=np.zeros(n),
        labels=np.ones(n, np.int64),
        scores=np.full(n, 0.9) if scores is None else np.asarray(scores, float),
        velocity=np.full((n, 2), np.nan),
        pos_cov=np.tile(0.1 * np.eye(2), (n, 1, 1)),
        sensors=np.full(n, sensor, np.uint8),
        **rows,
    )


class FakeDetector:
    """Returns fixed base_link boxes (restamped) and records its calls."""

    structure_cells = 0  # the LiDAR detector's structure memory (pipeline diagnostics)
    structure_vote_cells = 0  # and its structure votes

    def structure_map(self) -> None:
        """The LiDAR detector's structure cells (none here)."""
        return None

    def __init__(self, det: Detections, track_min_score: float = 0.3):
        self.det, self.calls, self.last_timing = det, [], {}
        self.grid, self.config = (
            GRID,
            SimpleNamespace(track_min_score=track_min_score, edge_margin_m=BEV_EDGE_MARGIN_M),
        )

    def on_structure(self, det: Detections) -> np.ndarray:
        """The LiDAR detector's structure memory: boxes beyond x = ``structure_beyond_x`` are on it."""
        return det.centers[:, 0] > getattr(self, "structure_beyond_x", np.inf)

    def detect(self, *args):
        self.calls.append(args)
        stamp = args[0].stamp_ns if len(args) == 1 else STAMP
        return replace(self.det, stamp_ns=stamp)


def _frame(radar: RadarScan | None = None) -> FusionFrame:
    cloud = PointCloud(STAMP, "base_link", np.zeros((8, 3), np.float32))
    kinds = {"lidar": "lidar", "radar": "radar"}
    return FusionFrame(STAMP, "lidar", kinds, cloud, matched={"radar": radar} if radar is not None else {})


def _xs(d: Detections) -> list[float]:
    return sorted(d.centers[:, 0].round(6).tolist())


@pytest.mark.parametrize("mode", ["both", "classical"])
def test_both_mode_splits_at_the_grid_less_the_margin(mode):
    inside, edge, outside = 10.0, GRID.x_max_m - BEV_EDGE_MARGIN_M / 2, 60.0
    lidar = FakeDetector(boxes([[inside, 0.0], [edge, 0.0], [outside, 0.0], [5.0, -19.5]], SENSOR_LIDAR))
    bev_det = boxes([[inside + 0.2, 0.1], [edge, 0.0], [20.0, 3.0]], SENSOR_BEV, scores=[0.9, 0.8, 0.2])
    bev = FakeDetector(bev_det, track_min_score=0.3) if mode == "both" else None
    fd = FrameDetector(Calibration(), "base_link", mode, lidar, bev=bev)
    found = fd.detect(_frame(), FrameEgo(STAMP, "base_link"))
    assert found.stamp_ns == STAMP
    if mode == "classical":
        assert list(found.detections) == ["lidar"] and len(found.detections["lidar"]) == 4
        return
    # the network keeps its grid less the margin, the classical detector the rest: each object once
    assert _xs(found.detections["lidar"]) == [5.0, edge, outside]  # (5, -19.5): the y edge band
    assert _xs(found.detections["bev"]) == [inside + 0.2, 20.0]  # published from its score threshold
    published, tracked = found.to_frame(np.eye(4), "base_link")
    assert _xs(tracked) == [5.0, inside + 0.2, edge, outside]  # tracked from track_min_score
    assert (tracked.sensors == [SENSOR_LIDAR] * 3 + [SENSOR_BEV]).all()
    # the radar ego velocity excludes every object box, before the split
    want = [inside, edge, outside, 5.0, inside + 0.2, edge]
    assert sorted(found.objects.centers[:, 0].round(6)) == sorted(want)
    assert _xs(published["bev"]) == _xs(found.detections["bev"])


def test_to_frame_moves_each_source_once():
    T = np.eye(4)
    T[:3, 3] = [100.0, 50.0, 0.0]
    found = FrameDetections(
        STAMP,
        {"lidar": boxes([[1.0, 2.0]], SENSOR_LIDAR), "radar": boxes([[3.0, 4.0]], SENSOR_RADAR)},
        without_ego_cov=frozenset({"radar"}),
    )
    extra = np.diag([0.5, 0.5])[None]
    published, tracked = found.to_frame(T, "odom", extra)
    assert tracked.frame_id == "odom" and tracked.stamp_ns == STAMP and len(tracked) == 2
    np.testing.assert_array_equal(tracked.centers[:, :2], [[101.0, 52.0], [103.0, 54.0]])
    np.testing.assert_array_equal(tracked.pos_cov[0], 0.6 * np.eye(2))  # LiDAR: + ego position cov
    np.testing.assert_array_equal(tracked.pos_cov[1], 0.1 * np.eye(2))  # radar: as it always was
    assert published["lidar"].frame_id == "odom" and found.detections["lidar"].frame_id == "base_link"
    empty = FrameDetections(STAMP).to_frame(T, "odom")
    assert empty[0] == {} and len(empty[1]) == 0 and empty[1].frame_id == "odom"


def test_radar_objects_are_moved_to_the_frame_stamp():
    est = FakeEstimator(x0=(100.0, 50.0), yaw=0.5, speed=10.0)
    est.known_until_ns, est.aligned = STAMP, True
    ego = FrameEgo(STAMP, "odom", est.truth(STAMP), _pose_at=est.T_world_base_at)
    scan_stamp = STAMP - 50 * MS
    scan = RadarScan(scan_stamp, "radar", np.zeros((3, 3), np.float32), np.zeros(3, np.float32), np.zeros(3))
    los = np.array([[1.0, 0.0]])
    radar_det = boxes([[20.0, 0.0]], SENSOR_RADAR, los=los, radial=np.array([5.0]), vel_cov=np.eye(2)[None])
    radar_det.velocity = np.array([[5.0, 0.0]])
    radar = FakeDetector(radar_det)
    cal = Calibration(frames={"radar": ("base_link", np.eye(4))})
    fd = FrameDetector(cal, "base_link", "classical", FakeDetector(boxes([], SENSOR_LIDAR)), radar=radar)
    found = fd.detect(_frame(scan), ego)
    r = found.detections["radar"]
    assert r.stamp_ns == STAMP and r.frame_id == "base_link"
    # the ego drove 0.5 m forward since the scan, the object 0.25 m: 20 - 0.5 + 0.25 ahead now
    np.testing.assert_allclose(r.centers[0, :2], [19.75, 0.0], atol=1e-9)
    np.testing.assert_allclose(radar.calls[0][2], [10.0, 0.0, 0.0], atol=1e-12)  # ego velocity, base axes
    assert found.without_ego_cov == {"radar"} and r.los is not None and r.vel_cov is not None
    # in odom the object is where it is at the frame stamp
    _, tracked = found.to_frame(ego.T_world_base, "odom", ego.pos_cov_extra)
    obj = ego.T_world_base @ [19.75, 0.0, 0.8, 1.0]
    np.testing.assert_allclose(tracked.centers[0], obj[:3], atol=1e-9)
    # without an ego pose the scan is used as measured, moved by the object's own motion only
    found = fd.detect(_frame(scan), FrameEgo(STAMP, "base_link"))
    np.testing.assert_allclose(found.detections["radar"].centers[0, :2], [20.25, 0.0], atol=1e-9)


def test_ego_heading_uncertainty_grows_with_range() -> None:
    """The velocity tail's first cause: a box 40 m away swings sideways by 40 m x the heading error,
    so its fixed-frame covariance must carry r^2 sigma_yaw^2 across the line of sight (the ego
    position covariance alone left the tracker reading the converging heading as sideways motion)."""
    from sensor_fusion.perception.frame_detector import ego_pose_cov_at

    sig_yaw = math.radians(2.0)
    pose_cov = np.diag([0.04, 0.04, sig_yaw**2])
    near, far = ego_pose_cov_at(np.array([[5.0, 0.0], [40.0, 0.0]]), pose_cov)
    np.testing.assert_allclose(far, np.diag([0.04, 0.04 + (40.0 * sig_yaw) ** 2]))
    np.testing.assert_allclose(near, np.diag([0.04, 0.04 + (5.0 * sig_yaw) ** 2]))
    # through to_frame: the LiDAR box 40 m ahead of a vehicle heading +y gets it along x (across)
    T = np.eye(4)
    T[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]
    found = FrameDetections(STAMP, {"lidar": boxes([[40.0, 0.0]], SENSOR_LIDAR)})
    _, tracked = found.to_frame(T, "odom", pose_cov=pose_cov)
    np.testing.assert_allclose(tracked.pos_cov[0] - boxes([[40.0, 0.0]], SENSOR_LIDAR).pos_cov[0],
                               np.diag([0.04 + (40.0 * sig_yaw) ** 2, 0.04]), atol=1e-12)  # fmt: skip


def test_a_box_the_camera_relabels_is_completed_for_its_new_class() -> None:
    """The camera's relabel goes through box completion (size_class.complete_relabelled) where the LiDAR
    had no class for the shape: an UNKNOWN 2.49 x 1.48 m block 48 m ahead that the image calls a
    truck moves 3.3 m ahead, onto the truck's centre. A box the LiDAR classed otherwise (a 1.8 x
    0.6 m bicycle the colour cue calls a car, urban_clutter 713) keeps its measured extent and only
    takes the hidden extent's uncertainty (centre anywhere along the 2.7 m it lacks: std 2.7 /
    sqrt(12)); a box the camera leaves alone does not move."""
    from sensor_fusion.core.classes import NUM_CLASSES, ObjectClass
    from sensor_fusion.perception.lidar import LidarDetector

    det = boxes([[47.67, -3.74], [20.0, 5.0], [15.0, -4.0]], SENSOR_LIDAR)
    det.sizes[0] = [2.49, 1.48, 2.51]
    det.yaw[0] = -1.55
    det.labels[0] = int(ObjectClass.UNKNOWN)
    det.sizes[2] = [1.8, 0.6, 1.5]
    det.labels[2] = int(ObjectClass.BICYCLE)
    probs = np.zeros((3, NUM_CLASSES))
    probs[0, int(ObjectClass.TRUCK)] = probs[1, int(ObjectClass.CAR)] = probs[2, int(ObjectClass.CAR)] = 1.0
    cues = SimpleNamespace(class_probs=probs, visible=np.array([True, True, True]))
    camera = SimpleNamespace(
        annotate=lambda d, cams: cues, config=SimpleNamespace(relabel_min_prob=0.5, relabel_size_gate=True)
    )
    fd = FrameDetector(Calibration(), "base_link", "classical", LidarDetector(), camera=camera)
    fd._apply_camera(det, {})
    assert det.labels[0] == ObjectClass.TRUCK and abs(det.centers[0, 0] - 50.93) < 0.1
    assert abs(det.centers[0, 1] + 3.74) < 0.1 and det.sizes[0, 0] == 8.0
    np.testing.assert_allclose(det.centers[1, :2], [20.0, 5.0])
    assert det.labels[2] == ObjectClass.CAR
    np.testing.assert_allclose(det.centers[2, :2], [15.0, -4.0])
    np.testing.assert_allclose(det.sizes[2], [1.8, 0.6, 1.5])
    np.testing.assert_allclose(det.pos_cov[2, 0, 0], 0.1 + 2.7**2 / 12.0)
    np.testing.assert_allclose(det.pos_cov[1], 0.1 * np.eye(2))


def test_the_lidar_detector_gets_the_ego_pose_for_its_structure_memory():
    """The structure memory lives in the tracking frame: the LiDAR detector is given base_link's
    pose there once the ego has one, and nothing before (detections stay in base_link)."""
    lidar = FakeDetector(boxes([[10.0, 0.0]], SENSOR_LIDAR))
    fd = FrameDetector(Calibration(), "base_link", "classical", lidar)
    fd.detect(_frame(), FrameEgo(STAMP, "base_link"))
    assert lidar.calls[-1][4] is None
    est = FakeEstimator(x0=(100.0, 50.0), yaw=0.5, speed=10.0)
    est.known_until_ns, est.aligned = STAMP, True
    ego = FrameEgo(STAMP, "odom", est.truth(STAMP), _pose_at=est.T_world_base_at)
    fd.detect(_frame(), ego)
    T, frame = lidar.calls[-1][4]
    assert frame == "odom"
    np.testing.assert_array_equal(T, ego.T_world_base)


def test_both_mode_drops_network_vehicle_boxes_on_remembered_structure():
    """In `both` mode the network's car, truck and bus boxes where the LiDAR's structure memory
    holds a façade are dropped (and counted); other classes, and boxes elsewhere, are kept."""
    lidar = FakeDetector(boxes([], SENSOR_LIDAR))
    lidar.structure_beyond_x = 15.0
    bev_det = boxes([[10.0, 0.0], [20.0, 5.0], [20.0, -5.0]], SENSOR_BEV)
    bev_det.labels = np.array([int(ObjectClass.CAR), int(ObjectClass.TRUCK), int(ObjectClass.PEDESTRIAN)])
    fd = FrameDetector(Calibration(), "base_link", "both", lidar, bev=FakeDetector(bev_det))
    found = fd.detect(_frame(), FrameEgo(STAMP, "base_link"))
    kept = found.detections["bev"]
    assert _xs(kept) == [10.0, 20.0] and list(kept.labels) == [ObjectClass.CAR, ObjectClass.PEDESTRIAN]
    assert fd.bev_boxes_on_structure == 1


def test_both_mode_gives_the_network_the_classical_ground_of_the_same_sweep():
    """The road test reads the classical detector's ground model of this frame's sweep (one LiDAR);
    a ground left from another stamp is not passed."""
    from sensor_fusion.perception.lidar import SweepGround

    lidar = FakeDetector(boxes([[60.0, 0.0]], SENSOR_LIDAR))
    bev = FakeDetector(boxes([[10.0, 0.0]], SENSOR_BEV))
    fd = FrameDetector(Calibration(), "base_link", "both", lidar, bev=bev)
    z = np.zeros(8, np.float32)
    for stamp, passed in ((STAMP, True), (STAMP - 1, False)):
        lidar.last_ground = SweepGround(stamp, np.zeros((8, 3), np.float32), z, np.ones(8, bool))
        fd.detect(_frame(), FrameEgo(STAMP, "base_link"))
        assert (bev.calls[-1][1] is lidar.last_ground) == passed
        assert passed or bev.calls[-1][1] is None
