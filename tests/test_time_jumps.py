"""Time at the pipeline level (core, no ROS): a bag played in a loop, a clock jumping an hour
ahead, sim time paused and resumed, out-of-order and duplicate stamps.

Data flows through the real synchroniser and tracker: a LiDAR anchor and an IMU at 10 Hz are
pushed, a scripted ego filter (tests.ego.test_frame_ego.FakeEstimator) and a fixed LiDAR box
stand in for IMU integration and detection. What must hold: a jump beyond its threshold resets
the synchroniser, tracker and ego filter, says so in one log line and one counter, and the
pipeline keeps producing frames; anything smaller resets nothing; reordered and repeated
stamps are dropped and counted per input.
"""

from __future__ import annotations

import logging

import numpy as np

from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.classes import SENSOR_LIDAR
from sensor_fusion.core.types import ImuSample, PointCloud
from sensor_fusion.ego.frame_ego import EgoSource
from sensor_fusion.pipeline import FusionPipeline
from tests.ego.test_frame_ego import FakeEstimator
from tests.perception.test_frame_detector import FakeDetector, boxes
from tests.test_pipeline import LIMITS

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS  # a wall-clock-like stamp
HOUR = 3600 * NS


def _pipeline():
    cfg = from_flat({"cameras.names": [""], "radars.names": [""], "gps.enabled": False})
    pipe = FusionPipeline(cfg, Calibration())
    est = FakeEstimator(x0=(100.0, 50.0), yaw=0.5)
    pipe.ego = EgoSource(lambda: est, "odom", "base_link", Calibration(), **LIMITS)
    pipe.detector.lidar = FakeDetector(boxes([(15.0, 3.0)], SENSOR_LIDAR))
    return pipe, est


def _imu(t: int) -> ImuSample:
    return ImuSample(t, "base_link", np.zeros(3), np.array([0.0, 0.0, 9.81]))


def _cloud(t: int) -> PointCloud:
    return PointCloud(t, "base_link", np.zeros((8, 3), np.float32))


def drive(pipe, est, stamps, aligned: bool = True) -> list:
    """Push an IMU sample and a sweep at each stamp; the scripted filter knows the pose up to it."""
    outs = []
    for t in stamps:
        if aligned:
            est.aligned, est.known_until_ns = True, t
        pipe.push("imu", _imu(t))
        pipe.push("lidar", _cloud(t))
        outs += pipe.step()
    return outs


def _ids(outs) -> set[int]:
    return {int(i) for o in outs for i in o.tracks.ids}


def _stamps(start: int, n: int) -> list[int]:
    return [start + k * 100 * MS for k in range(n)]


def _jump_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "time jumped" in r.getMessage()]


def test_bag_loop_resets_once_and_continues(caplog):
    pipe, est = _pipeline()
    caplog.set_level(logging.WARNING, logger="sensor_fusion.pipeline")
    first = drive(pipe, est, _stamps(T0, 20))
    looped = drive(pipe, est, _stamps(T0, 20))  # the same 2 s again
    assert len(first) == 20 and len(looped) == 20  # every sweep of both passes gives a frame
    # the scripted filter already knows the new timeline (as a real one does after seeing the jump
    # in its own IMU stream), so the pipeline keeps it instead of resetting it a second time
    assert est.resets == 0
    assert _ids(looped).isdisjoint(_ids(first)) and _ids(looped)  # the tracker restarted, and tracks again
    lines = _jump_lines(caplog)
    assert len(lines) == 1 and "backwards by 1.900 s" in lines[0]  # from the last frame
    assert pipe.diagnostics()["sync"]["time_jumps"] == {"backward": 1, "forward": 0}


