"""Sensor data and object containers as structure-of-arrays.

Point data is float32, filter state float64 (docs/design.md). Containers are plain
dataclasses over numpy arrays so they cross process, bag and ROS boundaries
without per-element Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np


@dataclass
class PointCloud:
    """One LiDAR sweep in ``frame_id``; ``stamp_ns`` is the header stamp."""

    stamp_ns: int
    frame_id: str
    xyz: np.ndarray  # (N, 3) float32, metres
    intensity: np.ndarray | None = None  # (N,) float32
    # Per-point time relative to ``stamp_ns`` in seconds (float32), for deskewing.
    time_offset: np.ndarray | None = None
    ring: np.ndarray | None = None  # (N,) uint16 beam index

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


@dataclass
class RadarScan:
    """Radar detections in ``frame_id`` with radial (Doppler) velocity."""

    stamp_ns: int
    frame_id: str
    xyz: np.ndarray  # (N, 3) float32, metres
    radial_velocity: np.ndarray  # (N,) float32, m/s, positive = moving away
    rcs: np.ndarray  # (N,) float32, dBsm

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


# The largest automotive and machine-vision cameras are 8-50 MP; more is a corrupt message or
# file, not a camera (OpenCV would allocate up to 3 GB for such an image before reading a pixel).
MAX_IMAGE_PIXELS = 64_000_000
MAX_IMAGE_SIDE = 16384
# distortion vector lengths OpenCV accepts (plumb_bob 4/5, rational 8, thin prism 12, tilted 14);
# the fisheye (equidistant) model takes exactly 4
DISTORTION_SIZES = (0, 4, 5, 8, 12, 14)
FISHEYE_MODELS = ("equidistant", "fisheye")


def intrinsics_problem(width: int, height: int, K: np.ndarray, D: np.ndarray, model: str) -> str | None:
    """Why these intrinsics cannot be used (projections would raise or give NaN), or None."""
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        return f"size {width}x{height} is not in 1..{MAX_IMAGE_SIDE}"
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        return f"K must be 9 finite numbers with fx, fy > 0, got {K.ravel().tolist()}"
    if not np.array_equal(K[2], [0.0, 0.0, 1.0]):
        return f"K's last row must be [0, 0, 1], got {K[2].tolist()}"
    sizes = (4,) if model in FISHEYE_MODELS else DISTORTION_SIZES
    if D.ndim != 1 or D.size not in sizes or not np.all(np.isfinite(D)):
        return f"distortion '{model}' needs {sizes} finite coefficients, got {D.tolist()}"
    return None


@dataclass
class CameraIntrinsics:
    """Pinhole model with OpenCV (plumb_bob / rational) distortion."""

    width: int
    height: int
    K: np.ndarray  # (3, 3) float64
    D: np.ndarray  # (k,) float64, OpenCV order
    distortion_model: str = "plumb_bob"


@dataclass
class CameraFrame:
    """A decoded image; ``image`` is HxWx3 BGR uint8 (OpenCV order)."""

    stamp_ns: int
    frame_id: str
    camera: str
    image: np.ndarray
    intrinsics: CameraIntrinsics | None = None


@dataclass
class ImuSample:
    stamp_ns: int
    frame_id: str
    angular_velocity: np.ndarray  # (3,) rad/s
    linear_acceleration: np.ndarray  # (3,) m/s^2, includes gravity reaction (+9.81 z at rest)
    orientation: np.ndarray | None = None  # (4,) quaternion x, y, z, w


@dataclass
class GpsFix:
    stamp_ns: int
    frame_id: str
    latitude: float  # degrees
    longitude: float  # degrees
    altitude: float  # metres above the WGS84 ellipsoid
    covariance: np.ndarray  # (3, 3) ENU, m^2
    status: int = 0  # sensor_msgs/NavSatStatus.status; < 0 means no fix


@dataclass
class WheelOdometry:
    """The twist of a wheel-odometry message (``nav_msgs/Odometry``), in its twist frame."""

    stamp_ns: int
    frame_id: str  # the message's child_frame_id (the twist's frame)
    velocity: np.ndarray  # (3,) m/s
    angular_velocity: np.ndarray  # (3,) rad/s
    covariance: np.ndarray  # (3, 3) (m/s)^2 of velocity; NaN where unknown


@dataclass
class GnssVelocity:
    """A GNSS receiver's velocity (``geometry_msgs/TwistWithCovarianceStamped``), ENU."""

    stamp_ns: int
    frame_id: str
    velocity: np.ndarray  # (3,) m/s, east north up
    covariance: np.ndarray  # (3, 3) (m/s)^2; NaN where unknown


# How transform() moves a row (see Row.kind)
POINT, HEADING, VECTOR, COVARIANCE, FIXED = "point", "heading", "vector", "covariance", "fixed"
_REQUIRED = object()


