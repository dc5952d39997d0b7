"""What the BEV network sees of one fusion frame, built by the pipeline at the anchor stamp.

Training data (:mod:`.dataset`) and live inference take these from the same pipeline code,
so the network is trained on exactly the deskewed, ego-compensated inputs it will get.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.types import CameraFrame, RadarScan


@dataclass
class BevInputs:
    stamp_ns: int
    # LiDAR points in base_link at the anchor stamp (deskewed when the ego pose is known)
    lidar_xyz: np.ndarray | None = None
    lidar_intensity: np.ndarray | None = None
    # radar returns in base_link at the anchor stamp; Doppler ego-compensated (ground-relative
    # radial speed, positive away) along the horizontal unit line of sight ``radar_los``
    radar_xyz: np.ndarray | None = None
    radar_doppler: np.ndarray | None = None
    radar_los: np.ndarray | None = None
    radar_rcs: np.ndarray | None = None
    cameras: dict[str, CameraFrame] = field(default_factory=dict)
    ego_known: bool = False

    @property
    def has_lidar(self) -> bool:
        return self.lidar_xyz is not None

    @property
    def has_radar(self) -> bool:
        return self.radar_xyz is not None


def radar_to_anchor(
    scans: list[tuple[RadarScan, np.ndarray, np.ndarray]],
    v_base: np.ndarray,
    yaw_rate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack radar scans into anchor-time base_link with ego-compensated Doppler.

    ``scans``: (scan, T_base_radar, T_anchor_scan) where ``T_anchor_scan`` moves base_link at the
    scan's stamp to base_link at the anchor stamp. ``v_base``, ``yaw_rate``: ego twist in
    base_link. The radar moves with ``v_R = v + w x t`` (yaw-rate lever arm), so a static point
    reads ``-v_R . u``; adding ``v_R . u`` back leaves the target's ground-relative radial speed.
    """
    xyz, dop, los, rcs = [], [], [], []
    for scan, T_br, T_as in scans:
        if len(scan) == 0:
            continue
        x = np.asarray(scan.xyz, np.float64)
        rng = np.linalg.norm(x, axis=1)
        ok = np.isfinite(x).all(axis=1) & np.isfinite(scan.radial_velocity) & (rng > 1e-3)
        ok &= np.isfinite(scan.rcs)
        x, rng = x[ok], rng[ok]
        R, t = T_br[:3, :3], T_br[:3, 3]
        u = (x @ R.T) / rng[:, None]  # unit LOS in base axes
        v_r = np.array([v_base[0] - yaw_rate * t[1], v_base[1] + yaw_rate * t[0], v_base[2]])
        d = np.asarray(scan.radial_velocity, np.float64)[ok] + u @ v_r
        p = x @ R.T + t
        p = p @ T_as[:3, :3].T + T_as[:3, 3]
        uh = u[:, :2] @ T_as[:2, :2].T
        n = np.linalg.norm(uh, axis=1, keepdims=True)
        xyz.append(p)
        dop.append(d)
        los.append(uh / np.maximum(n, 1e-6))
        rcs.append(np.asarray(scan.rcs, np.float64)[ok])
    if not xyz:
        return (
            np.zeros((0, 3), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 2), np.float32),
            np.zeros(0),
        )
    return (
        np.concatenate(xyz).astype(np.float32),
        np.concatenate(dop).astype(np.float32),
        np.concatenate(los).astype(np.float32),
        np.concatenate(rcs).astype(np.float32),
    )