def test_clock_jump_forward_of_an_hour_resets_once_and_continues(caplog):
    pipe, est = _pipeline()
    caplog.set_level(logging.WARNING, logger="sensor_fusion.pipeline")
    before = drive(pipe, est, _stamps(T0, 20))
    after = drive(pipe, est, _stamps(T0 + HOUR, 20))
    # the first post-jump message of each input is held back as a possible broken clock
    # ("future"), the next ones confirm the new timeline
    assert len(after) >= 18 and all(o.stamp_ns >= T0 + HOUR for o in after)
    assert est.resets == 0  # already on the new timeline (see the bag-loop test)
    # without the reset the old tracks, predicted an hour ahead with an hour's covariance, would
    # have taken the new detections and kept their ids
    assert _ids(after).isdisjoint(_ids(before)) and _ids(after)
    lines = _jump_lines(caplog)
    assert len(lines) == 1 and "forwards by 3598.200 s" in lines[0]
    diag = pipe.diagnostics()["sync"]
    assert diag["time_jumps"] == {"backward": 0, "forward": 1}
    assert diag["dropped"]["lidar"].get("future", 0) == 1 and diag["dropped"]["imu"].get("future", 0) == 1


def test_gap_below_the_forward_threshold_resets_nothing(caplog):
    """A 3 s sensor dropout (both inputs silent) is not a clock jump: no reset, no jump line."""
    pipe, est = _pipeline()
    caplog.set_level(logging.WARNING, logger="sensor_fusion.pipeline")
    drive(pipe, est, _stamps(T0, 10))
    outs = drive(pipe, est, _stamps(T0 + 4 * NS, 10))
    # the first message after the silence is held back as a possible broken clock ("future")
    assert len(outs) == 9 and est.resets == 0 and not _jump_lines(caplog)
    assert pipe.diagnostics()["sync"]["time_jumps"] == {"backward": 0, "forward": 0}


def test_sim_time_paused_and_resumed_keeps_the_tracks(caplog):
    """Paused sim time: no input for a while (the node's idle flush emits what is pending), then
    stamps continue where they stopped. Nothing resets; the same tracks carry on."""
    pipe, est = _pipeline()
    caplog.set_level(logging.WARNING, logger="sensor_fusion.pipeline")
    before = drive(pipe, est, _stamps(T0, 20))
    before += pipe.flush()  # the idle flush during the pause
    after = drive(pipe, est, _stamps(T0 + 2 * NS, 20))
    assert est.resets == 0 and not _jump_lines(caplog)
    assert _ids(after) == _ids(before) and _ids(after)
    assert [o.stamp_ns for o in before + after] == _stamps(T0, 40)


def test_out_of_order_and_duplicate_stamps_are_dropped_and_counted():
    """Each input repeats every 4th message and re-sends an old one every 5th: the frames are
    exactly those of the clean stream, and every repeat and late message is counted."""
    clean, est_c = _pipeline()
    ref = drive(clean, est_c, _stamps(T0, 30))
    pipe, est = _pipeline()
    outs, stamps = [], _stamps(T0, 30)
    for k, t in enumerate(stamps):
        est.aligned, est.known_until_ns = True, t
        pipe.push("imu", _imu(t))
        pipe.push("lidar", _cloud(t))
        if k % 4 == 3:  # duplicate
            pipe.push("imu", _imu(t))
            pipe.push("lidar", _cloud(t))
        if k % 5 == 4:  # out of order: 0.3 s late (below the 1 s jump threshold)
            pipe.push("imu", _imu(t - 300 * MS + MS))
            pipe.push("lidar", _cloud(t - 300 * MS + MS))
        outs += pipe.step()
    assert [o.stamp_ns for o in outs] == [o.stamp_ns for o in ref]
    assert [sorted(o.tracks.ids.tolist()) for o in outs] == [sorted(o.tracks.ids.tolist()) for o in ref]
    sync = pipe.diagnostics()["sync"]
    assert sync["dropped"]["lidar"] == {"duplicate": 7, "late_anchor": 6}
    assert sync["resets"] == 0 and est.resets == 0
    # IMU: repeats are refused by the synchroniser; late samples go to the ego filter, which
    # drops what is at or before its own time (counted there as imu_out_of_order)
    assert sync["dropped"]["imu"] == {"duplicate": 7}
    late = [s.stamp_ns for s in est.imu if s.stamp_ns % (100 * MS) != 0]
    assert len(late) == 6
