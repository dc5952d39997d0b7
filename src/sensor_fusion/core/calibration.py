"""Extrinsics and intrinsics loaded from the calibration YAML (config/calibration.yaml).

Each sensor frame has a parent (``base_link`` or another sensor frame), a
translation in metres and ``rotation_rpy`` in radians (R = Rz Ry Rx, as tf).
Camera frames are optical frames (z forward, x right, y down, REP-103 ``_optical``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .geometry import make_transform, rpy_to_matrix
from .types import CameraIntrinsics


class CalibrationError(ValueError):
    pass


@dataclass
class Calibration:
    base_frame: str = "base_link"
    # frame -> (parent, 4x4 T_parent_frame)
    frames: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    intrinsics: dict[str, CameraIntrinsics] = field(default_factory=dict)

    def T_base_from(self, frame: str) -> np.ndarray:
        """Transform taking points in ``frame`` to the base frame."""
        T = np.eye(4)
        seen = set()
        while frame != self.base_frame:
            if frame not in self.frames:
                raise CalibrationError(f"frame '{frame}' has no calibration to '{self.base_frame}'")
            if frame in seen:
                raise CalibrationError(f"calibration has a cycle through '{frame}'")
            seen.add(frame)
            parent, T_pf = self.frames[frame]
            T = T_pf @ T
            frame = parent
        return T

    def has_frame(self, frame: str) -> bool:
        try:
            self.T_base_from(frame)
        except CalibrationError:
            return False
        return True

    def to_dict(self) -> dict:
        from .geometry import matrix_to_rpy

        sensors = {}
        for name, (parent, T) in self.frames.items():
            entry = {
                "parent": parent,
                "translation": [float(v) for v in T[:3, 3]],
                "rotation_rpy": [float(v) for v in matrix_to_rpy(T[:3, :3])],
            }
            if name in self.intrinsics:
                ci = self.intrinsics[name]
                entry["intrinsics"] = {
                    "width": ci.width,
                    "height": ci.height,
                    "K": [float(v) for v in ci.K.ravel()],
                    "D": [float(v) for v in ci.D.ravel()],
                    "distortion_model": ci.distortion_model,
                }
            sensors[name] = entry
        return {"base_frame": self.base_frame, "sensors": sensors}


def _vec(entry: dict, key: str, n: int, name: str) -> np.ndarray:
    v = np.asarray(entry.get(key, [0.0] * n), dtype=np.float64).ravel()
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise CalibrationError(f"sensor '{name}': '{key}' must be {n} finite numbers, got {entry.get(key)!r}")
    return v


def calibration_from_dict(data: dict) -> Calibration:
    if not isinstance(data, dict) or "sensors" not in data:
        raise CalibrationError("calibration must be a mapping with a 'sensors' key")
    cal = Calibration(base_frame=str(data.get("base_frame", "base_link")))
    for name, entry in (data["sensors"] or {}).items():
        if not isinstance(entry, dict):
            raise CalibrationError(f"sensor '{name}': entry must be a mapping")
        t = _vec(entry, "translation", 3, name)
        rpy = _vec(entry, "rotation_rpy", 3, name)
        cal.frames[str(name)] = (
            str(entry.get("parent", cal.base_frame)),
            make_transform(rpy_to_matrix(*rpy), t),
        )
        intr = entry.get("intrinsics")
        if intr is not None:
            K = np.asarray(intr.get("K"), dtype=np.float64)
            if K.size != 9 or not np.all(np.isfinite(K)) or K.ravel()[0] <= 0 or K.ravel()[4] <= 0:
                raise CalibrationError(f"camera '{name}': K must be 9 finite numbers with fx, fy > 0")
            D = np.asarray(intr.get("D", [0.0] * 5), dtype=np.float64).ravel()
            w, h = int(intr.get("width", 0)), int(intr.get("height", 0))
            if w <= 0 or h <= 0:
                raise CalibrationError(f"camera '{name}': width and height must be positive")
            cal.intrinsics[str(name)] = CameraIntrinsics(
                w, h, K.reshape(3, 3), D, str(intr.get("distortion_model", "plumb_bob"))
            )
    for name in cal.frames:
        cal.T_base_from(name)  # raises on unknown parents or cycles
    return cal


def load_calibration(path: str | Path) -> Calibration:
    with open(path) as f:
        return calibration_from_dict(yaml.safe_load(f))
