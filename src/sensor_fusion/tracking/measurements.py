"""Detections as the tracker's filter sees them: validated once, optional rows resolved to masks.

Bad input is dropped here, at the boundary, with one log line per frame (non-finite position or
score, a position covariance that is not positive definite, an unknown label, a detection frame
other than the tracker's), so the step downstream is plain batched maths with no NaN checks.
Optional measurements (velocity, Doppler radial speed, size, yaw, z, capture-time offset) become
boolean ``has_*`` masks with zeros or NaN where not measured, and the per-sensor trust flags are
looked up per row, so the step never reasons about which sensor a row came from.

:func:`at_capture_time` is the position measurement model of a box captured after the frame stamp
(a rotating LiDAR sees each object at its azimuth's time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from sensor_fusion.core.classes import NUM_CLASSES
from sensor_fusion.core.types import Detections
from sensor_fusion.tracking import kalman
from sensor_fusion.tracking.config import TrackerConfig

__all__ = ["MAX_CAPTURE_OFFSET_S", "Measurements", "at_capture_time", "max_std_2x2", "spd_2x2", "validate"]

log = logging.getLogger(__name__)

MAX_CAPTURE_OFFSET_S = 0.5  # |Detections.time_offset_s| beyond this is treated as 0 (not a sweep)


@dataclass
class Measurements:
    """Detections after validation (row j of every field is detection j)."""

    xy: np.ndarray  # (D, 2)
    R: np.ndarray  # (D, 2, 2)
    vel: np.ndarray  # (D, 2), valid where has_vel (0 elsewhere)
    vel_R: np.ndarray  # (D, 2, 2) velocity covariance, valid where has_vel
    has_vel: np.ndarray  # (D,) bool
    radial: np.ndarray  # (D,) ground-relative radial speed along los, valid where has_radial
    los: np.ndarray  # (D, 2) unit line of sight in the fixed frame
    radial_var: np.ndarray  # (D,) m^2/s^2
    has_radial: np.ndarray  # (D,) bool (False where has_vel: the full velocity wins)
    z: np.ndarray  # (D,) NaN where not measured
    sizes: np.ndarray  # (D, 3), valid where has_size
    has_size: np.ndarray  # (D,) bool
    yaw: np.ndarray  # (D,) NaN where not measured
    labels: np.ndarray  # (D,) int64
    scores: np.ndarray  # (D,) probabilities (logit scores mapped per score_map)
    high: np.ndarray  # (D,) bool: score >= score_high (first association stage; may start tracks)
    sensors: np.ndarray  # (D,) uint8
    trust_class: np.ndarray  # (D,) bool
    trust_size: np.ndarray  # (D,) bool
    trust_yaw: np.ndarray  # (D,) bool
    may_spawn: np.ndarray  # (D,) bool
    dt: np.ndarray  # (D,) capture time - frame stamp, s (0 where not given)
    origin: np.ndarray  # (D, 2) the detecting sensor's position in the tracking frame (NaN: unknown)

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def take(self, idx: np.ndarray) -> Measurements:
        """Rows ``idx`` (boolean mask or indices) of every field."""
        return Measurements(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def at_capture_time(H: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``H`` (m, n) whose first two rows measure (x, y), per row for measurements taken ``dt`` (K,)
    after the state's time: the position rows gain ``dt`` on (vx, vy). ``H`` itself if all dt are 0."""
    if not dt.any():
        return H
    out = np.broadcast_to(H, (len(dt), *H.shape)).copy()
    out[:, 0, 2] = out[:, 1, 3] = dt
    return out


def max_std_2x2(C: np.ndarray) -> np.ndarray:
    """Square root of the largest eigenvalue of symmetric 2x2 matrices (K, 2, 2)."""
    a, b, c = C[:, 0, 0], C[:, 0, 1], C[:, 1, 1]
    return np.sqrt(np.maximum(0.5 * (a + c) + np.hypot(0.5 * (a - c), b), 0.0))


def spd_2x2(C: np.ndarray) -> np.ndarray:
    """(K,) mask of finite, symmetric positive-definite 2x2 matrices."""
    with np.errstate(invalid="ignore"):
        det = C[:, 0, 0] * C[:, 1, 1] - C[:, 0, 1] * C[:, 1, 0]
        return np.isfinite(C).all(axis=(1, 2)) & (C[:, 0, 0] > 0.0) & (det > 0.0)


