"""World state shared by the scenario world and the simulated sensors.

All poses are in the world frame, which the recorder publishes as ``odom``
(and ``map``, identical): x east, y north, z up, ground at z = 0 (or the terrain's height on graded,
crowned roads: ``terrain.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class EgoState:
    stamp_ns: int
    position: np.ndarray  # (3,) base_link origin in world, m (z = 0 on flat ground)
    yaw: float  # rad, heading of base_link x axis
    velocity: np.ndarray  # (3,) world-frame velocity of base_link origin, m/s
    yaw_rate: float  # rad/s
    accel_body: np.ndarray  # (3,) base_link-frame linear acceleration (no gravity), m/s^2
    speed: float  # m/s along heading
    orientation: np.ndarray | None = None  # (4,) x, y, z, w world <- base_link when not planar (slopes)


@dataclass
class ActorStates:
    """All actors at one instant; boxes are centred (z is the box centre)."""

    ids: np.ndarray  # (N,) int64, stable across time
    labels: np.ndarray  # (N,) int64, ObjectClass
    centers: np.ndarray  # (N, 3) m
    sizes: np.ndarray  # (N, 3) length, width, height, m
    yaw: np.ndarray  # (N,) rad
    velocity: np.ndarray  # (N, 3) m/s
    yaw_rate: np.ndarray  # (N,) rad/s

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class GroundMap(Protocol):
    """What the ground looks like, for rendering and LiDAR intensity."""

    def ground_class(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world points -> (N,) uint8: 0 off-road, 1 asphalt, 2 lane marking."""
        ...


def ego_transform(ego: EgoState) -> np.ndarray:
    """(4, 4) world <- base_link: the planar pose, or the 3D attitude on graded roads and slopes."""
    from ..core.geometry import pose2d_to_transform

    x, y, z = (float(v) for v in ego.position)
    if ego.orientation is None:
        return pose2d_to_transform(x, y, float(ego.yaw), z)
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(np.asarray(ego.orientation, np.float64)).as_matrix()
    T[:3, 3] = (x, y, z)
    return T


def scenario_seconds(world: object, stamp_ns: int) -> float:
    """Seconds since the world's start (``t0_ns``; 0 for a world without one) at ``stamp_ns``: the
    clock of gaits, wind and other motion that the sensors evaluate at their own stamps."""
    return (int(stamp_ns) - int(getattr(world, "t0_ns", 0))) * 1e-9


class WorldView(Protocol):
    """A deterministic world that sensors can query at any stamp."""

    ground: GroundMap

    def ego_at(self, stamp_ns: int) -> EgoState: ...

    def actors_at(self, stamp_ns: int) -> ActorStates: ...