@dataclass(frozen=True)
class Row:
    """The declaration of one per-box row of :class:`Detections`.

    ``shape`` is one box's entry (the row array is (N, *shape)); ``kind`` is what
    :meth:`Detections.transform` does with it: ``point`` R p + t, ``heading`` + the yaw of R,
    ``vector`` R2 v and ``covariance`` R2 C R2^T (R2 the planar block of R), ``fixed`` nothing.
    ``missing`` (optional rows only) is the value :meth:`Detections.concat` gives the boxes of a
    part without the row: it must mean "not measured" to every consumer.
    """

    shape: tuple[int, ...]
    dtype: type
    unit: str
    kind: str
    missing: object = _REQUIRED

    @property
    def optional(self) -> bool:
        return self.missing is not _REQUIRED


def _required(shape: tuple[int, ...], dtype: type, unit: str, kind: str):
    return field(
        default_factory=lambda: np.zeros((0, *shape), dtype=dtype),
        metadata={"row": Row(shape, dtype, unit, kind)},
    )


def _optional(shape: tuple[int, ...], dtype: type, unit: str, kind: str, missing: object):
    return field(default=None, metadata={"row": Row(shape, dtype, unit, kind, missing)})


@dataclass
class Detections:
    """Boxes from one detector (or several, after :meth:`concat`) for one frame.

    Every row is (N, ...) over the same N boxes, in ``frame_id`` at ``stamp_ns``; declared
    here with its shape, unit and meaning, and moved, subset and joined only by
    :meth:`transform`, :meth:`select` and :meth:`concat` (which read the declarations,
    :data:`DETECTION_ROWS`). Optional rows are None when no box of the set was measured so;
    :meth:`concat` gives the boxes of a part without the row the row's ``missing`` value.
    """

    stamp_ns: int
    frame_id: str
    # -- required rows
    centers: np.ndarray = _required((3,), np.float64, "m", POINT)  # box centre
    sizes: np.ndarray = _required((3,), np.float64, "m", FIXED)  # length, width, height
    yaw: np.ndarray = _required((), np.float64, "rad", HEADING)  # heading of the length axis
    labels: np.ndarray = _required((), np.int64, "ObjectClass", FIXED)
    scores: np.ndarray = _required((), np.float64, "[0, 1]", FIXED)  # detection confidence
    # ground-relative planar velocity; NaN rows where the detector measured none
    velocity: np.ndarray = _required((2,), np.float64, "m/s", VECTOR)
    # (x, y) position covariance: the tracker's measurement noise R
    pos_cov: np.ndarray = _required((2, 2), np.float64, "m^2", COVARIANCE)
    sensors: np.ndarray = _required((), np.uint8, "SENSOR_* mask", FIXED)  # which sensors saw the box
    # -- optional rows (None: not measured by this detector)
    # covariance of ``velocity`` where a detector measures it (radar, BEV); missing: 1e6 I, no
    # information: meant for NaN velocities (a detector measuring velocity declares vel_cov; the
    # tracker takes a None vel_cov as its default velocity noise)
    vel_cov: np.ndarray | None = _optional((2, 2), np.float64, "(m/s)^2", COVARIANCE, 1e6 * np.eye(2))
    # radar Doppler: the horizontal unit line of sight of the returns, in ``frame_id`` axes ...
    los: np.ndarray | None = _optional((2,), np.float64, "1", VECTOR, 0.0)
    # ... the ground-relative (ego-compensated) speed along it, positive away; NaN: none ...
    radial: np.ndarray | None = _optional((), np.float64, "m/s", FIXED, np.nan)
    # ... and its variance (inf: none)
    radial_var: np.ndarray | None = _optional((), np.float64, "(m/s)^2", FIXED, np.inf)
    # the box's ``velocity`` is only a radial fit padded with a large tangential variance
    radial_only: np.ndarray | None = _optional((), np.bool_, "bool", FIXED, False)
    # capture time of the box minus ``stamp_ns`` (a rotating LiDAR sees each object at its
    # azimuth's time); missing: captured at the stamp
    time_offset_s: np.ndarray | None = _optional((), np.float64, "s", FIXED, 0.0)

    def __len__(self) -> int:
        return int(self.centers.shape[0])

    @classmethod
    def empty(cls, stamp_ns: int, frame_id: str) -> Detections:
        return cls(stamp_ns=stamp_ns, frame_id=frame_id)

    def rows(self) -> dict[str, np.ndarray]:
        """The row arrays present (required ones and the optional ones that are not None)."""
        return {n: v for n in DETECTION_ROWS if (v := getattr(self, n)) is not None}

    def validate(self) -> None:
        """Raise ValueError unless every present row is (N, *shape) for the same N."""
        n = len(self)
        for name, v in self.rows().items():
            want = (n, *DETECTION_ROWS[name].shape)
            if np.shape(v) != want:
                raise ValueError(f"Detections.{name} must have shape {want}, got {np.shape(v)}")

    def select(self, idx: np.ndarray | slice) -> Detections:
        """The boxes ``idx`` (boolean mask, index array or slice) with all their rows."""
        return replace(self, **{n: v[idx] for n, v in self.rows().items()})

    def transform(self, T: np.ndarray, frame_id: str, pos_cov_extra: np.ndarray | None = None) -> Detections:
        """The boxes in ``frame_id``, ``T`` (4, 4) taking ``self.frame_id`` points there.

        Planar-dominant: headings turn by T's yaw and vectors and covariances by the (x, y)
        block of its rotation (exact for a rotation about z; base_link and the tracking frame
        differ by roll and pitch of a few degrees at most). ``pos_cov_extra`` (2, 2) or
        (N, 2, 2), m^2, is added to ``pos_cov`` (the uncertainty of ``T`` itself).
        """
        T = np.asarray(T, dtype=np.float64)
        R, t = T[:3, :3], T[:3, 3]
        R2 = R[:2, :2]
        dyaw = float(np.arctan2(R[1, 0], R[0, 0]))
        moved = {}
        for name, v in self.rows().items():
            kind = DETECTION_ROWS[name].kind
            if kind == POINT:
                moved[name] = v @ R.T + t
            elif kind == HEADING:
                moved[name] = v + dyaw
            elif kind == VECTOR:
                moved[name] = v @ R2.T
            elif kind == COVARIANCE:
                moved[name] = np.einsum("ij,njk,lk->nil", R2, v, R2)
        if pos_cov_extra is not None:
            moved["pos_cov"] = moved["pos_cov"] + pos_cov_extra
        return replace(self, frame_id=frame_id, **moved)

    @classmethod
    def concat(cls, parts: Sequence[Detections], stamp_ns: int, frame_id: str) -> Detections:
        """All boxes of ``parts`` (each in ``frame_id``) as one set at ``stamp_ns``.

        An optional row that any part has is kept, the boxes of the parts without it getting
        the row's ``missing`` value. A single part at ``stamp_ns`` is returned as it is.
        """
        for p in parts:
            if p.frame_id != frame_id:
                raise ValueError(f"Detections.concat: a part is in '{p.frame_id}', not '{frame_id}'")
        if not parts:
            return cls.empty(stamp_ns, frame_id)
        if len(parts) == 1:
            p = parts[0]
            return p if p.stamp_ns == stamp_ns else replace(p, stamp_ns=stamp_ns)
        cat = {}
        for name, row in DETECTION_ROWS.items():
            cols = [getattr(p, name) for p in parts]
            if all(c is None for c in cols):
                continue
            fill = np.asarray(row.missing, dtype=row.dtype) if row.optional else None
            cat[name] = np.concatenate(
                [
                    c if c is not None else np.broadcast_to(fill, (len(p), *row.shape))
                    for c, p in zip(cols, parts)
                ]
            )
        return cls(stamp_ns=stamp_ns, frame_id=frame_id, **cat)


