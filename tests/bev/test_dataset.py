"""bev/dataset.py: which LiDAR points count as inside a truth box."""

from __future__ import annotations

import numpy as np

from sensor_fusion.bev.dataset import count_in_boxes


def test_count_in_boxes_ignores_ground_under_the_box():
    pts = np.array([[0.0, 0.0, 0.05], [0.0, 0.0, 1.0], [2.1, 0.0, 1.0], [0.0, 1.5, 1.0]])
    n = count_in_boxes(pts, np.array([[0.0, 0.0, 0.75]]), np.array([[4.0, 2.0, 1.5]]), np.array([0.0]), 0.2)
    assert list(n) == [1]


def _odom(stamp_ns: int, xyz, q):
    from nav_msgs.msg import Odometry

    m = Odometry()
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z = (float(v) for v in xyz)
    o = m.pose.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    return m


def test_truth_in_base_follows_the_ego_up_a_grade():
    """On a graded road the ego stands 1.5 m up and pitches 3 deg nose up, rolled 1 deg: a car 30 m
    ahead lands where R^T (c - p) puts it (the LiDAR's points of it), not at its world height; on
    the plane the transform is the planar one, unchanged."""
    from scipy.spatial.transform import Rotation

    from sensor_fusion.bev.dataset import truth_in_base
    from sensor_fusion.eval.bags import odometry_poses
    from sensor_fusion.eval.frames import FrameObjects
    from sensor_fusion.eval.tf import tilted_pose_at

    yaw, pitch, roll = 0.4, -np.radians(3.0), np.radians(1.0)
    R = Rotation.from_euler("ZYX", [yaw, pitch, roll]).as_matrix()
    p = np.array([10.0, -4.0, 1.5])
    q = Rotation.from_matrix(R).as_quat()
    stamps = [0, 20_000_000]
    msgs = [_odom(t, p, q) for t in stamps]
    car = p + R @ np.array([30.0, 2.0, 0.0]) + [0.0, 0.0, 0.75]  # on the grade ahead, box centre 0.75 m up
    f = FrameObjects(
        stamp_ns=10_000_000,
        ids=np.array([1]),
        labels=np.array([1]),
        centers=car[None],
        sizes=np.array([[4.5, 1.8, 1.5]]),
        yaw=np.array([yaw]),
        velocity=np.zeros((1, 2)),
        scores=np.ones(1),
    )
    poses = odometry_poses(msgs)
    tb = truth_in_base([f], np.array([f.stamp_ns]), poses, 10_000_000, tilted_pose_at(msgs))
    np.testing.assert_allclose(tb.centers[0], R.T @ (car - p), atol=1e-9)
    planar = truth_in_base([f], np.array([f.stamp_ns]), poses, 10_000_000)
    assert abs(planar.centers[0, 2] - tb.centers[0, 2]) > 1.0, (
        "the planar transform is right here: proves nothing"
    )

    flat = [_odom(t, [10.0, -4.0, 0.0], Rotation.from_euler("Z", yaw).as_quat()) for t in stamps]
    assert tilted_pose_at(flat) is None
