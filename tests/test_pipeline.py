"""The pipeline's composition: tracking frame switch, coasting through an ego gap, the frame API.

A scripted ego filter (tests.ego.test_frame_ego.FakeEstimator) stands in for IMU + GPS and a
fixed LiDAR box for the detector, so each test sets exactly when the heading is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.classes import SENSOR_LIDAR
from sensor_fusion.core.types import PointCloud
from sensor_fusion.ego.frame_ego import EgoSource
from sensor_fusion.pipeline import FusionPipeline
from sensor_fusion.sync.synchronizer import FusionFrame
from tests.ego.test_frame_ego import FakeEstimator
from tests.perception.test_frame_detector import FakeDetector, boxes

DEFAULTS = from_flat({})  # the shipped defaults (the schema's)
MAX_EXTRAPOLATION_NS = int(round(DEFAULTS.ego_extrapolation_max_s * 1e9))
EGO_GAP_COAST_NS = int(round(DEFAULTS.ego_gap_reset_s * 1e9))
LIMITS = dict(max_extrapolation_ns=MAX_EXTRAPOLATION_NS, gap_coast_ns=EGO_GAP_COAST_NS)

MS = 1_000_000
T0 = 10_000_000_000
BOX = (15.0, 3.0)


def _pipeline(**flat) -> tuple[FusionPipeline, FakeEstimator, FakeDetector]:
    cfg = from_flat({"cameras.names": [""], "radars.names": [""], **flat})
    pipe = FusionPipeline(cfg, Calibration())
    est = FakeEstimator(x0=(100.0, 50.0), yaw=0.5)
    pipe.ego = EgoSource(lambda: est, "odom", "base_link", Calibration(), **LIMITS)
    lidar = FakeDetector(boxes([BOX], SENSOR_LIDAR))
    pipe.detector.lidar = lidar
    return pipe, est, lidar


def _frame(pipe: FusionPipeline, stamp: int, reset: bool = False) -> FusionFrame:
    cloud = PointCloud(stamp, "base_link", np.zeros((8, 3), np.float32))
    return FusionFrame(stamp, "lidar", pipe.sensor_kinds, cloud, reset=reset)


def _ids(outs) -> set[int]:
    return {int(i) for o in outs for i in o.tracks.ids}


@pytest.mark.parametrize("keep", [True, False])
def test_tracks_live_in_base_link_until_the_heading_is_known_then_in_odom(keep):
    """At the heading alignment the tracks move to odom: carried over with their ids
    (``keep_tracks_on_frame_change``, the default), or dropped and started again under new ids."""
    pipe, est, _ = _pipeline(**{"tracker.keep_tracks_on_frame_change": keep})
    outs = []
    for k in range(16):
        t = T0 + k * 100 * MS
        est.known_until_ns, est.aligned = t, k >= 8
        outs.append(pipe.process(_frame(pipe, t)))
    before, after = outs[:8], outs[8:]
    assert all(o.tracks.frame_id == "base_link" and o.ego is None for o in before)
    assert all(o.tracks.frame_id == "odom" and o.ego is not None for o in after)
    assert all(o.detections["lidar"].frame_id == o.tracks.frame_id for o in outs)
    assert pipe.frame_switches == 1
    ids_before, ids_after = _ids(before), _ids(after)
    assert ids_before and ids_after
    if keep:  # the same object under the same id on both sides, published from the first odom frame
        assert ids_after == ids_before and len(after[0].tracks) == 1
    else:  # no track crosses the switch, and ids keep increasing
        assert min(ids_after) > max(ids_before)
    np.testing.assert_allclose(before[-1].tracks.centers[0, :2], BOX, atol=1e-6)
    box_odom = est.truth(0).T_world_base() @ [*BOX, 0.8, 1.0]
    np.testing.assert_allclose(after[-1].tracks.centers[0, :2], box_odom[:2], atol=1e-6)


def test_boxes_in_odom_take_the_ego_position_uncertainty_not_its_heading():
    """odom's heading integrates the gyro: the filter's heading variance is one rotation shared by
    every box, not a per-box error, and must not widen a box at range (ego_pose_cov_at's heading
    term would add yaw variance times range squared)."""
    pipe, est, _ = _pipeline()
    outs = []
    for k in range(3):
        t = T0 + k * 100 * MS
        est.known_until_ns, est.aligned = t, k >= 1
        outs.append(pipe.process(_frame(pipe, t)))
    base, odom = outs[0].detections["lidar"], outs[-1].detections["lidar"]
    assert odom.frame_id == "odom" and base.frame_id == "base_link"
    cov = est.truth(T0).pose_cov
    assert cov[5, 5] > 0.0
    added = np.trace(odom.pos_cov[0]) - np.trace(base.pos_cov[0])
    assert added == pytest.approx(np.trace(cov[:2, :2]))  # the position block alone


def test_a_short_ego_gap_coasts_the_tracks_a_long_one_falls_back_to_base_link():
    pipe, est, lidar = _pipeline()
    est.aligned = True
    outs = []
    for k in range(8):  # heading known: tracks confirmed in odom
        t = T0 + k * 100 * MS
        est.known_until_ns = t
        outs.append(pipe.process(_frame(pipe, t)))
    last_imu = est.known_until_ns  # from here the filter gets no IMU
    ids = _ids(outs[-1:])
    assert ids and pipe.frame_switches == 1
    k = 0
    while True:
        k += 1
        t = last_imu + k * 100 * MS
        calls = len(lidar.calls)
        out = pipe.process(_frame(pipe, t))
        if t - last_imu <= MAX_EXTRAPOLATION_NS:  # extrapolated pose: detect and track as usual
            assert out.ego is not None and "lidar" in out.detections and len(lidar.calls) == calls + 1
            last_aligned = t
        elif t - last_aligned < EGO_GAP_COAST_NS:  # coast: predicted, same tracks, nothing detected
            assert out.ego is None and out.detections == {} and len(lidar.calls) == calls
            # the tracks coast on (kept for re-identification); past output_max_coast_s they are
            # no longer published, and what is published is marked coasting
            assert out.tracks.frame_id == "odom" and _ids([out]) <= ids and out.tracks.coasting.all()
            assert set(pipe.tracker._t.ids.tolist()) == ids
            assert pipe.frame_switches == 1
        else:  # too long: back to base_link, tracks reset, new ids
            assert out.tracks.frame_id == "base_link" and pipe.frame_switches == 2
            assert out.detections["lidar"].frame_id == "base_link"
            assert not _ids([out]) & ids
            break
    assert k > 5  # it did coast for a while


def test_a_time_jump_resets_tracks_and_the_ego_filter():
    pipe, est, _ = _pipeline()
    est.aligned = True
    for k in range(5):
        est.known_until_ns = T0 + k * 100 * MS
        out = pipe.process(_frame(pipe, est.known_until_ns))
    assert est.resets == 0 and len(out.tracks) == 1 and out.tracks.frame_id == "odom"
    out = pipe.process(_frame(pipe, T0 - 5_000_000_000, reset=True))
    assert est.resets == 1 and len(out.tracks) == 0
    assert out.tracks.frame_id == "base_link" and out.ego is None  # the reset filter has no heading


def test_frames_come_from_pushed_data():
    pipe, est, _ = _pipeline(**{"imu.enabled": False, "gps.enabled": False})
    pipe.ego = EgoSource(None, "odom", "base_link", Calibration(), **LIMITS)
    assert pipe.sensor_kinds == {"lidar": "lidar"}
    for k in range(3):
        t = T0 + k * 100 * MS
        assert pipe.push("lidar", PointCloud(t, "base_link", np.zeros((8, 3), np.float32)))
    ready = pipe.ready_frames()  # a LiDAR-only frame waits for nothing
    assert [f.stamp_ns for f in ready] == [T0, T0 + 100 * MS, T0 + 200 * MS]
    assert pipe.ready_frames() == [] and pipe.ready_frames(flush=True) == []
    outs = [pipe.process(f) for f in ready]
    assert all(o.tracks.frame_id == "base_link" and o.ego is None for o in outs)
    assert not pipe.push("lidar", PointCloud(T0 + 900 * MS, "nowhere", np.zeros((1, 3), np.float32)))
    assert pipe.diagnostics()["rejected"] == {"lidar": {"unknown_frame": 1}}
    # no ego pose yet: the LiDAR's structure memory holds nothing, and no network box was dropped
    assert pipe.diagnostics()["structure"] == {"memory_cells": 0, "vote_cells": 0, "bev_boxes_dropped": 0}
    assert pipe.diagnostics()["bev"] == {"velocities_refuted": 0, "road_boxes_dropped": 0}