# name -> declaration of every per-box row of Detections, in field order
DETECTION_ROWS: dict[str, Row] = {
    f.name: f.metadata["row"] for f in fields(Detections) if "row" in f.metadata
}


@dataclass
class Tracks:
    """Confirmed tracks at ``stamp_ns`` in the fixed frame ``frame_id``.

    ``state`` is (x, y, vx, vy) per track with ``cov`` its 4x4 covariance; z,
    size and yaw are smoothed separately (they are not part of the motion model).
    """

    stamp_ns: int
    frame_id: str
    ids: np.ndarray  # (N,) int64, stable per object
    state: np.ndarray  # (N, 4) x, y, vx, vy
    cov: np.ndarray  # (N, 4, 4)
    z: np.ndarray  # (N,) box-centre height, m
    sizes: np.ndarray  # (N, 3) l, w, h
    yaw: np.ndarray  # (N,) rad
    labels: np.ndarray  # (N,) int64
    label_probs: np.ndarray  # (N,) probability of ``labels``
    existence: np.ndarray  # (N,) [0, 1]
    age_ns: np.ndarray  # (N,) int64
    hits: np.ndarray  # (N,) int64
    sensors: np.ndarray  # (N,) uint8 SENSOR_* mask of the last update
    # (N,) bool: not updated at ``stamp_ns`` (predicted only); None: all updated (e.g. hand-built)
    coasting: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.coasting is None:
            self.coasting = np.zeros(len(self.ids), bool)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def centers(self) -> np.ndarray:
        return np.column_stack([self.state[:, 0], self.state[:, 1], self.z])

    @property
    def velocity(self) -> np.ndarray:
        return self.state[:, 2:4]
