"""Occlusion and field-of-view truncation of boxes as a sensor sees them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.sim.visibility import SensorPose, sensor_pose, visibility

CAR = (4.5, 1.8, 1.5)
PED = (0.6, 0.6, 1.7)
TRUCK = (8.0, 2.5, 3.5)
POSE = SensorPose(np.zeros(2), 1.9, 0.0)  # a roof LiDAR at the origin looking along +x


def boxes(*items):
    """(centers, sizes, yaw) from (x, y, size) items standing on the ground, yaw 0."""
    c = np.array([[x, y, 0.5 * s[2]] for x, y, s in items])
    return c, np.array([s for _x, _y, s in items], float), np.zeros(len(items))


def test_visibility_over_and_behind_occluders():
    # a pedestrian 10 m behind a car: the roof LiDAR sees its upper part over the car
    v = visibility(*boxes((10.0, 0.0, CAR), (20.0, 0.0, PED)), POSE)
    assert v.hidden[0] == 0.0
    el_car_top = math.atan2(1.5 - 1.9, math.hypot(10.0 - 2.25, 0.9))  # from its nearest corner
    lo, hi = math.atan2(-1.9, 20.0), math.atan2(1.7 - 1.9, 20.0)
    assert v.hidden[1] == pytest.approx((el_car_top - lo) / (hi - lo), abs=1e-9)
    assert 0.3 < v.hidden[1] < 0.7
    # behind a truck it is hidden entirely; the truck is not hidden by what lies behind it
    v = visibility(*boxes((10.0, 0.0, TRUCK), (20.0, 0.0, PED)), POSE)
    assert v.hidden[1] == 1.0 and v.visible[1] == 0.0 and v.hidden[0] == 0.0
    # a truck beside the pedestrian's line of sight hides nothing
    v = visibility(*boxes((10.0, 5.0, TRUCK), (20.0, 0.0, PED)), POSE)
    assert v.hidden[1] == 0.0
    # a truck covering part of a far car's azimuth extent hides about that part
    v = visibility(*boxes((10.0, 2.0, TRUCK), (30.0, 0.0, (1.8, 4.5, 1.5))), POSE)
    assert 0.1 < v.hidden[1] < 0.9


def test_truncation_at_the_field_of_view_edge():
    fov = math.radians(90.0)
    v = visibility(*boxes((20.0, 20.0, PED), (20.0, 0.0, PED), (-20.0, 0.0, PED)), POSE, fov)
    assert v.truncated[0] == pytest.approx(0.5, abs=0.07)  # centred on the sector's edge
    assert v.truncated[1] == 0.0 and v.truncated[2] == 1.0
    assert list(v.center_in_fov) == [True, True, False]


def test_sensor_pose_from_the_vehicle_pose_and_mounting():
    p = sensor_pose(np.array([10.0, 5.0, 0.0]), math.pi / 2, np.array([1.0, 0.5, 1.9]), math.radians(10.0))
    np.testing.assert_allclose(p.xy, [9.5, 6.0])
    assert p.height_m == 1.9 and p.axis_yaw == pytest.approx(math.pi / 2 + math.radians(10.0))
