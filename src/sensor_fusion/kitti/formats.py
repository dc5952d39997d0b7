"""KITTI tracking text formats: label_02 rows (labels, detections, results), AB3DMOT's CSV, calib.

label_02 (one file per sequence, one object per line, whitespace-separated)::

    frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]

in the rectified camera frame (x right, y down, z forward; ``x y z`` the bottom centre of the
box; ``rotation_y`` about y, 0 when the object faces along +x), 2D box in pixels of image 2.
Truth uses ``DontCare`` rows (track id -1) for regions whose objects are not scored; detection
files use the same format with a score column and any track id; results carry the tracker's ids.

AB3DMOT distributes its PointRCNN detections as one CSV per sequence::

    frame,type,x1,y1,x2,y2,score,h,w,l,x,y,z,rotation_y,alpha

with ``type`` 1 pedestrian, 2 car, 3 cyclist (a name is accepted too) and ``score`` a logit.

Malformed lines are logged as ``file:line: reason`` and skipped; reading never raises on content.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..core.classes import ObjectClass

log = logging.getLogger(__name__)

# KITTI object types -> ObjectClass, and back (BUS and TRAILER have no KITTI type: Misc)
TYPE_TO_CLASS = {
    "car": ObjectClass.CAR,
    "van": ObjectClass.CAR,
    "truck": ObjectClass.TRUCK,
    "pedestrian": ObjectClass.PEDESTRIAN,
    "person_sitting": ObjectClass.PEDESTRIAN,
    "person": ObjectClass.PEDESTRIAN,
    "cyclist": ObjectClass.BICYCLE,
    "tram": ObjectClass.BUS,
    "misc": ObjectClass.UNKNOWN,
}
CLASS_TO_TYPE = {
    ObjectClass.UNKNOWN: "Misc",
    ObjectClass.CAR: "Car",
    ObjectClass.TRUCK: "Truck",
    ObjectClass.BUS: "Misc",
    ObjectClass.TRAILER: "Misc",
    ObjectClass.MOTORCYCLE: "Cyclist",
    ObjectClass.BICYCLE: "Cyclist",
    ObjectClass.PEDESTRIAN: "Pedestrian",
}
AB3DMOT_TYPES = {1: "Pedestrian", 2: "Car", 3: "Cyclist"}
DONT_CARE = "DontCare"


@dataclass
class KittiObjects:
    """Rows of one sequence file as arrays (structure of arrays)."""

    frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    track_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    type: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # KITTI type names
    truncated: np.ndarray = field(default_factory=lambda: np.zeros(0))
    occluded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    box2d: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # x1 y1 x2 y2, px
    dims: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # h w l, m
    loc: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # bottom centre, camera frame, m
    ry: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN where the file has none

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def select(self, idx) -> KittiObjects:
        return KittiObjects(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[KittiObjects]) -> KittiObjects:
        if not parts:
            return cls()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    @property
    def labels(self) -> np.ndarray:
        """ObjectClass values (UNKNOWN for types without one, DontCare included)."""
        return np.array(
            [int(TYPE_TO_CLASS.get(str(t).lower(), ObjectClass.UNKNOWN)) for t in self.type], np.int64
        )

    @property
    def dont_care(self) -> np.ndarray:
        return np.array([str(t) == DONT_CARE for t in self.type], bool)


@dataclass
class ReadResult:
    objects: KittiObjects
    bad_lines: int  # malformed lines skipped (each logged with file:line)
    ab3dmot_rows: int  # rows in AB3DMOT's CSV format (their scores are logits)


def _floats(values: list[str]) -> list[float] | None:
    try:
        out = [float(v) for v in values]
    except ValueError:
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _parse_label(parts: list[str]) -> tuple[list, str | None]:
    if len(parts) not in (17, 18):
        return [], f"expected 17 or 18 whitespace-separated fields (label_02 format), got {len(parts)}"
    nums = _floats(parts[:2] + parts[3:])
    if nums is None:
        return [], "non-numeric or non-finite value"
    frame, tid = nums[0], nums[1]
    if frame < 0 or frame != int(frame) or tid != int(tid):
        return [], f"frame and track id must be integers, frame >= 0 (got {parts[0]}, {parts[1]})"
    v = nums[2:]  # truncated occluded alpha x1 y1 x2 y2 h w l x y z ry [score]
    score = v[14] if len(v) == 15 else math.nan
    return [
        int(frame),
        int(tid),
        parts[2],
        v[0],
        int(v[1]),
        v[2],
        v[3:7],
        v[7:10],
        v[10:13],
        v[13],
        score,
    ], None


def _parse_ab3dmot(parts: list[str]) -> tuple[list, str | None]:
    if len(parts) != 15:
        return [], f"expected 15 comma-separated fields (AB3DMOT CSV), got {len(parts)}"
    t = parts[1].strip()
    if t.lstrip("-").isdigit():
        if int(t) not in AB3DMOT_TYPES:
            return [], f"unknown AB3DMOT type id {t} (1 pedestrian, 2 car, 3 cyclist)"
        t = AB3DMOT_TYPES[int(t)]
    nums = _floats([parts[0], *parts[2:]])
    if nums is None:
        return [], "non-numeric or non-finite value"
    frame = nums[0]
    if frame < 0 or frame != int(frame):
        return [], f"frame must be an integer >= 0, got {parts[0]}"
    x1, y1, x2, y2, score, h, w, l, x, y, z, ry, alpha = nums[1:]
    return [int(frame), -1, t, -1.0, -1, alpha, [x1, y1, x2, y2], [h, w, l], [x, y, z], ry, score], None


def read_tracking_file(path: str | Path) -> ReadResult:
    """Rows of a label_02-format file (labels, detections with a score, results) or an AB3DMOT CSV."""
    path = Path(path)
    rows: list[list] = []
    bad = n_csv = 0
    with open(path, errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if "," in s:
                row, err = _parse_ab3dmot([p.strip() for p in s.split(",")])
                n_csv += err is None
            else:
                row, err = _parse_label(s.split())
            if err is None:
                dims = row[7]
                if any(d < 0 for d in dims) and row[2] != DONT_CARE:
                    err = f"negative box dimension {dims}"
            if err is not None:
                bad += 1
                log.warning("%s:%d: %s; line skipped", path, lineno, err)
                continue
            rows.append(row)
    n = len(rows)
    cols = list(zip(*rows)) if rows else [()] * 11
    objs = KittiObjects(
        frame=np.array(cols[0], np.int64).reshape(n),
        track_id=np.array(cols[1], np.int64).reshape(n),
        type=np.array(cols[2], object).reshape(n),
        truncated=np.array(cols[3], np.float64).reshape(n),
        occluded=np.array(cols[4], np.int64).reshape(n),
        alpha=np.array(cols[5], np.float64).reshape(n),
        box2d=np.array(cols[6], np.float64).reshape(n, 4),
        dims=np.array(cols[7], np.float64).reshape(n, 3),
        loc=np.array(cols[8], np.float64).reshape(n, 3),
        ry=np.array(cols[9], np.float64).reshape(n),
        score=np.array(cols[10], np.float64).reshape(n),
    )
    return ReadResult(objs, bad, n_csv)


def format_rows(o: KittiObjects, with_score: bool = True) -> list[str]:
    """label_02 lines (3D values with 4 decimals, 0.1 mm: exact enough to round-trip a box)."""
    lines = []
    for i in range(len(o)):
        b, d, p = o.box2d[i], o.dims[i], o.loc[i]
        trunc = o.truncated[i]
        t = f"{int(trunc)}" if trunc == int(trunc) else f"{trunc:.2f}"
        s = (
            f"{int(o.frame[i])} {int(o.track_id[i])} {o.type[i]} {t} {int(o.occluded[i])} {o.alpha[i]:.6f} "
            f"{b[0]:.2f} {b[1]:.2f} {b[2]:.2f} {b[3]:.2f} {d[0]:.4f} {d[1]:.4f} {d[2]:.4f} "
            f"{p[0]:.4f} {p[1]:.4f} {p[2]:.4f} {o.ry[i]:.6f}"
        )
        if with_score:
            s += f" {o.score[i]:.6f}"
        lines.append(s)
    return lines


def write_tracking_file(path: str | Path, objects: KittiObjects, with_score: bool = True) -> None:
    """Write rows sorted by frame (stable), one file per sequence."""
    order = np.argsort(objects.frame, kind="stable")
    text = "\n".join(format_rows(objects.select(order), with_score))
    Path(path).write_text(text + "\n" if text else "")


@dataclass
class KittiCalib:
    """A sequence's calibration: ``P2`` (3, 4) projects rectified camera points into image 2."""

    P2: np.ndarray
    R0_rect: np.ndarray = field(default_factory=lambda: np.eye(3))
    Tr_velo_to_cam: np.ndarray = field(default_factory=lambda: np.eye(4)[:3])
    Tr_imu_to_velo: np.ndarray = field(default_factory=lambda: np.eye(4)[:3])

    def T_rect_from_velo(self) -> np.ndarray:
        R0 = np.eye(4)
        R0[:3, :3] = self.R0_rect
        return R0 @ np.vstack([self.Tr_velo_to_cam, [0.0, 0.0, 0.0, 1.0]])


