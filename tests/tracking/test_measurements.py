"""tracking.measurements: validation drops and counts bad rows, resolves optional rows to masks."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sensor_fusion.core.classes import NUM_CLASSES, SENSOR_CAMERA, SENSOR_LIDAR, SENSOR_RADAR
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.measurements import (
    MAX_CAPTURE_OFFSET_S,
    at_capture_time,
    max_std_2x2,
    spd_2x2,
    validate,
)
from tests.tracking.test_tracker import dets

LOGGER = "sensor_fusion.tracking.measurements"


def five() -> np.ndarray:
    return np.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0], [15.0, 0.0], [20.0, 0.0]])


def test_bad_rows_dropped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    d = dets(0, five())
    d.centers[1, 1] = np.nan  # position not finite
    d.pos_cov[2, 0, 0] = np.inf  # covariance not finite
    d.pos_cov[3] = [[1.0, 2.0], [2.0, 1.0]]  # symmetric, not positive definite
    d.scores[4] = np.nan
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        m = validate(d, TrackerConfig())
    assert len(m) == 1 and m.xy.tolist() == [[0.0, 0.0]]
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "dropped 4 of 5 detections" in msgs[0]
    # every field has the surviving row count
    for name in ("R", "vel", "vel_R", "has_vel", "radial", "los", "z", "sizes", "labels", "may_spawn", "dt"):
        assert len(getattr(m, name)) == 1, name


def test_unknown_label_dropped_missing_attributes_kept(caplog: pytest.LogCaptureFixture) -> None:
    d = dets(0, five()[:4])
    d.labels[0] = NUM_CLASSES  # not a class
    d.labels[1] = -1
    d.sizes[2] = np.nan  # size not measured: kept, marked
    d.yaw[3] = np.nan  # yaw not measured: kept, NaN
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        m = validate(d, TrackerConfig())
    assert "dropped 2 of 4" in caplog.text
    assert m.xy[:, 0].tolist() == [10.0, 15.0]
    assert m.has_size.tolist() == [False, True] and m.sizes[0].tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(m.yaw[1]) and np.isfinite(m.yaw[0])


def test_scores_clipped_and_r_symmetrised() -> None:
    d = dets(0, five()[:2], scores=1.7)
    d.pos_cov[0] = [[1.0, 0.2], [0.0, 1.0]]
    m = validate(d, TrackerConfig())
    assert m.scores.tolist() == [1.0, 1.0]
    assert np.array_equal(m.R[0], m.R[0].T) and m.R[0, 0, 1] == pytest.approx(0.1)


def test_foreign_frame_dropped_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    warned: set[str] = set()
    cfg = TrackerConfig(frame_id="odom")
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for _ in range(3):
            m = validate(dets(0, five(), frame_id="base_link"), cfg, warned_frames=warned)
            assert len(m) == 0
    levels = [r.levelno for r in caplog.records if "base_link" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert len(validate(dets(0, five(), frame_id="odom"), cfg, warned_frames=warned)) == 5
    assert len(validate(dets(0, five(), frame_id=""), cfg)) == 5  # no frame given: trusted


def test_sensor_configured_off_dropped_silently(caplog: pytest.LogCaptureFixture) -> None:
    d = dets(0, five()[:2])
    d.sensors[1] = SENSOR_CAMERA
    cfg = TrackerConfig(trust={"CAMERA": {"may_update": False}})
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        m = validate(d, cfg)
    assert len(m) == 1 and m.sensors.tolist() == [SENSOR_LIDAR] and not caplog.records


def test_trust_flags_looked_up_per_row() -> None:
    d = dets(0, five()[:3])
    d.sensors[:] = [SENSOR_LIDAR, SENSOR_RADAR, SENSOR_CAMERA]
    m = validate(d, TrackerConfig())
    assert m.trust_size.tolist() == [True, False, False]
    assert m.trust_class.tolist() == [True, False, True]
    assert m.trust_yaw.tolist() == [True, False, False]


def test_velocity_and_bad_vel_cov(caplog: pytest.LogCaptureFixture) -> None:
    d = dets(0, five()[:3], vel=np.array([[1.0, 0.0], [2.0, 0.0], [np.nan, 0.0]]))
    m = validate(d, TrackerConfig(velocity_meas_std_mps=0.5))
    assert m.has_vel.tolist() == [True, True, False]
    assert np.allclose(m.vel_R[0], 0.25 * np.eye(2)) and m.vel[2].tolist() == [0.0, 0.0]
    d.vel_cov = np.tile(np.eye(2) * 0.04, (3, 1, 1))
    d.vel_cov[1] = [[-1.0, 0.0], [0.0, 1.0]]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        m = validate(d, TrackerConfig())
    assert m.has_vel.tolist() == [True, False, False] and "1 velocities with a bad vel_cov" in caplog.text
    assert np.allclose(m.vel_R[0], 0.04 * np.eye(2)) and not m.vel_R[1].any()


def test_radial_rows() -> None:
    """los normalised; a full velocity wins over the radial speed, except a radial-only fit's."""
    d = dets(0, five()[:4], vel=np.array([[1.0, 0.0], [1.0, 0.0], [np.nan, np.nan], [np.nan, np.nan]]))
    d.radial = np.array([3.0, 3.0, 3.0, np.nan])
    d.los = np.array([[2.0, 0.0], [0.0, 4.0], [3.0, 4.0], [1.0, 0.0]])
    d.radial_only = np.array([False, True, False, False])
    m = validate(d, TrackerConfig(velocity_meas_std_mps=0.5))
    assert m.has_vel.tolist() == [True, False, False, False]
    assert m.has_radial.tolist() == [False, True, True, False]
    np.testing.assert_allclose(m.los[1:3], [[0.0, 1.0], [0.6, 0.8]])
    assert m.radial_var[2] == pytest.approx(0.25)  # no radial_var: velocity_meas_std_mps^2
    d.radial = np.array([3.0, 3.0, 3.0, 3.0])
    d.los = None
    with pytest.raises(ValueError, match="needs Detections.los"):
        validate(d, TrackerConfig())


