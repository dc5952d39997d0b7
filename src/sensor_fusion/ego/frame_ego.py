"""The ego state each fusion frame is processed with, and what flows back to the ego filter.

:class:`EgoSource` sits between the pipeline and :class:`~.estimator.EgoEstimator`: it feeds a
frame's IMU and GPS samples, takes the pose at the frame stamp, decides where the frame's tracks
live, and hands the radar ego velocity back after detection. Per frame it returns a
:class:`FrameEgo`, a value the detectors and the pipeline read (nothing else is shared).

Feeding: the pipeline hands IMU and GNSS samples to :meth:`EgoSource.feed` as they arrive (not
with the detection frames), so the filter runs at the IMU rate and yields odometry outputs
(:class:`~.odom.EgoOutput`, the filter pose in ``map`` and the continuous ``odom`` pose) on a grid
of data time at ``odometry_rate_hz``, with or without any detection sensor. A detection frame
takes the pose at its stamp from the filter's history (it is usually behind the filter).

Tracking frame: tracks live in the fixed frame (``odom``, continuous: the filter pose shifted by
``map -> odom``, see :mod:`.odom`) once the filter knows its heading;
before that (or with no IMU at all) they live, and are labelled, in ``base_link``. A short ego
gap afterwards (late IMU, shorter than ``ego_gap_reset_s``) coasts the tracks in the fixed frame
instead of throwing them away; a longer one falls back to ``base_link``.

Extrapolation policy (one function, :func:`extrapolate`): constant world velocity and body yaw
rate from a known pose, at most ``ego_extrapolation_max_s`` (0.3 s: a 0.5 rad/s yaw rate and
1 m/s^2 of unmodelled acceleration give 0.15 rad and 4.5 cm) either way. It serves two cases:

* the frame pose, when the frame is newer than the filter (IMU late): from the newest state;
* stamps inside the frame that the filter has not reached (a radar scan matched just after the
  anchor, the end of a sweep): from the frame pose. These lie within the synchroniser's
  tolerance plus one sweep of the frame stamp (0.05 + 0.1 s by default), far inside the
  limit; beyond it the caller drops the data (:meth:`FrameEgo.T_world_base_at` returns None).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from ..core.calibration import Calibration
from ..core.geometry import invert_transform, matrix_to_quat
from ..core.stamps import NS_PER_S
from ..core.types import GnssVelocity, GpsFix, ImuSample, RadarScan, WheelOdometry
from .deskew import deskew_points
from .estimator import EgoEstimator
from .odom import EgoOutput, OdomFrame, tick_stamps
from .pose import EgoPose, pose_in
from .radar_velocity import ObjectBoxes, RadarEgoVelocityConfig, radar_ego_velocity

log = logging.getLogger(__name__)


def extrapolate(pose: EgoPose, stamp_ns: int, max_ns: int) -> np.ndarray | None:
    """T_world_base (4, 4) at ``stamp_ns`` at ``pose``'s constant world velocity and yaw rate;
    None when ``stamp_ns`` is more than ``max_ns`` from ``pose.stamp_ns``."""
    if abs(stamp_ns - pose.stamp_ns) > max_ns:
        return None
    dt = (stamp_ns - pose.stamp_ns) / NS_PER_S
    T = pose.T_world_base().copy()
    dyaw = float(pose.angular_velocity[2]) * dt
    c, s = np.cos(dyaw), np.sin(dyaw)
    T[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ T[:3, :3]
    T[:3, 3] += np.asarray(pose.velocity, dtype=np.float64) * dt
    return T


@dataclass
class FrameEgo:
    """The ego state of one fusion frame (valid while that frame is processed).

    ``frame_id``: where this frame's tracks live. ``pose``: base_link in the fixed frame at
    ``stamp_ns`` once the heading is known, else None (then detections stay in base_link and
    no odometry is published). ``coast``: a short ego gap; predict the tracks, detect nothing.
    """

    stamp_ns: int
    frame_id: str
    pose: EgoPose | None = None
    coast: bool = False
    max_extrapolation_ns: int = 0  # how far T_world_base_at may extrapolate from ``pose``
    _pose_at: Callable[[int], np.ndarray | None] | None = field(default=None, repr=False)
    _T: np.ndarray = field(init=False, repr=False)
    _T_inv: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._T = self.pose.T_world_base() if self.pose is not None else np.eye(4)
        self._T_inv = invert_transform(self._T) if self.pose is not None else np.eye(4)

    @property
    def T_world_base(self) -> np.ndarray:
        """(4, 4) base_link at ``stamp_ns`` -> ``frame_id`` (identity while tracking in base_link)."""
        return self._T

    @property
    def T_base_world(self) -> np.ndarray:
        """The inverse of :attr:`T_world_base`; ``T_base_world @ T_world_base_at(t)`` takes
        base_link at ``t`` to base_link at the frame stamp (the ego motion in between)."""
        return self._T_inv

    @property
    def pos_cov_extra(self) -> np.ndarray | None:
        """(1, 2, 2) m^2: the ego position uncertainty a detection gains in the fixed frame."""
        return self.pose.pose_cov[:2, :2][None] if self.pose is not None else None

    def T_world_base_at(self, stamp_ns: int) -> np.ndarray | None:
        """T_world_base at another stamp of this frame (a point's capture time, a radar scan):
        the filter's, else extrapolated from the frame pose (module docstring); None without
        a pose or beyond the extrapolation limit."""
        if self.pose is None:
            return None
        T = self._pose_at(stamp_ns) if self._pose_at is not None else None
        return T if T is not None else extrapolate(self.pose, stamp_ns, self.max_extrapolation_ns)


class EgoSource:
    """Ego glue of the pipeline: one :class:`FrameEgo` per frame, the radar ego velocity back.

    ``new_estimator`` builds the filter (None: no IMU, tracking stays in ``base_link``); it is
    called again for the throwaway copy :meth:`warm_up` compiles on. ``radar_velocity``: the
    radar ego-velocity settings, None to feed none back.
    """

    def __init__(
        self,
        new_estimator: Callable[[], EgoEstimator] | None,
        fixed_frame: str,
        base_frame: str,
        calibration: Calibration,
        radar_velocity: RadarEgoVelocityConfig | None = None,
        *,
        max_extrapolation_ns: int,
        gap_coast_ns: int,
        T_base_wheel: np.ndarray | None = None,
        odometry_period_ns: int = NS_PER_S // 30,
        jump_threshold_ns: int = NS_PER_S,
    ):
        self._new_estimator = new_estimator
        self.odometry_period_ns = int(odometry_period_ns)
        self.jump_threshold_ns = int(jump_threshold_ns)
        # odom is not integrated across a gap the tracks would not coast through either
        self.odom = OdomFrame(max_gap_ns=gap_coast_ns)
        self._last_tick_ns: int | None = None  # stamp of the last odometry output
        self._aligned_since_ns: int | None = None  # filter time when the heading was first known
        self._resets_seen = 0
        self.max_extrapolation_ns = max_extrapolation_ns  # constant-twist extrapolation limit
        self.gap_coast_ns = gap_coast_ns  # shorter ego gaps coast the tracks, longer ones reset them
        self.estimator = new_estimator() if new_estimator is not None else None
        self.fixed_frame = fixed_frame
        self.base_frame = base_frame
        self.calibration = calibration
        # radar Doppler on the static world measures the ego velocity (what IMU + GPS observe worst)
        self.radar_velocity = radar_velocity if self.estimator is not None else None
        self._rv_rng = np.random.default_rng(0)  # RANSAC draws: deterministic offline runs
        self.radar_velocity_none = 0  # scans without a static-world consensus
        self.radar_velocity_used = 0  # scans whose estimate went to the filter
        self._last_aligned_ns: int | None = None  # stamp of the last frame with a known heading
        self._T_base_wheel = np.eye(4) if T_base_wheel is None else np.asarray(T_base_wheel, np.float64)

    def reset(self, stamp_ns: int | None = None) -> None:
        """Forget the filter state (a time jump, back or forward, to ``stamp_ns``). A filter already
        on the new timeline (it saw the jump in its own IMU stream, :meth:`feed`) is kept."""
        est = self.estimator
        t = getattr(est, "stamp_ns", None)
        if est is not None and (stamp_ns is None or t is None or abs(t - stamp_ns) > self.jump_threshold_ns):
            est.reset()
            self._restart_outputs()
        self._last_aligned_ns = None

    def _restart_outputs(self) -> None:
        self.odom.reset()
        self._last_tick_ns = None
        self._aligned_since_ns = None

    def feed(self, items: Iterable[tuple[str, ImuSample | GpsFix]]) -> list[EgoOutput]:
        """Feed ``(kind, sample)`` pairs (kind ``imu``, ``gps``, ``wheel_odom`` or ``gps_velocity``)
        in arrival order; returns the
        odometry outputs whose grid stamps the filter passed (none before the heading is known)."""
        est = self.estimator
        outs: list[EgoOutput] = []
        if est is None:
            return outs
        for kind, item in items:
            if kind == "imu":
                est.add_imu(item)
            elif kind == "gps":
                est.add_gps(item)
            elif kind == "wheel_odom":
                v, cov = self.wheel_to_base(item)
                est.add_wheel_odometry(item.stamp_ns, v, cov)
            elif kind == "gps_velocity":
                est.add_gnss_velocity(item.stamp_ns, item.velocity, item.covariance)
            else:
                continue
            outs += self._ticks()
        return outs

    def _ticks(self) -> list[EgoOutput]:
        """Odometry outputs up to the filter time; restarts them after a filter reset."""
        est = self.estimator
        resets = int(getattr(est, "counters", {}).get("resets", 0))
        if resets != self._resets_seen:  # time jump or long IMU gap: the filter starts over
            self._resets_seen = resets
            self._restart_outputs()
        t = est.stamp_ns
        if t is None or not est.yaw_aligned:
            self._aligned_since_ns = None
            return []
        if self._aligned_since_ns is None:
            self._aligned_since_ns = t
        stamps = tick_stamps(self._last_tick_ns, t, self.odometry_period_ns)
        outs = []
        for tick in stamps:
            self._last_tick_ns = tick
            if tick < self._aligned_since_ns:
                continue
            pose = est.pose_at(tick)
            if pose is not None:
                outs.append(self.odom.update(pose))
        return outs

    def _aligned_at(self, stamp: int) -> bool:
        est = self.estimator
        since = self._aligned_since_ns
        return bool(est.yaw_aligned) and (since is None or stamp >= since)

    def frame(
        self,
        stamp: int,
        imu: Iterable[ImuSample],
        gps: Iterable[GpsFix],
        tracking_frame: str,
        wheel: Iterable[WheelOdometry] = (),
        gnss_velocity: Iterable[GnssVelocity] = (),
    ) -> FrameEgo:
        """Return a frame's ego state at ``stamp`` (ns), the pose in ``odom``, after feeding the given
        samples (the pipeline feeds every ego input through :meth:`feed` in arrival order and passes
        none here); ``tracking_frame`` is where the tracks live now (the tracker's frame)."""
        est = self.estimator
        if est is None:
            return FrameEgo(stamp, self.base_frame)
        for s in imu:
            est.add_imu(s)
        for g in gps:
            est.add_gps(g)
        for w in wheel:
            v, cov = self.wheel_to_base(w)
            est.add_wheel_odometry(w.stamp_ns, v, cov)
        for g in gnss_velocity:
            est.add_gnss_velocity(g.stamp_ns, g.velocity, g.covariance)
        pose = est.pose_at(stamp)
        if pose is None:  # frame newer than the filter (IMU late): extrapolate briefly
            latest = est.latest()
            T = extrapolate(latest, stamp, self.max_extrapolation_ns) if latest is not None else None
            if T is not None:
                q = matrix_to_quat(T[:3, :3])
                pose = replace(latest, stamp_ns=stamp, position=T[:3, 3].copy(), quaternion=q)
        if pose is not None and self._aligned_at(stamp):
            self._last_aligned_ns = stamp
            # map -> odom at the frame stamp, constant within the frame: its poses move into odom
            T_odom_map = np.linalg.inv(self.odom.offset_at(pose))
            pose = pose_in(pose, T_odom_map)

            def pose_at(t: int) -> np.ndarray | None:
                T = est.T_world_base_at(t)
                return None if T is None else T_odom_map @ T

            return FrameEgo(stamp, self.fixed_frame, pose, False, self.max_extrapolation_ns, _pose_at=pose_at)
        last = self._last_aligned_ns
        coast = (
            tracking_frame == self.fixed_frame and last is not None and 0 <= stamp - last < self.gap_coast_ns
        )
        return FrameEgo(stamp, self.fixed_frame if coast else self.base_frame, coast=coast)

    def wheel_to_base(self, w: WheelOdometry) -> tuple[np.ndarray, np.ndarray]:
        """The wheel twist as the velocity of base_link's origin in base_link axes:
        ``v_b = R v + (R w) x (-t)`` for the twist frame at ``(R, t)`` in base_link; its
        covariance ``R C R'`` (NaN stays NaN: unknown)."""
        T = self._T_base_wheel
        R, t = T[:3, :3], T[:3, 3]
        v = R @ np.asarray(w.velocity, dtype=np.float64)
        if t.any():
            v = v - np.cross(R @ np.asarray(w.angular_velocity, dtype=np.float64), t)
        C = np.asarray(w.covariance, dtype=np.float64)
        return v, (C if np.array_equal(R, np.eye(3)) else R @ C @ R.T)

    def add_radar_velocity(self, scans: Iterable[RadarScan], objects: ObjectBoxes | None) -> None:
        """Ego velocity from each scan's static returns, fused at the scan's stamp (rollback).

        After detection: ``objects`` (base_link boxes of this frame's object detectors, None if
        none ran) are not the static world. The estimate serves the next frames.
        """
        rv, est = self.radar_velocity, self.estimator
        if rv is None:
            return
        for scan in scans:
            latest = est.latest()
            if latest is None or not self.calibration.has_frame(scan.frame_id) or len(scan) == 0:
                continue
            if rv.exclude_objects and objects is None:
                self.radar_velocity_none += 1  # no detector ran: objects cannot be told from the world
                continue
            T = self.calibration.T_base_from(scan.frame_id)
            yaw_rate = float(latest.angular_velocity[2])
            res = radar_ego_velocity(
                scan.xyz,
                scan.radial_velocity,
                T,
                yaw_rate,
                rv,
                self._rv_rng,
                objects if rv.exclude_objects else None,
            )
            if res is None:
                self.radar_velocity_none += 1
                continue
            v, cov = res
            C = np.full((3, 3), np.nan)
            C[:2, :2] = cov
            self.radar_velocity_used += 1
            est.add_body_velocity(scan.stamp_ns, np.array([v[0], v[1], np.nan]), C)

    def diagnostics(self) -> dict[str, int] | None:
        """The filter's counters and the radar ego-velocity counts; None without a filter."""
        if self.estimator is None:
            return None
        out = dict(getattr(self.estimator, "counters", {}))
        if self.radar_velocity is not None:
            out["radar_velocity_scans_used"] = self.radar_velocity_used
            out["radar_velocity_scans_without_estimate"] = self.radar_velocity_none
        return out

    def warm_up(self) -> None:
        """Compile (or load) the filter's and the deskew's numba kernels on a throwaway filter."""
        if self._new_estimator is None:
            return
        ego = self._new_estimator()
        lat, lon, alt = ego.config.datum if ego.config.has_datum else (48.0, 11.0, 500.0)
        t = 1_000_000_000
        g = np.array([0.0, 0.0, 9.80665])
        for k in range(60):
            ego.add_imu(ImuSample(t + k * 10_000_000, "imu_link", np.zeros(3), g))
            if k == 5:
                ego.add_gps(GpsFix(t + k * 10_000_000, "gps_link", lat, lon, alt, np.eye(3)))
        pose = ego.pose_at(t + 500_000_000)
        if pose is not None:
            xyz = np.zeros((16, 3), np.float32)
            deskew_points(
                xyz,
                np.linspace(0, 0.1, 16, dtype=np.float32),
                t,
                np.eye(4),
                lambda ts: pose.T_world_base(),
                t,
            )
