"""A tiny fake world for the sensor tests (flat ground, constant-velocity ego and boxes): it stands in
for sim/world.py so those tests pin the sensors' own maths."""

from __future__ import annotations

import numpy as np

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import make_transform, rpy_to_matrix
from sensor_fusion.core.types import CameraIntrinsics
from sensor_fusion.sim.state import ActorStates, EgoState

T_BASE_LIDAR = make_transform(np.eye(3), np.array([1.0, 0.0, 1.9]))
T_BASE_CAM = make_transform(rpy_to_matrix(-np.pi / 2, 0.0, -np.pi / 2), np.array([1.6, 0.0, 1.5]))
INTR = CameraIntrinsics(
    640, 384, np.array([[400.0, 0, 320], [0, 400, 192], [0, 0, 1]]), np.array([-0.05, 0.01, 0.0, 0.0, 0.0])
)
LIDAR_CFG = {
    "beams": 31,
    "vfov_deg": [-15.0, 15.0],  # 1 deg steps, ring 15 horizontal
    "rate_hz": 10.0,
    "azimuth_resolution_deg": 0.5,
    "max_range_m": 100.0,
    "range_noise_std_m": 0.0,
    "dropout_prob": 0.0,
}


class FlatGround:
    """Asphalt for |y| < 6 m with a 0.3 m marking at y = 0, off-road elsewhere."""

    def ground_class(self, xy: np.ndarray) -> np.ndarray:
        y = np.asarray(xy)[:, 1]
        out = np.where(np.abs(y) < 6.0, 1, 0).astype(np.uint8)
        out[np.abs(y) < 0.15] = 2
        return out


class FakeWorld:
    """Constant-velocity ego (from the origin at t = 0) and constant-velocity boxes."""

    def __init__(
        self, boxes: list[dict], ego_velocity=(0.0, 0.0), ego_yaw: float = 0.0, yaw_rate: float = 0.0
    ):
        self.ground = FlatGround()
        self.boxes = boxes
        self.v = np.array([*ego_velocity, 0.0])
        self.yaw0 = ego_yaw
        self.yaw_rate = yaw_rate

    def ego_at(self, stamp_ns: int) -> EgoState:
        t = stamp_ns * 1e-9
        return EgoState(
            stamp_ns,
            self.v * t,
            self.yaw0 + self.yaw_rate * t,
            self.v.copy(),
            self.yaw_rate,
            np.zeros(3),
            float(np.linalg.norm(self.v)),
        )

    def actors_at(self, stamp_ns: int) -> ActorStates:
        t = stamp_ns * 1e-9
        n = len(self.boxes)
        vel = np.array([[*b.get("velocity", (0.0, 0.0)), 0.0] for b in self.boxes]).reshape(n, 3)
        return ActorStates(
            ids=np.array([b["id"] for b in self.boxes], np.int64),
            labels=np.array([int(b.get("label", ObjectClass.UNKNOWN)) for b in self.boxes], np.int64),
            centers=np.array([b["center"] for b in self.boxes], np.float64).reshape(n, 3) + vel * t,
            sizes=np.array([b["size"] for b in self.boxes], np.float64).reshape(n, 3),
            yaw=np.array([b.get("yaw", 0.0) for b in self.boxes], np.float64),
            velocity=vel,
            yaw_rate=np.zeros(n),
        )


def box(id_: int, center, size, yaw: float = 0.0, label=ObjectClass.UNKNOWN, velocity=(0.0, 0.0)) -> dict:
    return {"id": id_, "center": center, "size": size, "yaw": yaw, "label": label, "velocity": velocity}
