"""tracking.attributes: shape smoothing by sensor trust, class votes, heading from velocity, shape slack."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import SENSOR_CAMERA, SENSOR_LIDAR, SENSOR_RADAR, ObjectClass
from sensor_fusion.core.types import Detections
from sensor_fusion.tracking.attributes import (
    align_yaw_to_velocity,
    class_vote_weights,
    shape_slack,
    smooth_shape,
    vote_class,
)
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.filters import CVFilter, IMMFilter
from sensor_fusion.tracking.measurements import Measurements, validate
from sensor_fusion.tracking.track_table import TrackTable, birth
from tests.tracking.test_tracker import dets

CAR, TRUCK, UNKNOWN = int(ObjectClass.CAR), int(ObjectClass.TRUCK), int(ObjectClass.UNKNOWN)
ONE = np.array([0])


def det(sensor: int, size=(4.5, 1.8, 1.6), yaw: float = 0.0, z: float = 0.8, label: int = CAR, score=0.9):
    d = dets(0, [[0.0, 0.0]], sensors=sensor, yaw=yaw, labels=label, scores=score)
    d.sizes[0] = size
    d.centers[0, 2] = z
    return d


def meas(d: Detections, cfg: TrackerConfig) -> Measurements:
    return validate(d, cfg)


def track(d: Detections, cfg: TrackerConfig, filt=None) -> TrackTable:
    return birth(meas(d, cfg), ONE, 0, 1, filt or CVFilter(), cfg)


def test_trusted_size_smoothed() -> None:
    cfg = TrackerConfig(size_alpha=0.5, z_alpha=0.25)
    t = track(det(SENSOR_LIDAR, size=(4.0, 2.0, 1.5), z=1.0), cfg)
    smooth_shape(t, meas(det(SENSOR_LIDAR, size=(5.0, 1.0, 1.5), z=2.0), cfg), ONE, ONE, cfg)
    np.testing.assert_allclose(t.sizes[0], [4.5, 1.5, 1.5])
    assert t.z[0] == pytest.approx(1.25)
    d = det(SENSOR_LIDAR, size=(np.nan, 1.0, 1.0), z=np.nan)  # not measured: unchanged
    smooth_shape(t, meas(d, cfg), ONE, ONE, cfg)
    np.testing.assert_allclose(t.sizes[0], [4.5, 1.5, 1.5])
    assert t.z[0] == pytest.approx(1.25)


def test_untrusted_size_only_until_a_trusted_one() -> None:
    """Radar's prior box fills in; the first LiDAR box replaces it; radar then leaves it alone."""
    cfg = TrackerConfig(size_alpha=0.5)
    t = track(det(SENSOR_RADAR, size=(1.0, 1.0, 1.0)), cfg)
    assert not t.size_known[0]
    smooth_shape(t, meas(det(SENSOR_CAMERA, size=(3.0, 3.0, 3.0)), cfg), ONE, ONE, cfg)
    np.testing.assert_allclose(t.sizes[0], [2.0, 2.0, 2.0])  # untrusted on an unknown size: smoothed
    smooth_shape(t, meas(det(SENSOR_LIDAR, size=(12.0, 2.5, 3.5), z=1.7), cfg), ONE, ONE, cfg)
    np.testing.assert_allclose(t.sizes[0], [12.0, 2.5, 3.5])  # first trusted: replaced outright
    assert t.size_known[0] and t.z[0] == pytest.approx(1.7)
    smooth_shape(t, meas(det(SENSOR_RADAR, size=(1.0, 1.0, 1.0), z=0.0), cfg), ONE, ONE, cfg)
    np.testing.assert_allclose(t.sizes[0], [12.0, 2.5, 3.5])  # the trusted size is kept
    assert t.z[0] == pytest.approx(1.7)


def test_yaw_ambiguous_by_pi_and_trusted_only() -> None:
    cfg = TrackerConfig(yaw_alpha=0.5)
    t = track(det(SENSOR_LIDAR, yaw=0.1), cfg)
    smooth_shape(t, meas(det(SENSOR_LIDAR, yaw=0.3 + np.pi), cfg), ONE, ONE, cfg)  # the same box axis
    assert t.yaw[0] == pytest.approx(0.2)
    smooth_shape(t, meas(det(SENSOR_RADAR, yaw=1.5), cfg), ONE, ONE, cfg)  # not trusted for yaw
    assert t.yaw[0] == pytest.approx(0.2)
    t = track(det(SENSOR_RADAR, yaw=1.0), cfg)
    smooth_shape(t, meas(det(SENSOR_LIDAR, yaw=-0.4), cfg), ONE, ONE, cfg)
    assert t.yaw[0] == pytest.approx(-0.4) and t.yaw_known[0]  # first trusted yaw replaces


