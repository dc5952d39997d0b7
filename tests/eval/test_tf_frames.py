"""Estimates placed in the truth's world for scoring: through the node's map -> odom, or relative
to the vehicle (``--frame ego``), which leaves the ego filter's world error out of the object scores."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from sensor_fusion.eval.frames import FrameObjects
from sensor_fusion.eval.tf import WorldFrames, odometry_transforms

STAMPS = [0, 500_000_000, 1_000_000_000]


def _stamp(ns: int) -> NS:
    return NS(sec=ns // 10**9, nanosec=ns % 10**9)


def _quat(yaw: float) -> NS:
    return NS(x=0.0, y=0.0, z=float(np.sin(0.5 * yaw)), w=float(np.cos(0.5 * yaw)))


def _tf(parent: str, child: str, xy, yaw: float, ns: int) -> NS:
    return NS(
        header=NS(frame_id=parent, stamp=_stamp(ns)),
        child_frame_id=child,
        transform=NS(translation=NS(x=xy[0], y=xy[1], z=0.0), rotation=_quat(yaw)),
    )


def _odom(xy, yaw: float, ns: int) -> NS:
    pose = NS(position=NS(x=xy[0], y=xy[1], z=0.0), orientation=_quat(yaw))
    return NS(header=NS(frame_id="world", stamp=_stamp(ns)), child_frame_id="base_link", pose=NS(pose=pose))


def _track(xy, ns: int) -> NS:
    f = FrameObjects(ns, [1], [1], [[xy[0], xy[1], 0.8]], [[4.5, 1.8, 1.5]], [0.0], [[2.0, 0.0]], [0.9])
    return NS(header=NS(frame_id="odom"), objects=f)


@pytest.fixture
def world():
    """The vehicle stands at (10, 0) heading +x in the world. The node believes it is at (3, 1) with
    heading 0.1 rad in its odom, and places odom 2.2 m off in the world (map -> odom (5, 0)); it
    tracks an object 5 m straight ahead, which in truth is at (15, 0)."""
    own_yaw = 0.1
    odom_base = np.array([3.0, 1.0])
    tf = [NS(transforms=[_tf("map", "odom", (5.0, 0.0), 0.0, t), _tf("odom", "base_link", odom_base, 0.1, t)])
          for t in STAMPS]  # fmt: skip
    ahead = odom_base + 5.0 * np.array([np.cos(own_yaw), np.sin(own_yaw)])
    truth = [_odom((10.0, 0.0), 0.0, t) for t in STAMPS]
    return tf, truth, ahead


def test_world_frame_charges_the_ego_error_to_the_object(world):
    tf, _truth, ahead = world
    frames = WorldFrames(tf, "world", lambda m, with_ids=True: m.objects)
    f = frames(_track(ahead, STAMPS[1]))
    np.testing.assert_allclose(f.centers[0, :2], ahead + [5.0, 0.0], atol=1e-9)  # through map -> odom
    assert np.hypot(*(f.centers[0, :2] - [15.0, 0.0])) > 2.0


def test_ego_frame_places_the_object_where_the_vehicle_sees_it(world):
    tf, truth, ahead = world
    frames = WorldFrames(tf, "world", lambda m, with_ids=True: m.objects, odometry_transforms(truth))
    f = frames(_track(ahead, STAMPS[1]))
    np.testing.assert_allclose(f.centers[0, :2], [15.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(f.yaw[0], -0.1, atol=1e-12)  # heading relative to the vehicle's
    np.testing.assert_allclose(f.velocity[0], 2.0 * np.array([np.cos(-0.1), np.sin(-0.1)]), atol=1e-12)
    assert f.centers[0, 2] == pytest.approx(0.8)


def test_ego_frame_without_an_odom_to_base_transform_scores_nothing(world):
    tf, truth, ahead = world
    only_map = [NS(transforms=[t for t in m.transforms if t.child_frame_id == "odom"]) for m in tf]
    frames = WorldFrames(only_map, "world", lambda m, with_ids=True: m.objects, odometry_transforms(truth))
    assert len(frames(_track(ahead, STAMPS[1]))) == 0
    assert not frames.scored("odom")


def test_base_link_estimates_score_only_relative_to_the_vehicle(world):
    """Before its heading is known the node publishes in base_link: nothing places that in the
    world, but relative to the vehicle an object 5 m ahead is 5 m ahead."""
    tf, truth, _ahead = world
    msg = _track((5.0, 0.0), STAMPS[1])
    msg.header.frame_id = "base_link"
    assert len(WorldFrames(tf, "world", lambda m, with_ids=True: m.objects)(msg)) == 0
    f = WorldFrames(tf, "world", lambda m, with_ids=True: m.objects, odometry_transforms(truth))(msg)
    np.testing.assert_allclose(f.centers[0, :2], [15.0, 0.0], atol=1e-9)


def test_base_link_velocities_are_relative_to_the_moving_vehicle():
    """A base_link track's velocity is relative to the vehicle (the node does not know its own
    motion in the world yet): relative to the truth vehicle, driving at 10 m/s along +x and turning
    at 0.2 rad/s, a parked car 5 m to its left that the node sees coming at -10 m/s and drifting
    (the frame's turn) scores as standing still."""
    w, v = 0.2, 10.0
    truth = [_odom((v * t / 1e9, 0.0), w * t / 1e9, t) for t in STAMPS]
    msg = _track((0.0, 5.0), STAMPS[0])
    v_rel = (np.zeros(2) - [v, 0.0]) - w * np.array([-5.0, 0.0])  # R'(V - v_e) - w (-y, x), R = I at t 0
    msg.objects.velocity[:] = v_rel
    msg.header.frame_id = "base_link"
    f = WorldFrames([], "world", lambda m, with_ids=True: m.objects, odometry_transforms(truth))(msg)
    np.testing.assert_allclose(f.centers[0, :2], [0.0, 5.0], atol=1e-9)
    np.testing.assert_allclose(f.velocity[0], [0.0, 0.0], atol=1e-9)


def test_transform_stamps_stay_exact_integer_nanoseconds():
    """Stamps of a bag recorded in 2024 (1.7e18 ns) are kept as int64: through float64 they round to
    256 ns, and two transforms 100 ns apart come back in one stamp."""
    from sensor_fusion.eval.tf import parent_transforms

    t0 = 1_717_000_000_123_456_789
    msgs = [NS(transforms=[_tf("map", "odom", (1.0, 0.0), 0.0, t0 + 100)]),
            NS(transforms=[_tf("map", "odom", (0.0, 0.0), 0.0, t0)])]  # fmt: skip
    tr = parent_transforms(msgs, "odom")
    assert tr.stamps_ns.dtype == np.int64 and tr.stamps_ns.tolist() == [t0, t0 + 100]
    np.testing.assert_allclose(tr.translation[:, 0], [0.0, 1.0])
    np.testing.assert_allclose(tr.at(t0 + 50)[0][0], 0.5)  # halfway, 50 ns in