def validate(
    d: Detections,
    config: TrackerConfig,
    trust: dict[str, np.ndarray] | None = None,
    warned_frames: set[str] | None = None,
) -> Measurements:
    """Drop unusable detection rows (logged); mark optional fields as measured or not.

    ``trust`` is ``config.trust_tables()`` (pass it to avoid rebuilding it each frame);
    ``warned_frames`` collects the foreign frames already warned about, so a detector stuck
    in the wrong frame logs one warning, not one per frame. Rows from sensors whose
    ``may_update`` is false are dropped silently (configured off, not bad input). Malformed
    arrays (wrong shapes) raise ``ValueError``: that is a caller's bug, not bad data.

    Besides the :class:`Detections` fields, optional attributes are read when present:

    * ``vel_cov`` (N, 2, 2): covariance of ``velocity`` (else ``velocity_meas_std_mps^2 I``);
      a row that is not finite positive definite makes that row's velocity unused;
    * ``radial`` (N,): ground-relative (ego-compensated) radial speed, m/s, positive
      away from the sensor, NaN where not measured, with ``los`` (N, 2) the line of
      sight in the tracker's frame (normalised here) and optionally ``radial_var`` (N,)
      its variance (else ``velocity_meas_std_mps^2``). Used where ``velocity`` is not;
    * ``radial_only`` (N,) bool: rows whose ``velocity`` is only a radial fit padded with
      a large tangential variance (the radar detector's fallback); where such a row also
      has a valid ``radial``, the exact Doppler update replaces the velocity update
      (repeated "tangential speed 0 +- sigma" pseudo-measurements would bias the track);
    * ``time_offset_s`` (N,): capture time minus the frame stamp (used when
      ``use_capture_time``; NaN or beyond :data:`MAX_CAPTURE_OFFSET_S` reads as 0).
    """
    c = config
    tr = c.trust_tables() if trust is None else trust
    warned = set() if warned_frames is None else warned_frames
    vel_var = float(c.velocity_meas_std_mps) ** 2
    n = len(d)
    shapes = {
        "sizes": (n, 3),
        "yaw": (n,),
        "labels": (n,),
        "scores": (n,),
        "velocity": (n, 2),
        "pos_cov": (n, 2, 2),
        "sensors": (n,),
    }
    if d.centers.ndim != 2 or d.centers.shape[1] < 2:
        raise ValueError(f"Detections.centers must be (N, 3), got {d.centers.shape}")
    for name, shape in shapes.items():
        if np.shape(getattr(d, name)) != shape:
            raise ValueError(f"Detections.{name} must have shape {shape}, got {np.shape(getattr(d, name))}")
    optional = {
        "vel_cov": (n, 2, 2),
        "radial": (n,),
        "los": (n, 2),
        "radial_var": (n,),
        "radial_only": (n,),
        "time_offset_s": (n,),
    }
    extra = {name: getattr(d, name, None) for name in optional}
    if extra["radial"] is not None and extra["los"] is None:
        raise ValueError("Detections.radial needs Detections.los (N, 2), the line of sight")
    for name, shape in optional.items():
        if extra[name] is not None and np.shape(extra[name]) != shape:
            raise ValueError(f"Detections.{name} must have shape {shape}, got {np.shape(extra[name])}")
    if d.frame_id and d.frame_id != c.frame_id:
        level = logging.DEBUG if d.frame_id in warned else logging.WARNING
        warned.add(d.frame_id)
        log.log(
            level,
            "tracker: dropping detections in frame %r (tracker frame is %r; warned once per frame)",
            d.frame_id,
            c.frame_id,
        )
        n = 0
        d = d.select(np.zeros(len(d), bool))
        extra = dict.fromkeys(extra)

    xy = np.asarray(d.centers[:, :2], dtype=np.float64)
    R = kalman.symmetrize(np.asarray(d.pos_cov, dtype=np.float64))
    scores = np.asarray(d.scores, dtype=np.float64)
    labels = np.asarray(d.labels).astype(np.int64, copy=False)
    with np.errstate(invalid="ignore"):
        good = (
            np.isfinite(xy).all(axis=1)
            & spd_2x2(R)
            & np.isfinite(scores)
            & (labels >= 0)
            & (labels < NUM_CLASSES)
        )
    if not good.all():
        log.warning(
            "tracker: dropped %d of %d detections with non-finite position/score, "
            "non positive-definite pos_cov or unknown label",
            int(n - good.sum()),
            n,
        )
    mask = np.asarray(d.sensors).astype(np.uint8) & 15
    good &= tr["may_update"][mask]  # sensors configured off: ignored silently
    if tr["score_logit"].any():  # detectors that report logits: to probabilities
        lg = tr["score_logit"][mask]
        with np.errstate(over="ignore", invalid="ignore"):
            scores = np.where(lg, 1.0 / (1.0 + np.exp(-scores)), scores)
    # an unranked score (a heuristic that does not rank real boxes above false ones) drops nothing
    # and bars no box from starting a track; the stage order stays (a weak box is the likelier
    # fragment of a neighbour, as for ranked scores)
    unranked = tr["score_unranked"][mask]
    with np.errstate(invalid="ignore"):
        good &= ~(scores < c.score_low) | unranked  # below the lowest useful score: dropped (silent)
    mask = mask[good]
    k = int(good.sum())

    vel = np.asarray(d.velocity, dtype=np.float64)[good]
    has_vel = np.isfinite(vel).all(axis=1)
    if extra["vel_cov"] is not None:
        vel_R = kalman.symmetrize(np.asarray(extra["vel_cov"], dtype=np.float64)[good])
        bad = has_vel & ~spd_2x2(vel_R)
        if bad.any():
            log.warning("tracker: ignored %d velocities with a bad vel_cov", int(bad.sum()))
            has_vel &= ~bad
        vel_R = np.where(has_vel[:, None, None], vel_R, 0.0)
    else:
        vel_R = np.broadcast_to(vel_var * np.eye(2), (k, 2, 2))
    if extra["radial"] is not None:
        radial = np.asarray(extra["radial"], dtype=np.float64)[good]
        los = np.asarray(extra["los"], dtype=np.float64)[good]
        norm = np.hypot(los[:, 0], los[:, 1])
        rvar = (
            np.full(k, vel_var)
            if extra["radial_var"] is None
            else np.asarray(extra["radial_var"], dtype=np.float64)[good]
        )
        with np.errstate(invalid="ignore"):
            has_radial = (
                np.isfinite(radial) & np.isfinite(norm) & (norm > 1e-9) & np.isfinite(rvar) & (rvar > 0.0)
            )
        if extra["radial_only"] is not None:  # a radial-only velocity: use the radial speed itself
            has_vel &= ~(np.asarray(extra["radial_only"], dtype=bool)[good] & has_radial)
        has_radial &= ~has_vel
        los = np.where(has_radial[:, None], los / np.where(has_radial, norm, 1.0)[:, None], 0.0)
        radial = np.where(has_radial, radial, 0.0)
        rvar = np.where(has_radial, rvar, 1.0)
    else:
        has_radial = np.zeros(k, bool)
        radial, los, rvar = np.zeros(k), np.zeros((k, 2)), np.ones(k)

    vel = np.where(has_vel[:, None], vel, 0.0)
    scores = np.clip(scores[good], 0.0, 1.0)
    high = scores >= c.score_high
    may_spawn = tr["spawn_plain"][mask]
    need_vel = tr["spawn_velocity"][mask] & ~may_spawn & has_vel
    if need_vel.any():  # e.g. radar: only a well-measured, clearly non-zero velocity starts a track
        may_spawn = may_spawn | (
            need_vel
            & (max_std_2x2(vel_R) <= c.spawn_max_velocity_std_mps)
            & (np.hypot(vel[:, 0], vel[:, 1]) >= c.spawn_min_speed_mps)
        )
    may_spawn &= high | unranked[good]  # a low-score box only extends a track (ByteTrack, SimpleTrack)
    sizes = np.asarray(d.sizes, dtype=np.float64)[good]
    z = np.asarray(d.centers[good, 2], dtype=np.float64) if d.centers.shape[1] > 2 else np.full(k, np.nan)
    yaw = np.asarray(d.yaw, dtype=np.float64)[good]
    has_size = np.isfinite(sizes).all(axis=1) & (sizes > 0.0).all(axis=1)
    dt = np.zeros(k)
    if extra["time_offset_s"] is not None and c.use_capture_time:
        dt = np.asarray(extra["time_offset_s"], dtype=np.float64)[good]
        # a sweep is ~0.1 s: anything past MAX_CAPTURE_OFFSET_S (or NaN) is not trusted
        dt = np.where(np.isfinite(dt) & (np.abs(dt) <= MAX_CAPTURE_OFFSET_S), dt, 0.0)
    return Measurements(
        xy=xy[good],
        R=R[good],
        vel=vel,
        vel_R=vel_R,
        has_vel=has_vel,
        radial=radial,
        los=los,
        radial_var=rvar,
        has_radial=has_radial,
        z=z,
        sizes=np.where(has_size[:, None], sizes, 0.0),
        has_size=has_size,
        yaw=yaw,
        labels=labels[good],
        scores=scores,
        high=high,
        sensors=np.asarray(d.sensors)[good].astype(np.uint8),
        trust_class=tr["trust_class"][mask],
        trust_size=tr["trust_size"][mask],
        trust_yaw=tr["trust_yaw"][mask],
        may_spawn=may_spawn,
        dt=dt,
        origin=np.full((k, 2), np.nan),
    )
