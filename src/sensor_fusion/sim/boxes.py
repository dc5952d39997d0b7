"""Minimal synthetic LiDAR sweeps of boxes moving at constant velocity.

Used by the integration test and the quick demo, where a static sensor watches
objects with exactly known motion. Points are sampled on the box faces that
face the sensor, plus a noisy ground disc; vectorised, no per-point Python.
The full scenario generator (sim/world.py + sim/lidar.py) ray-casts instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.classes import ObjectClass


@dataclass
class MovingBox:
    center0: tuple[float, float, float]  # at t = 0, box centre, m
    size: tuple[float, float, float]  # length, width, height, m
    velocity: tuple[float, float]  # m/s
    label: int = int(ObjectClass.CAR)

    def center_at(self, t_s: float) -> np.ndarray:
        c = np.array(self.center0, dtype=np.float64)
        c[:2] += np.array(self.velocity) * t_s
        return c

    @property
    def yaw(self) -> float:
        vx, vy = self.velocity
        return float(np.arctan2(vy, vx)) if vx or vy else 0.0


def _face_points(center, size, yaw, sensor, density, rng) -> np.ndarray:
    l, w, h = size
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    out = []
    # (normal axis, sign, extents of the two in-plane axes)
    for axis, sign in ((0, 1), (0, -1), (1, 1), (1, -1), (2, 1)):
        normal_local = np.zeros(3)
        normal_local[axis] = sign
        half = np.array([l, w, h]) / 2
        face_center_local = normal_local * half
        normal = R @ normal_local
        to_sensor = sensor - (center + R @ face_center_local)
        if normal @ to_sensor <= 0:
            continue
        others = [i for i in range(3) if i != axis]
        area = (2 * half[others[0]]) * (2 * half[others[1]])
        dist = max(np.linalg.norm(to_sensor), 1.0)
        n = int(density * area / (dist / 10.0) ** 2)
        if n <= 0:
            continue
        local = np.empty((n, 3))
        local[:, axis] = face_center_local[axis]
        for o in others:
            local[:, o] = rng.uniform(-half[o], half[o], n)
        out.append(local @ R.T + center)
    return np.concatenate(out) if out else np.zeros((0, 3))


def sweep(
    boxes: list[MovingBox],
    t_s: float,
    rng: np.random.Generator,
    sensor_height: float = 1.9,
    density: float = 120.0,
    ground_points: int = 8000,
    noise_m: float = 0.02,
) -> np.ndarray:
    """(N, 3) float32 points in the sensor frame (z = 0 at the sensor); ground at -sensor_height."""
    sensor = np.array([0.0, 0.0, sensor_height])
    parts = [_face_points(b.center_at(t_s), b.size, b.yaw, sensor, density, rng) for b in boxes]
    r = np.sqrt(rng.uniform(4.0, 50.0**2, ground_points))
    a = rng.uniform(-np.pi, np.pi, ground_points)
    ground = np.column_stack([r * np.cos(a), r * np.sin(a), np.zeros(ground_points)])
    pts = np.concatenate([*parts, ground]) if parts else ground
    pts = pts + rng.normal(0.0, noise_m, pts.shape)
    pts[:, 2] -= sensor_height
    return pts.astype(np.float32)