def test_class_votes() -> None:
    cfg = TrackerConfig(unknown_vote_weight=0.25, untrusted_class_vote_weight=0.5)
    d = dets(0, np.zeros((4, 2)), labels=np.array([CAR, UNKNOWN, TRUCK, TRUCK]), scores=0.8)
    d.sensors[:] = [SENSOR_LIDAR, SENSOR_LIDAR, SENSOR_RADAR, SENSOR_CAMERA]
    m = meas(d, cfg)
    np.testing.assert_allclose(class_vote_weights(m, np.arange(4), cfg), [0.8, 0.2, 0.4, 0.8])
    t = track(det(SENSOR_LIDAR, label=CAR, score=0.5), cfg)
    for k in (2, 2, 2, 3):  # three untrusted truck votes (0.4 each) and a trusted one (0.8)
        vote_class(t, m, ONE, np.array([k]), cfg)
    assert t.votes[0, TRUCK] == pytest.approx(2.0) and t.labels()[0] == TRUCK
    cfg0 = TrackerConfig(untrusted_class_vote_weight=0.0)
    t = track(det(SENSOR_LIDAR, label=CAR, score=0.5), cfg0)
    for _ in range(5):
        vote_class(t, meas(det(SENSOR_RADAR, label=TRUCK), cfg0), ONE, ONE, cfg0)
    assert t.labels()[0] == CAR  # a class the config does not trust never outvotes


def moving(yaw: float, vx: float, vel_var: float, filt) -> TrackTable:
    cfg = TrackerConfig()
    d = det(SENSOR_LIDAR, yaw=yaw)
    d.velocity[0] = [vx, 0.0]
    d.vel_cov = np.eye(2)[None] * vel_var
    return birth(meas(d, cfg), ONE, 0, 1, filt, cfg)


def test_yaw_flipped_to_a_confident_velocity() -> None:
    cfg = TrackerConfig(yaw_from_velocity_min_speed_mps=1.0)
    t = moving(np.pi - 0.1, 10.0, 0.01, CVFilter())
    align_yaw_to_velocity(t, ONE, CVFilter(), cfg)
    assert t.yaw[0] == pytest.approx(-0.1)  # flipped, not steered (CV)
    for vx, var in ((0.5, 0.01), (3.0, 4.0)):  # slower than the minimum; speed within 2 std
        t = moving(np.pi - 0.1, vx, var, CVFilter())
        align_yaw_to_velocity(t, ONE, CVFilter(), cfg)
        assert t.yaw[0] == pytest.approx(np.pi - 0.1)
    t = moving(np.pi - 0.1, 10.0, 0.01, CVFilter())
    align_yaw_to_velocity(t, ONE, CVFilter(), TrackerConfig(yaw_from_velocity_min_speed_mps=np.inf))
    assert t.yaw[0] == pytest.approx(np.pi - 0.1)  # disabled


def test_imm_yaw_steered_by_velocity_heading() -> None:
    imm = IMMFilter(0.5, 0.3, (4.0, 2.0))
    cfg = TrackerConfig(yaw_from_velocity_min_speed_mps=1.0, yaw_box_std_rad=0.1)
    t = moving(0.3, 10.0, 1.0, imm)  # heading 0, sigma_psi^2 = 1 / 100: gain 0.01 / 0.02 = 1/2
    align_yaw_to_velocity(t, ONE, imm, cfg)
    assert t.yaw[0] == pytest.approx(0.15)
    t = moving(0.3 + np.pi, 10.0, 1.0, imm)  # flipped first, then steered
    align_yaw_to_velocity(t, ONE, imm, cfg)
    assert t.yaw[0] == pytest.approx(0.15)


def test_shape_slack() -> None:
    cfg = TrackerConfig()
    t = track(det(SENSOR_LIDAR, size=(12.0, 2.5, 3.5)), cfg)
    t = t.extend(track(det(SENSOR_RADAR, size=(4.5, 1.8, 1.6)), cfg))  # size not known
    d = dets(0, np.zeros((2, 2)))
    d.sensors[:] = [SENSOR_RADAR, SENSOR_LIDAR]
    m = meas(d, cfg)  # both 4.5 x 1.8
    grid = shape_slack(t, m, np.arange(2)[:, None], np.arange(2)[None, :])
    np.testing.assert_allclose(grid, [[(0.5 * 7.5) ** 2, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(shape_slack(t, m, np.array([0, 1]), np.array([0, 0])), [(0.5 * 7.5) ** 2, 0.0])
