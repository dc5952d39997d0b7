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
from ..core.geometry import rpy_to_matrix
from .lidar import GROUND_REFLECTIVITY, LidarConfig
from .shapes import BODY_REFLECTIVITY


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


def scan_intensity(
    xyz: np.ndarray,
    sensor_height: float = 1.9,
    box_reflectivity: float = BODY_REFLECTIVITY,
    ground_reflectivity: float = float(GROUND_REFLECTIVITY[1]),  # asphalt
) -> np.ndarray:
    """(N,) float32 intensity, 0..255 as Velodyne drivers publish, for points in the sensor frame
    over flat ground at ``-sensor_height`` (:func:`sweep`, :func:`spinning_sweep`).

    The generator's model (``sim.lidar``): reflectivity x (0.5 + 0.5 cos incidence), with its car
    body paint (``shapes.BODY_REFLECTIVITY``, 0.45) and asphalt (``lidar.GROUND_REFLECTIVITY``,
    0.08). On the flat ground cos incidence is the sensor height over the range; on the boxes,
    whose faces are seen at every angle, it is taken as its mean 0.5 (factor 0.75); the lowest
    10 cm of a box side count as ground. Why: the BEV network was
    trained on clouds with intensity, and a cloud without it (read as zeros) is an input it never
    saw; tests of what the node does with the network's boxes give it both.
    """
    rng_m = np.maximum(np.linalg.norm(xyz, axis=1), 1e-3)
    ground = xyz[:, 2] < 0.1 - sensor_height  # the ground plane, with 2 cm range noise
    factor = np.where(ground, 0.5 + 0.5 * np.minimum(sensor_height / rng_m, 1.0), 0.75)
    refl = np.where(ground, ground_reflectivity, box_reflectivity)
    return (255.0 * refl * factor).astype(np.float32)


def spinning_scan(
    boxes,
    *,
    sensor_height_m: float = 1.8,
    ground: tuple[float, float, float] = (0.0, 0.0, 0.0),
    n_beams: int = 64,
    n_cols: int = 1800,
    elev_deg: tuple[float, float] = (-25.0, 5.0),
    noise_m: float = 0.02,
    max_range_m: float = 100.0,
    seed: int = 0,
) -> np.ndarray:
    """Points a spinning LiDAR at (0, 0, ``sensor_height_m``) returns: the first hit per beam.

    ``boxes`` are rows (cx, cy, length, width, height, yaw) standing on the ground plane
    z = a*x + b*y + c given by ``ground``, or (..., yaw, bottom) with their bottom that high over it
    (a body over its clearance); range noise is Gaussian. Numpy over rays, a loop over the few
    boxes: detector tests and benchmarks, where the scene must be exactly known.
    """
    a, b, c = ground
    el = np.radians(np.linspace(*elev_deg, n_beams))
    az = np.arange(n_cols) * (2.0 * np.pi / n_cols)
    el, az = np.meshgrid(el, az, indexing="ij")
    d = np.column_stack(
        [(np.cos(el) * np.cos(az)).ravel(), (np.cos(el) * np.sin(az)).ravel(), np.sin(el).ravel()]
    )
    o = np.array([0.0, 0.0, sensor_height_m])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_best = (c - o[2]) / (d[:, 2] - a * d[:, 0] - b * d[:, 1])
        t_best[~(t_best > 0)] = np.inf
        for row in boxes:
            cx, cy, l, w, h, yaw = row[:6]
            bottom = row[6] if len(row) > 6 else 0.0
            centre = np.array([cx, cy, a * cx + b * cy + c + bottom + 0.5 * h])
            R = rpy_to_matrix(0.0, 0.0, yaw)
            ob = R.T @ (o - centre)
            db = d @ R  # rows are R.T @ d
            half = np.array([l, w, h]) / 2.0
            t1 = (-half - ob) / db
            t2 = (half - ob) / db
            tmin = np.minimum(t1, t2).max(axis=1)
            tmax = np.maximum(t1, t2).min(axis=1)
            hit = (tmax >= tmin) & (tmin > 0)
            t_best = np.where(hit & (tmin < t_best), tmin, t_best)
    keep = t_best < max_range_m
    t = t_best[keep] + np.random.default_rng(seed).normal(0.0, noise_m, keep.sum())
    return (o + t[:, None] * d[keep]).astype(np.float32)


def spinning_sweep(
    boxes: list[MovingBox], t_s: float, sensor_height: float = 1.9, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float32 points in the sensor frame (z = 0 at the sensor) and their intensity (N,)
    for ``boxes`` at ``t_s``: :func:`spinning_scan` with the generator's default LiDAR geometry
    (``sim.lidar.LidarConfig``: 64 beams over -25..+15 degrees, 0.2 degrees apart) and
    :func:`scan_intensity`.

    Why beside :func:`sweep`: that one scatters points over the faces at a fixed density and the
    ground uniformly, which a learned detector never saw; this one is what a spinning sensor returns.
    """
    rows = [(*b.center_at(t_s)[:2], *b.size, b.yaw) for b in boxes]
    c = LidarConfig()  # the generator's default sensor
    n_cols = round(360.0 / c.azimuth_resolution_deg)
    xyz = spinning_scan(
        rows, sensor_height_m=sensor_height, n_beams=c.beams, n_cols=n_cols, elev_deg=c.vfov_deg, seed=seed
    )
    xyz[:, 2] -= sensor_height
    return xyz, scan_intensity(xyz, sensor_height)
