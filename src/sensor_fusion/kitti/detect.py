"""The classical LiDAR detector on KITTI velodyne sweeps: ``sensor-fusion detect-kitti``.

Why: real sweeps are where the detector's defaults are judged (issue 13), and KITTI's layout is
what such sweeps come in. Two layouts are read:

* object benchmark: ``velodyne/<frame>.bin`` with ``calib/<frame>.txt`` (or one calib file);
  results ``<out>/<frame>.txt``, one box a line in KITTI's object result format (``type truncated
  occluded alpha x1 y1 x2 y2 h w l x y z rotation_y score``);
* tracking benchmark: ``velodyne/<seq>/<frame:06d>.bin`` with ``calib/<seq>.txt``; results
  ``<out>/<seq>.txt`` in label_02 format with a score and track id -1, which ``track-kitti``
  reads as detections.

Each ``.bin`` is float32 ``x y z reflectance`` in KITTI's LiDAR frame (x forward, y left, z up,
level). The detector wants base_link with the ground near z = 0, so the sweep is lifted by the
sensor's height (``--sensor-height``, KITTI's HDL-64E: 1.73 m) and the LiDAR origin is put there.
Each sweep is judged alone (no pose: the structure memory gives nothing). Boxes are kept where
they project into image 2, as KITTI labels only there (``--all`` keeps every box, its 2D box then
clipped or -1). A malformed sweep, or one without a usable calibration, is logged and skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .coords import BoxFrame, kitti_rows
from .formats import KittiCalib, KittiObjects, format_rows, read_calib, write_tracking_file

log = logging.getLogger(__name__)

KITTI_LIDAR_HEIGHT_M = 1.73  # HDL-64E above the road (Geiger et al. 2013, the sensor setup)


@dataclass
class DetectSummary:
    sweeps: int = 0
    skipped: int = 0  # malformed or unreadable files
    boxes: int = 0  # written
    detect_s: float = 0.0  # detector time, all sweeps


def load_velodyne(path: Path) -> np.ndarray | None:
    """(N, 3) float32 points of a KITTI ``.bin`` (x y z reflectance), non-finite rows dropped;
    None (and one warning) when the file is not a whole number of 16-byte points."""
    try:
        raw = np.fromfile(path, np.float32)
    except OSError as exc:
        log.warning("%s: unreadable (%s); skipped", path, exc)
        return None
    if raw.size % 4:
        log.warning("%s: %d floats, not x y z reflectance rows; skipped", path, raw.size)
        return None
    xyz = raw.reshape(-1, 4)[:, :3]
    return np.ascontiguousarray(xyz[np.isfinite(xyz).all(axis=1)])


def lidar_detector(params_file: str | Path | None, sensor_origin: tuple[float, float, float]):
    """The classical LiDAR detector of a parameters file (default: the package's fusion.yaml), its
    LiDAR at ``sensor_origin`` in base_link (where the file leaves it to the calibration)."""
    from ..config import default_share_dir, from_flat, load_params_file
    from ..perception.lidar import LidarDetector

    p = Path(params_file) if params_file else default_share_dir() / "config" / "fusion.yaml"
    cfg = from_flat(load_params_file(p)).detector
    return LidarDetector(cfg.with_sensor_origin(tuple(float(v) for v in sensor_origin)))


def _read_calib_or_none(path: Path) -> KittiCalib | None:
    """``path``'s calibration; None (and one warning) when unreadable."""
    try:
        return read_calib(path)
    except (OSError, ValueError) as exc:
        log.warning("no usable calibration (%s); its sweeps skipped", exc)
        return None


def detect_sweep(
    det, xyz: np.ndarray, frame: int, calib: KittiCalib, sensor_height_m: float, image_size, keep_all: bool
) -> KittiObjects:
    """One sweep's boxes as KITTI rows (track id -1) of ``frame``."""
    lifted = xyz + np.array([0.0, 0.0, sensor_height_m], np.float32)
    d = det.detect(lifted, int(frame) * 100_000_000, "base_link")
    centers = d.centers - np.array([0.0, 0.0, sensor_height_m])
    ids = np.full(len(d), -1)
    box_frame = BoxFrame.velodyne(calib)
    return kitti_rows(
        frame, ids, d.labels, box_frame, centers, d.sizes, d.yaw, calib, image_size, d.scores, keep_all
    )[0]


def detect_directory(
    velodyne: str | Path,
    calib: str | Path,
    out: str | Path,
    params_file: str | Path | None = None,
    sensor_height_m: float = KITTI_LIDAR_HEIGHT_M,
    image_size: tuple[int, int] = (1242, 375),
    keep_all: bool = False,
) -> DetectSummary:
    """Detect on every sweep under ``velodyne`` (either layout, module docstring) and write the
    results under ``out``."""
    velodyne, calib, out = Path(velodyne), Path(calib), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    det = lidar_detector(params_file, (0.0, 0.0, sensor_height_m))
    det.warm_up()
    s = DetectSummary()
    calibs: dict[Path, KittiCalib | None] = {}  # read once each (one shared file, or one a sweep)

    def calib_for(name: str) -> KittiCalib | None:
        path = calib / f"{name}.txt" if calib.is_dir() else calib
        if path not in calibs:
            calibs[path] = _read_calib_or_none(path)
        return calibs[path]

    def run(path: Path, frame: int, cal: KittiCalib | None) -> KittiObjects | None:
        xyz = None if cal is None else load_velodyne(path)
        if xyz is None:
            s.skipped += 1
            return None
        t0 = time.perf_counter()
        rows = detect_sweep(det, xyz, frame, cal, sensor_height_m, image_size, keep_all)
        s.detect_s += time.perf_counter() - t0
        s.sweeps += 1
        s.boxes += len(rows)
        return rows

    flat = sorted(velodyne.glob("*.bin"))
    if flat:  # object benchmark: one result file per sweep
        for path in flat:
            rows = run(path, 0, calib_for(path.stem))
            if rows is not None:
                text = "\n".join(line.split(" ", 2)[2] for line in format_rows(rows))
                (out / f"{path.stem}.txt").write_text(text + "\n" if text else "")
        return s
    for seq_dir in sorted(p for p in velodyne.iterdir() if p.is_dir()):  # tracking: one per sequence
        cal = calib_for(seq_dir.name)
        parts = []
        for path in sorted(seq_dir.glob("*.bin")):
            rows = run(path, int(path.stem) if path.stem.isdigit() else len(parts), cal)
            if rows is not None:
                parts.append(rows)
        write_tracking_file(out / f"{seq_dir.name}.txt", KittiObjects.concat(parts))
    return s
