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
from .types import CameraIntrinsics, intrinsics_problem


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


# Sensors sit on the vehicle: a translation beyond this is a unit or typing error, and
# rotation_rpy is radians, so an angle beyond one turn is most likely degrees.
MAX_TRANSLATION_M = 1000.0
MAX_ANGLE_RAD = 2.0 * np.pi


def _floats(value, what: str) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise CalibrationError(f"{what} must be numbers, got {value!r}") from exc
    if not np.all(np.isfinite(v)):
        raise CalibrationError(f"{what} must be finite, got {value!r}")
    return v


def _vec(entry: dict, key: str, n: int, name: str, limit: float) -> np.ndarray:
    v = _floats(entry.get(key, [0.0] * n), f"sensor '{name}': '{key}'").ravel()
    if v.shape != (n,) or np.abs(v).max() > limit:
        raise CalibrationError(
            f"sensor '{name}': '{key}' must be {n} finite numbers within +-{limit:g}, got {entry.get(key)!r}"
        )
    return v


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise CalibrationError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _intrinsics(name: str, intr) -> CameraIntrinsics:
    if not isinstance(intr, dict):
        raise CalibrationError(f"camera '{name}': intrinsics must be a mapping")
    K = _floats(intr.get("K"), f"camera '{name}': K")
    if K.size != 9:
        raise CalibrationError(f"camera '{name}': K must be 9 finite numbers with fx, fy > 0")
    D = _floats(intr.get("D", [0.0] * 5), f"camera '{name}': D").ravel()
    w = _int(intr.get("width", 0), f"camera '{name}': width")
    h = _int(intr.get("height", 0), f"camera '{name}': height")
    model = intr.get("distortion_model", "plumb_bob")
    if not isinstance(model, str):
        raise CalibrationError(f"camera '{name}': distortion_model must be a string, got {model!r}")
    problem = intrinsics_problem(w, h, K.reshape(3, 3), D, model)
    if problem:
        raise CalibrationError(f"camera '{name}': {problem}")
    return CameraIntrinsics(w, h, K.reshape(3, 3), D, model)


def calibration_from_dict(data: dict) -> Calibration:
    """Validated calibration; any malformed entry raises CalibrationError naming it."""
    if not isinstance(data, dict) or "sensors" not in data:
        raise CalibrationError("calibration must be a mapping with a 'sensors' key")
    sensors = data["sensors"] if data["sensors"] is not None else {}  # "sensors:" with none listed
    if not isinstance(sensors, dict):
        raise CalibrationError("calibration 'sensors' must be a mapping of frame names")
    base = data.get("base_frame", "base_link")
    if not isinstance(base, str) or not base:
        raise CalibrationError(f"base_frame must be a frame name, got {base!r}")
    cal = Calibration(base_frame=base)
    for name, entry in sensors.items():
        if not isinstance(entry, dict):
            raise CalibrationError(f"sensor '{name}': entry must be a mapping")
        t = _vec(entry, "translation", 3, name, MAX_TRANSLATION_M)
        rpy = _vec(entry, "rotation_rpy", 3, name, MAX_ANGLE_RAD)
        parent = entry.get("parent", cal.base_frame)
        if not isinstance(parent, str):
            raise CalibrationError(f"sensor '{name}': parent must be a frame name, got {parent!r}")
        cal.frames[str(name)] = (parent, make_transform(rpy_to_matrix(*rpy), t))
        if entry.get("intrinsics") is not None:
            cal.intrinsics[str(name)] = _intrinsics(str(name), entry["intrinsics"])
    for name in cal.frames:
        cal.T_base_from(name)  # raises on unknown parents or cycles
    return cal


def load_calibration(path: str | Path) -> Calibration:
    """Calibration from a YAML file (safe loader: plain data only); CalibrationError if malformed."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:  # also undecodable bytes (yaml.reader.ReaderError)
        raise CalibrationError(f"{path}: not a YAML file: {exc}") from exc
    try:
        return calibration_from_dict(data)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from exc