# KITTI's tracking calib files spell the keys R_rect, Tr_velo_cam, Tr_imu_velo; its object files
# R0_rect, Tr_velo_to_cam, Tr_imu_to_velo (with a colon after each key). Both are read.
_CALIB_ALIASES = {"R_rect": "R0_rect", "Tr_velo_cam": "Tr_velo_to_cam", "Tr_imu_velo": "Tr_imu_to_velo"}
_CALIB_SIZES = {
    "P0": 12,
    "P1": 12,
    "P2": 12,
    "P3": 12,
    "R0_rect": 9,
    "Tr_velo_to_cam": 12,
    "Tr_imu_to_velo": 12,
}


def read_calib(path: str | Path) -> KittiCalib:
    """A KITTI calib file; raises ``ValueError`` naming the file when P2 is missing or malformed."""
    path = Path(path)
    vals: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        key, _, rest = line.replace(":", " ", 1).partition(" ")
        key = _CALIB_ALIASES.get(key.strip(), key.strip())
        if key not in _CALIB_SIZES:
            continue
        nums = _floats(rest.split())
        if nums is None or len(nums) != _CALIB_SIZES[key]:
            log.warning(
                "%s:%d: %s needs %d finite numbers; line skipped", path, lineno, key, _CALIB_SIZES[key]
            )
            continue
        vals[key] = np.array(nums)
    if "P2" not in vals:
        raise ValueError(f"{path}: no valid P2 line")
    return KittiCalib(
        P2=vals["P2"].reshape(3, 4),
        R0_rect=vals.get("R0_rect", np.eye(3).ravel()).reshape(3, 3),
        Tr_velo_to_cam=vals.get("Tr_velo_to_cam", np.eye(4)[:3].ravel()).reshape(3, 4),
        Tr_imu_to_velo=vals.get("Tr_imu_to_velo", np.eye(4)[:3].ravel()).reshape(3, 4),
    )


def write_calib(path: str | Path, calib: KittiCalib) -> None:
    """KITTI calib text (object-benchmark key names, P0-P3 all P2: one camera)."""

    def row(m: np.ndarray) -> str:
        return " ".join(f"{v:.12e}" for v in np.asarray(m).ravel())

    lines = [f"P{k}: {row(calib.P2)}" for k in range(4)]
    lines += [
        f"R0_rect: {row(calib.R0_rect)}",
        f"Tr_velo_to_cam: {row(calib.Tr_velo_to_cam)}",
        f"Tr_imu_to_velo: {row(calib.Tr_imu_to_velo)}",
    ]
    Path(path).write_text("\n".join(lines) + "\n")


def sequence_files(directory: str | Path) -> dict[str, Path]:
    """Sequence name -> file for ``*.txt`` and ``*.csv`` in a directory (KITTI: ``0000.txt``)."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: not a directory")
    out = {p.stem: p for p in sorted(d.iterdir()) if p.suffix in (".txt", ".csv") and p.is_file()}
    return dict(sorted(out.items()))
