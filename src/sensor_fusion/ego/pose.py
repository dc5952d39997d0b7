"""The ego estimator's output: pose, twist and their covariances at one stamp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.geometry import make_transform, quat_to_matrix, quat_to_yaw


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