def test_capture_time_offsets() -> None:
    d = dets(0, five()[:4])
    d.time_offset_s = np.array([0.05, -0.02, MAX_CAPTURE_OFFSET_S + 0.1, np.nan])
    m = validate(d, TrackerConfig())
    assert m.dt.tolist() == [0.05, -0.02, 0.0, 0.0]
    assert not validate(d, TrackerConfig(use_capture_time=False)).dt.any()


def test_radar_spawns_only_with_a_good_velocity() -> None:
    d = dets(0, five()[:4], vel=np.array([[5.0, 0.0], [0.1, 0.0], [5.0, 0.0], [np.nan, np.nan]]))
    d.sensors[:] = SENSOR_RADAR
    d.vel_cov = np.tile(np.eye(2) * 0.1, (4, 1, 1))
    d.vel_cov[2] = np.diag([0.1, 9.0])  # tangential std 3 m/s: not well measured
    m = validate(d, TrackerConfig(spawn_min_speed_mps=0.5, spawn_max_velocity_std_mps=1.0))
    assert m.may_spawn.tolist() == [True, False, False, False]
    d.sensors[:] = SENSOR_LIDAR
    assert validate(d, TrackerConfig()).may_spawn.all()


def test_wrong_shapes_raise() -> None:
    d = dets(0, five())
    d.sizes = d.sizes[:, :2]
    with pytest.raises(ValueError, match="sizes"):
        validate(d, TrackerConfig())
    d = dets(0, five())
    d.time_offset_s = np.zeros(3)
    with pytest.raises(ValueError, match="time_offset_s"):
        validate(d, TrackerConfig())


def test_take_keeps_rows_together() -> None:
    d = dets(0, five())
    m = validate(d, TrackerConfig()).take(np.array([3, 1]))
    assert m.xy[:, 0].tolist() == [15.0, 5.0] and len(m.dt) == len(m.sensors) == 2


def test_at_capture_time() -> None:
    H = np.eye(2, 4)
    assert at_capture_time(H, np.zeros(3)) is H
    out = at_capture_time(H, np.array([0.0, 0.1]))
    assert out.shape == (2, 2, 4) and out[1, 0, 2] == out[1, 1, 3] == 0.1 and not out[0, :, 2:].any()
    x = np.array([1.0, 2.0, 10.0, -5.0])
    np.testing.assert_allclose(out[1] @ x, [2.0, 1.5])  # p + v dt
    assert H[0, 2] == 0.0  # the shared H is not modified


def test_max_std_and_spd_2x2() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 2, 2))
    C = A @ A.transpose(0, 2, 1)
    np.testing.assert_allclose(max_std_2x2(C), np.sqrt(np.linalg.eigvalsh(C)[:, -1]))
    bad = np.array([[[1.0, 2.0], [2.0, 1.0]], [[np.nan, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, -1.0]]])
    assert spd_2x2(np.concatenate([C, bad])).tolist() == [True] * 20 + [False] * 3
