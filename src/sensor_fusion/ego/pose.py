"""The ego estimator's output: pose, twist and their covariances at one stamp, from the
filter state or interpolated between two snapshots of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.geometry import make_transform, matrix_to_quat, quat_to_matrix, quat_to_yaw
from ..core.stamps import NS_PER_S
from . import eskf
from ._kernels import interp_pose, pose_covariances
from .state import FilterState

__all__ = ["EgoPose", "pose_between", "pose_of", "transform_between"]


@dataclass
class EgoPose:
    """State of ``base_link`` in the world (ENU, the ``odom``/``map`` frame) at ``stamp_ns``.

    ``pose_cov`` is over (x, y, z, roll, pitch, yaw) like geometry_msgs
    PoseWithCovariance (roll/pitch/yaw about the tf ZYX axes). ``twist_cov`` is
    over (``velocity`` in the *world* frame, ``angular_velocity`` in the body
    frame), matching the fields here; rotate the linear block by R' for an
    Odometry twist in ``base_link``.
    """

    stamp_ns: int
    position: np.ndarray  # (3,) m, ENU
    quaternion: np.ndarray  # (4,) x, y, z, w; base -> world
    velocity: np.ndarray  # (3,) m/s, world
    angular_velocity: np.ndarray  # (3,) rad/s, body
    pose_cov: np.ndarray  # (6, 6)
    twist_cov: np.ndarray  # (6, 6)

    def T_world_base(self) -> np.ndarray:
        """(4, 4) transform taking base_link points to the world frame."""
        return make_transform(quat_to_matrix(self.quaternion), self.position)

    @property
    def yaw(self) -> float:
        return float(quat_to_yaw(self.quaternion))

    @property
    def velocity_body(self) -> np.ndarray:
        """Velocity in base_link (forward, left, up), m/s."""
        return quat_to_matrix(self.quaternion).T @ self.velocity


def pose_of(s: FilterState, gyro_noise_rad_s_sqrt_hz: float, t_extrap_ns: int | None = None) -> EgoPose:
    """The pose of state ``s``, or extrapolated from it to ``t_extrap_ns`` (constant velocity
    and body rate); covariances those of ``s``."""
    pose_cov, twist_cov = pose_covariances(s.P, s.q, s.gyro_sample_var(gyro_noise_rad_s_sqrt_hz))
    w = s.w_meas - s.bg
    p, q, t = s.p, s.q, s.t_ns
    if t_extrap_ns is not None:
        dt = (t_extrap_ns - s.t_ns) / NS_PER_S
        p = p + s.v * dt
        q = eskf.quat_mul(q, eskf.quat_exp(w * dt))
        t = t_extrap_ns
    return EgoPose(t, p.copy(), q.copy(), s.v.copy(), w, pose_cov, twist_cov)


def pose_between(a: FilterState, b: FilterState, t: int, gyro_noise_rad_s_sqrt_hz: float) -> EgoPose:
    """The pose at ``t`` between snapshots ``a`` and ``b``: Hermite position, geodesic
    orientation, linear velocity and rate; covariances of the earlier snapshot."""
    f = (t - a.t_ns) / (b.t_ns - a.t_ns)
    p, q, _ = interp_pose(a.p, a.v, a.q, b.p, b.v, b.q, (b.t_ns - a.t_ns) / NS_PER_S, f)
    v = (1.0 - f) * a.v + f * b.v
    w = (1.0 - f) * (a.w_meas - a.bg) + f * (b.w_meas - b.bg)
    pose_cov, twist_cov = pose_covariances(a.P, a.q, a.gyro_sample_var(gyro_noise_rad_s_sqrt_hz))
    return EgoPose(t, p, q, v, w, pose_cov, twist_cov)


def transform_between(a: FilterState, b: FilterState | None, t: int) -> np.ndarray:
    """(4, 4) T_world_base at ``t`` as :func:`pose_between` (``b`` None: ``a`` itself), without
    covariances (the deskew fast path)."""
    if b is None:
        T = np.eye(4)
        T[:3, :3] = eskf.quat_to_rot(a.q)
        T[:3, 3] = a.p
        return T
    return interp_pose(
        a.p, a.v, a.q, b.p, b.v, b.q, (b.t_ns - a.t_ns) / NS_PER_S, (t - a.t_ns) / (b.t_ns - a.t_ns)
    )[2]


def pose_in(pose: EgoPose, T_new_world: np.ndarray) -> EgoPose:
    """``pose`` expressed in another fixed frame (``T_new_world`` (4, 4) takes world points to it,
    e.g. ``odom <- map``): position, orientation and world velocity move; the position and
    velocity covariance blocks turn with it (body rates and their covariance stay)."""
    R = np.asarray(T_new_world, dtype=np.float64)[:3, :3]
    J = np.eye(6)
    J[:3, :3] = R
    return EgoPose(
        pose.stamp_ns,
        R @ pose.position + T_new_world[:3, 3],
        matrix_to_quat(R @ quat_to_matrix(pose.quaternion)),
        R @ pose.velocity,
        pose.angular_velocity,
        J @ pose.pose_cov @ J.T,
        J @ pose.twist_cov @ J.T,
    )
