"""Sensor data and object containers as structure-of-arrays.

Point data is float32, filter state float64 (DESIGN.md). Containers are plain
dataclasses over numpy arrays so they cross process, bag and ROS boundaries
without per-element Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def _empty(shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


# Optional per-row attributes a radar detector sets on Detections (see perception/radar.py):
# line of sight (N, 2), radial speed (N,), its variance (N,), radial-only flag (N,)
DOPPLER_ATTRS = ("los", "radial", "radial_var", "radial_only")
# Optional per-row attributes any detector may set: ``time_offset_s`` (N,), the box's capture time
# minus ``stamp_ns`` in seconds (a rotating LiDAR sees each object at its own azimuth's time)
ROW_ATTRS = (*DOPPLER_ATTRS, "time_offset_s")


@dataclass
class Detections:
    """Boxes from one detector for one frame, in ``frame_id``.

    ``velocity`` rows are NaN where the detector measured no velocity;
    ``pos_cov`` is the (x, y) position covariance the tracker uses as R.
    """

    stamp_ns: int
    frame_id: str
    centers: np.ndarray = field(default_factory=lambda: _empty((0, 3)))  # (N, 3) m
    sizes: np.ndarray = field(default_factory=lambda: _empty((0, 3)))  # (N, 3) l, w, h m
    yaw: np.ndarray = field(default_factory=lambda: _empty((0,)))  # (N,) rad
    labels: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))  # ObjectClass
    scores: np.ndarray = field(default_factory=lambda: _empty((0,)))  # (N,) [0, 1]
    velocity: np.ndarray = field(default_factory=lambda: _empty((0, 2)))  # (N, 2) m/s or NaN
    pos_cov: np.ndarray = field(default_factory=lambda: _empty((0, 2, 2)))  # (N, 2, 2) m^2
    sensors: np.ndarray = field(default_factory=lambda: _empty((0,), np.uint8))  # SENSOR_* mask
    # (N, 2, 2) covariance of ``velocity`` (m/s)^2 where a detector measures it (radar, BEV); else None
    vel_cov: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.centers.shape[0])

    @classmethod
    def empty(cls, stamp_ns: int, frame_id: str) -> Detections:
        return cls(stamp_ns=stamp_ns, frame_id=frame_id)

    def select(self, idx: np.ndarray) -> Detections:
        """Subset by boolean mask or index array (the optional row attributes too)."""
        out = Detections(
            self.stamp_ns,
            self.frame_id,
            self.centers[idx],
            self.sizes[idx],
            self.yaw[idx],
            self.labels[idx],
            self.scores[idx],
            self.velocity[idx],
            self.pos_cov[idx],
            self.sensors[idx],
            None if self.vel_cov is None else self.vel_cov[idx],
        )
        for name in ROW_ATTRS:
            v = getattr(self, name, None)
            if v is not None:
                setattr(out, name, v[idx])
        return out


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

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def centers(self) -> np.ndarray:
        return np.column_stack([self.state[:, 0], self.state[:, 1], self.z])

    @property
    def velocity(self) -> np.ndarray:
        return self.state[:, 2:4]
