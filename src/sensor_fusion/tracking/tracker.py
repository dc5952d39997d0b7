"""ROS-free multi-object tracker: CV Kalman filter or CV/CT IMM, gated Hungarian, per-sensor trust.

One :meth:`Tracker.step` per fused frame:

1. predict every track to the frame stamp: one batched constant-velocity
   Kalman prediction (``motion_model: cv``) or one IMM cycle's mixing and
   model-conditioned predictions of constant velocity and coordinated turn
   (``motion_model: imm``; :mod:`~sensor_fusion.tracking.filters`);
2. drop tracks not updated for ``max_age_s``;
3. drop detections from sensors with ``may_update`` false; split the rest
   into a primary pass (everything that is not radar-only) and a secondary
   pass (detections whose ``sensors`` mask is exactly ``SENSOR_RADAR``), run in
   that order at the same stamp, each doing 4.-6.; so a radar detection of an
   object a LiDAR detection starts this frame updates the new track (gives it
   its velocity) instead of starting a duplicate;
4. associate: squared Mahalanobis distance of each detection's (x, y) to each
   predicted (x, y) with ``S = H P H' + R`` (``R`` = the detection's
   ``pos_cov``; each detection against its track at the detection's capture time
   ``stamp + time_offset_s`` where it gives one), gated per track class, plus a
   soft class-mismatch cost for class-trusted detections (or ``1 - IoU3D`` for
   the ``iou3d`` baseline; the radar pass is always Mahalanobis: radar has no
   boxes), solved by ``linear_sum_assignment``, confirmed tracks first;
5. update matched tracks (Joseph form) with (x, y), with (x, y, vx, vy) where
   the detection measured velocity (covariance ``vel_cov`` when given, else
   ``velocity_meas_std_mps``), or with (x, y, radial speed) where it carries
   only a Doppler component (optional ``radial``, ``los``, ``radial_var``
   attributes of :class:`Detections`, see :meth:`Tracker._validate`):
   :math:`h(x) = \\ell^\\top v` is linear in the Cartesian velocity, so this is
   an exact Kalman update that only informs the velocity along the line of
   sight :math:`\\ell`. Smooth z, size and yaw from detections of trusted
   sensors (untrusted ones only until a trusted one arrives); vote the class
   (untrusted sensors with ``untrusted_class_vote_weight``);
6. start tentative tracks from unmatched detections of sensors that
   ``may_spawn`` (radar: only with a well-measured velocity, by default),
   unless inside a confirmed track's gate (or, for the radar pass, the gate
   of a track updated this frame);
7. existence: log-odds up on each update (times the score), down with the
   time spent unmatched; delete below ``existence_delete``; confirm after
   ``min_hits`` updates with enough existence;
8. heading: the box yaw is flipped by pi where it points against a confident
   velocity; with the IMM it is also pulled to the velocity heading
   (every track, coasting ones included), so boxes turn with their tracks;
9. merge: two tracks whose footprints overlap (``merge_*``) for a while are one
   object tracked twice; the one a shape-trusted sensor updated last survives.

Position measurements taken ``dt = time_offset_s`` after the stamp use ``H = [I, dt I]``
(a rotating LiDAR sees each object at its azimuth's time); a radar position on a track whose
size a trusted sensor measured carries the extra variance of :meth:`Tracker._shape_slack`.

All track data lives in one structure of arrays; every stage is batched
numpy over tracks. Only confirmed tracks are returned, as (x, y, vx, vy) with
the 4x4 covariance (for the IMM, of the moment-matched mixture).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.spatial import cKDTree

from sensor_fusion.core.classes import NUM_CLASSES, SENSOR_RADAR, ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.core.types import Detections, Tracks
from sensor_fusion.tracking import kalman
from sensor_fusion.tracking.association import gated_assignment, mahalanobis_sq, mahalanobis_sq_timed
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.filters import CVFilter, IMMFilter
from sensor_fusion.tracking.iou import box_corners_bev, intersection_area_paired, iou_pairwise
from sensor_fusion.tracking.motion import ConstantVelocity

__all__ = ["Tracker", "TrackerConfig"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
MAX_CAPTURE_OFFSET_S = 0.5  # |Detections.time_offset_s| beyond this is treated as 0 (not a sweep)
# Tiny UNKNOWN prior so a track with no weighted votes reads UNKNOWN rather than argmax of zeros.
_VOTE_PRIOR = 1e-6


@dataclass
class _TrackTable:
    """All tracks as parallel arrays (row i of every field is track i, ids ascending)."""

    ids: np.ndarray  # (N,) int64
    xm: np.ndarray  # (N, M, n) model-conditioned states; [..., :4] = x, y, vx, vy
    Pm: np.ndarray  # (N, M, n, n)
    mu: np.ndarray  # (N, M) mode probabilities (M = 1: ones)
    z: np.ndarray  # (N,)
    sizes: np.ndarray  # (N, 3)
    size_known: np.ndarray  # (N,) bool: size (and z) came from a size-trusted sensor
    yaw: np.ndarray  # (N,)
    yaw_known: np.ndarray  # (N,) bool: yaw came from a yaw-trusted sensor
    votes: np.ndarray  # (N, NUM_CLASSES) score-weighted class votes
    logit: np.ndarray  # (N,) existence log-odds
    hits: np.ndarray  # (N,) int64
    birth_ns: np.ndarray  # (N,) int64
    last_update_ns: np.ndarray  # (N,) int64
    shape_ns: np.ndarray  # (N,) int64: last update by a size-trusted sensor (0: never)
    sensors: np.ndarray  # (N,) uint8
    confirmed: np.ndarray  # (N,) bool

    @classmethod
    def empty(cls, M: int, n: int) -> _TrackTable:
        return cls(
            ids=np.zeros(0, np.int64),
            xm=np.zeros((0, M, n)),
            Pm=np.zeros((0, M, n, n)),
            mu=np.zeros((0, M)),
            z=np.zeros(0),
            sizes=np.zeros((0, 3)),
            size_known=np.zeros(0, bool),
            yaw=np.zeros(0),
            yaw_known=np.zeros(0, bool),
            votes=np.zeros((0, NUM_CLASSES)),
            logit=np.zeros(0),
            hits=np.zeros(0, np.int64),
            birth_ns=np.zeros(0, np.int64),
            last_update_ns=np.zeros(0, np.int64),
            shape_ns=np.zeros(0, np.int64),
            sensors=np.zeros(0, np.uint8),
            confirmed=np.zeros(0, bool),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, idx: np.ndarray) -> _TrackTable:
        """New table of rows ``idx`` (boolean mask or indices); arrays are copies."""
        return _TrackTable(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def keep(self, mask: np.ndarray) -> _TrackTable:
        """Rows where ``mask``; ``self`` itself when nothing is dropped (the common case)."""
        return self if mask.all() else self.take(mask)

    def extend(self, other: _TrackTable) -> _TrackTable:
        return _TrackTable(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )

    def labels(self) -> np.ndarray:
        return np.argmax(self.votes, axis=1).astype(np.int64)


@dataclass
class _Meas:
    """Detections after validation, as the filter sees them."""

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
    scores: np.ndarray  # (D,)
    sensors: np.ndarray  # (D,) uint8
    trust_class: np.ndarray  # (D,) bool
    trust_size: np.ndarray  # (D,) bool
    trust_yaw: np.ndarray  # (D,) bool
    may_spawn: np.ndarray  # (D,) bool
    dt: np.ndarray  # (D,) capture time - frame stamp, s (0 where not given)

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def take(self, idx: np.ndarray) -> _Meas:
        return _Meas(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _at_capture_time(H: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``H`` (m, n) whose first two rows measure (x, y), per row for measurements taken ``dt`` (K,)
    after the state's time: the position rows gain ``dt`` on (vx, vy). ``H`` itself if all dt are 0."""
    if not dt.any():
        return H
    out = np.broadcast_to(H, (len(dt), *H.shape)).copy()
    out[:, 0, 2] = out[:, 1, 3] = dt
    return out


def _max_std_2x2(C: np.ndarray) -> np.ndarray:
    """Square root of the largest eigenvalue of symmetric 2x2 matrices (K, 2, 2)."""
    a, b, c = C[:, 0, 0], C[:, 0, 1], C[:, 1, 1]
    return np.sqrt(np.maximum(0.5 * (a + c) + np.hypot(0.5 * (a - c), b), 0.0))


def _spd_2x2(C: np.ndarray) -> np.ndarray:
    """(K,) mask of finite, symmetric positive-definite 2x2 matrices."""
    with np.errstate(invalid="ignore"):
        det = C[:, 0, 0] * C[:, 1, 1] - C[:, 0, 1] * C[:, 1, 0]
        return np.isfinite(C).all(axis=(1, 2)) & (C[:, 0, 0] > 0.0) & (det > 0.0)


class Tracker:
    """Multi-object tracker over :class:`Detections` in a fixed frame; see the module docstring."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config if config is not None else TrackerConfig()
        self.config.validate()
        c = self.config
        if c.motion_model == "cv":
            self._filter: CVFilter | IMMFilter = CVFilter()
            self._H_pos, self._H_pos_vel = ConstantVelocity.H_POS, ConstantVelocity.H_POS_VEL
        else:
            self._filter = IMMFilter(
                c.turn_accel_std_radps2, c.init_turn_rate_std_radps, (c.imm_sojourn_cv_s, c.imm_sojourn_ct_s)
            )
            self._H_pos, self._H_pos_vel = np.eye(2, IMMFilter.n), np.eye(4, IMMFilter.n)
        self._accel_std = c.accel_std_table()
        self._gate = c.gate_table()
        self._trust = c.trust_tables()
        self._logit_birth = c.logit("existence_birth")
        self._logit_confirm = c.logit("existence_confirm")
        self._logit_delete = c.logit("existence_delete")
        self._logit_max = c.logit("existence_max")
        self._vel_var = float(c.velocity_meas_std_mps) ** 2
        self._init_vel_var = float(c.init_velocity_std_mps) ** 2
        self._max_age_ns = int(round(c.max_age_s * _NS))
        self._back_tol_ns = int(round(c.time_backwards_tolerance_s * _NS))
        self._warned_frames: set[str] = set()
        self.reset()

    # ------------------------------------------------------------------ API
    def reset(self, frame_id: str | None = None) -> None:
        """Forget all tracks and the clock.

        With ``frame_id`` tracking continues in that frame (the detections' frame from now on)
        and ids keep increasing, so no id (UUIDs derive from them) is reused for another object;
        without it, ids start again from 1 (as a new Tracker).
        """
        self._clear()
        self._overlap_since: dict[tuple[int, int], int] = {}  # (id, id) -> stamp the overlap began
        if frame_id is not None:
            self.config = replace(self.config, frame_id=frame_id)
        else:
            self._next_id = 1

    def step(self, stamp_ns: int, detections: Detections) -> Tracks:
        """Advance to ``stamp_ns``, fuse ``detections`` and return the confirmed tracks.

        ``stamp_ns`` is authoritative (``detections.stamp_ns`` is not used). A
        stamp more than ``time_backwards_tolerance_s`` before the previous one
        (bag loop, clock reset) logs a warning and clears all tracks (ids keep
        increasing so none is reused within this tracker's output); a smaller
        step back is treated as ``dt = 0`` and the clock stays where it was.
        """
        stamp_ns = int(stamp_ns)
        dt = 0.0
        if self._stamp_ns is not None:
            delta = stamp_ns - self._stamp_ns
            if delta < -self._back_tol_ns:
                log.warning(
                    "tracker: time went back %.3f s (%d -> %d ns); clearing %d tracks",
                    -delta / _NS,
                    self._stamp_ns,
                    stamp_ns,
                    len(self._t),
                )
                self._clear()
            elif delta <= 0:
                stamp_ns = self._stamp_ns
            else:
                dt = delta / _NS
        self._stamp_ns = stamp_ns

        meas = self._validate(detections)
        t = self._t
        if dt > 0.0 and len(t):
            t.xm, t.Pm, t.mu = self._filter.predict(t.xm, t.Pm, t.mu, dt, self._accel_std[t.labels()])
        t = t.keep(stamp_ns - t.last_update_ns <= self._max_age_ns)

        updated = np.zeros(len(t), bool)
        secondary = meas.sensors == SENSOR_RADAR
        if secondary.any():
            passes = [(meas.take(~secondary), False), (meas.take(secondary), True)]
        else:
            passes = [(meas, False)]
        for m, second in passes:
            t, updated = self._pass(t, m, updated, stamp_ns, second)

        t.logit[~updated] -= self.config.existence_miss_logodds_per_s * dt
        t = t.keep(t.logit >= self._logit_delete)
        if isinstance(self._filter, IMMFilter) and len(t):
            self._align_yaw_to_velocity(t, np.arange(len(t)))
        t.confirmed |= (t.hits >= self.config.min_hits) & (t.logit >= self._logit_confirm - 1e-12)
        if self.config.merge_min_overlap > 0.0 and len(t) > 1:
            t = self._merge_overlaps(t, stamp_ns)
        self._t = t
        return self._output(stamp_ns)

    @property
    def num_tracks(self) -> int:
        """Number of live tracks, tentative included (for diagnostics)."""
        return len(self._t)

    # ------------------------------------------------------------ internals
    def _clear(self) -> None:
        self._t = _TrackTable.empty(self._filter.M, self._filter.n)
        self._stamp_ns: int | None = None

    def _pass(
        self, t: _TrackTable, m: _Meas, updated: np.ndarray, stamp_ns: int, secondary: bool
    ) -> tuple[_TrackTable, np.ndarray]:
        """Associate ``m`` with ``t``, update, start tracks; ``updated`` marks tracks updated this step."""
        rows, cols, suppressed = self._associate(t, m, updated, secondary)
        self._update(t, m, rows, cols, stamp_ns, updated)
        updated[rows] = True
        born = np.ones(len(m), bool)
        born[cols] = False
        born &= ~suppressed & m.may_spawn
        if born.any():
            t = t.extend(self._birth(m, np.flatnonzero(born), stamp_ns))
            updated = np.concatenate([updated, np.ones(int(born.sum()), bool)])
        return t, updated

    def _validate(self, d: Detections) -> _Meas:
        """Drop unusable detection rows (logged); mark optional fields as measured or not.

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
          (repeated "tangential speed 0 +- sigma" pseudo-measurements would bias the track).
        """
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
                raise ValueError(
                    f"Detections.{name} must have shape {shape}, got {np.shape(getattr(d, name))}"
                )
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
        if d.frame_id and d.frame_id != self.config.frame_id:
            level = logging.DEBUG if d.frame_id in self._warned_frames else logging.WARNING
            self._warned_frames.add(d.frame_id)
            log.log(
                level,
                "tracker: dropping detections in frame %r (tracker frame is %r; warned once per frame)",
                d.frame_id,
                self.config.frame_id,
            )
            n = 0
            d = d.select(np.zeros(len(d), bool))
            extra = dict.fromkeys(extra)

        xy = np.asarray(d.centers[:, :2], dtype=np.float64)
        R = kalman.symmetrize(np.asarray(d.pos_cov, dtype=np.float64))
        scores = np.asarray(d.scores, dtype=np.float64)
        labels = np.asarray(d.labels).astype(np.int64, copy=False)
        with np.errstate(invalid="ignore"):
            det_R = R[:, 0, 0] * R[:, 1, 1] - R[:, 0, 1] * R[:, 1, 0]
            good = (
                np.isfinite(xy).all(axis=1)
                & np.isfinite(R).all(axis=(1, 2))
                & (R[:, 0, 0] > 0.0)
                & (det_R > 0.0)
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
        good &= self._trust["may_update"][mask]  # sensors configured off: ignored silently
        mask = mask[good]
        k = int(good.sum())

        vel = np.asarray(d.velocity, dtype=np.float64)[good]
        has_vel = np.isfinite(vel).all(axis=1)
        if extra["vel_cov"] is not None:
            vel_R = kalman.symmetrize(np.asarray(extra["vel_cov"], dtype=np.float64)[good])
            bad = has_vel & ~_spd_2x2(vel_R)
            if bad.any():
                log.warning("tracker: ignored %d velocities with a bad vel_cov", int(bad.sum()))
                has_vel &= ~bad
            vel_R = np.where(has_vel[:, None, None], vel_R, 0.0)
        else:
            vel_R = np.broadcast_to(self._vel_var * np.eye(2), (k, 2, 2))
        if extra["radial"] is not None:
            radial = np.asarray(extra["radial"], dtype=np.float64)[good]
            los = np.asarray(extra["los"], dtype=np.float64)[good]
            norm = np.hypot(los[:, 0], los[:, 1])
            rvar = (
                np.full(k, self._vel_var)
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
        c = self.config
        tr = self._trust
        may_spawn = tr["spawn_plain"][mask]
        need_vel = tr["spawn_velocity"][mask] & ~may_spawn & has_vel
        if need_vel.any():
            may_spawn = may_spawn | (
                need_vel
                & (_max_std_2x2(vel_R) <= c.spawn_max_velocity_std_mps)
                & (np.hypot(vel[:, 0], vel[:, 1]) >= c.spawn_min_speed_mps)
            )
        sizes = np.asarray(d.sizes, dtype=np.float64)[good]
        z = np.asarray(d.centers[good, 2], dtype=np.float64) if d.centers.shape[1] > 2 else np.full(k, np.nan)
        yaw = np.asarray(d.yaw, dtype=np.float64)[good]
        has_size = np.isfinite(sizes).all(axis=1) & (sizes > 0.0).all(axis=1)
        dt = np.zeros(k)
        if extra["time_offset_s"] is not None and self.config.use_capture_time:
            dt = np.asarray(extra["time_offset_s"], dtype=np.float64)[good]
            # a sweep is ~0.1 s: anything past MAX_CAPTURE_OFFSET_S (or NaN) is not trusted
            dt = np.where(np.isfinite(dt) & (np.abs(dt) <= MAX_CAPTURE_OFFSET_S), dt, 0.0)
        return _Meas(
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
            scores=np.clip(scores[good], 0.0, 1.0),
            sensors=np.asarray(d.sensors)[good].astype(np.uint8),
            trust_class=tr["trust_class"][mask],
            trust_size=tr["trust_size"][mask],
            trust_yaw=tr["trust_yaw"][mask],
            may_spawn=may_spawn,
            dt=dt,
        )

    def _associate(
        self, t: _TrackTable, m: _Meas, updated: np.ndarray, secondary: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matched (track rows, detection cols) and the detections barred from starting a track."""
        c = self.config
        nt, nd = len(t), len(m)
        suppressed = np.zeros(nd, bool)
        if nt == 0 or nd == 0:
            e = np.zeros(0, np.int64)
            return e, e, suppressed
        x, P = self._filter.combine(t.xm, t.Pm, t.mu)
        labels_t = t.labels()
        if c.association == "mahalanobis" or secondary:
            if m.dt.any():  # each detection against its track at the detection's capture time
                d2 = mahalanobis_sq_timed(x[:, :4], P[:, :4, :4], m.xy, m.R, m.dt)
            else:
                d2 = mahalanobis_sq(x[:, :2], P[:, :2, :2], m.xy, m.R)
            allowed = d2 <= self._gate[labels_t][:, None]
            unknown = int(ObjectClass.UNKNOWN)
            mismatch = (
                (labels_t[:, None] != m.labels[None, :])
                & (labels_t[:, None] != unknown)
                & (m.labels[None, :] != unknown)
                & m.trust_class[None, :]
            )
            cost = d2 + c.class_mismatch_cost * mismatch
        else:  # "iou3d"
            centers_t = np.column_stack([x[:, :2], t.z])
            centers_d = np.column_stack([m.xy, np.nan_to_num(m.z)])
            iou = iou_pairwise(centers_t, t.sizes, t.yaw, centers_d, m.sizes, np.nan_to_num(m.yaw))
            allowed = iou >= max(c.iou3d_min, 1e-12)
            cost = 1.0 - iou
        rows, cols = self._cascade(cost, allowed, t.confirmed)
        if c.suppress_birth_in_gate:
            near = (t.confirmed | updated) if secondary else t.confirmed
            suppressed = allowed[near].any(axis=0)
        return rows, cols, suppressed

    def _cascade(
        self, cost: np.ndarray, allowed: np.ndarray, confirmed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Assign confirmed tracks first, then tentative tracks to the detections left.

        A newborn track's velocity is barely known, so its gate is wide and its
        Mahalanobis distances small: in one joint assignment it would take the
        detections of an established track that missed a single frame (the
        classic duplicate-and-steal failure). Confirmed-first (as in DeepSORT's
        matching cascade) keeps established tracks on their objects.
        """
        if not self.config.confirmed_first or confirmed.all() or not confirmed.any():
            return gated_assignment(cost, allowed)
        conf = np.flatnonzero(confirmed)
        tent = np.flatnonzero(~confirmed)
        r1, c1 = gated_assignment(cost[conf], allowed[conf])
        free = np.ones(cost.shape[1], bool)
        free[c1] = False
        left = np.flatnonzero(free)
        r2, c2 = gated_assignment(cost[np.ix_(tent, left)], allowed[np.ix_(tent, left)])
        rows = np.concatenate([conf[r1], tent[r2]])
        cols = np.concatenate([c1, left[c2]])
        order = np.argsort(rows, kind="stable")
        return rows[order], cols[order]

    def _update(
        self, t: _TrackTable, m: _Meas, rows: np.ndarray, cols: np.ndarray, stamp_ns: int, updated: np.ndarray
    ) -> None:
        """Filter, shape, class and bookkeeping updates of matched tracks, in place."""
        if rows.size == 0:
            return
        c = self.config
        f = self._filter
        has_vel = m.has_vel[cols]
        has_rad = m.has_radial[cols]
        R2 = m.R[cols]  # per matched pair, with the shape slack where it applies
        if c.shape_slack and not m.trust_size[cols].all():
            R2 = R2 + self._shape_slack(t, m, rows, cols)[:, None, None] * np.eye(2)
        # Three batched updates: (x, y); (x, y, vx, vy); (x, y, l'v) for Doppler-only detections.
        # A box captured dt after the frame stamp measures p + v dt (exact in the linear model).
        sel = ~has_vel & ~has_rad
        r, k = rows[sel], cols[sel]
        if r.size:
            H = _at_capture_time(self._H_pos, m.dt[k])
            t.xm[r], t.Pm[r], t.mu[r] = f.update(t.xm[r], t.Pm[r], t.mu[r], m.xy[k], H, R2[sel])
        r, k = rows[has_vel], cols[has_vel]
        if r.size:
            R4 = np.zeros((r.size, 4, 4))
            R4[:, :2, :2] = R2[has_vel]
            R4[:, 2:, 2:] = m.vel_R[k]
            z4 = np.concatenate([m.xy[k], m.vel[k]], axis=1)
            H = _at_capture_time(self._H_pos_vel, m.dt[k])
            t.xm[r], t.Pm[r], t.mu[r] = f.update(t.xm[r], t.Pm[r], t.mu[r], z4, H, R4)
        r, k = rows[has_rad], cols[has_rad]
        if r.size:
            H3 = np.zeros((r.size, 3, f.n))
            H3[:, 0, 0] = H3[:, 1, 1] = 1.0
            H3[:, 0, 2] = H3[:, 1, 3] = m.dt[k]
            H3[:, 2, 2:4] = m.los[k]  # h(x) = l . v
            R3 = np.zeros((r.size, 3, 3))
            R3[:, :2, :2] = R2[has_rad]
            R3[:, 2, 2] = m.radial_var[k]
            z3 = np.column_stack([m.xy[k], m.radial[k]])
            t.xm[r], t.Pm[r], t.mu[r] = f.update(t.xm[r], t.Pm[r], t.mu[r], z3, H3, R3)

        # z / size: exponential smoothing where measured, by a size-trusted sensor; an untrusted
        # one only until the first trusted measurement, which then replaces it outright.
        trusted, known = m.trust_size[cols], t.size_known[rows]
        plain = trusted.all() and known.all()  # the usual case (LiDAR boxes): plain smoothing
        use = trusted | ~known
        zm = m.z[cols]
        ok = np.isfinite(zm) if plain else np.isfinite(zm) & use
        alpha = c.z_alpha if plain else np.where(trusted & ~known, 1.0, c.z_alpha)[ok]
        t.z[rows[ok]] += alpha * (zm[ok] - t.z[rows[ok]])
        ok = m.has_size[cols] if plain else m.has_size[cols] & use
        alpha = c.size_alpha if plain else np.where(trusted & ~known, 1.0, c.size_alpha)[ok, None]
        t.sizes[rows[ok]] += alpha * (m.sizes[cols[ok]] - t.sizes[rows[ok]])
        if not plain:
            t.size_known[rows[ok]] |= trusted[ok]
        # Yaw: a box's heading is ambiguous by pi, so use whichever of yaw, yaw + pi is closer.
        trusted, known = m.trust_yaw[cols], t.yaw_known[rows]
        plain = trusted.all() and known.all()
        ym = m.yaw[cols]
        ok = np.isfinite(ym) if plain else np.isfinite(ym) & (trusted | ~known)
        rr = rows[ok]
        alpha = c.yaw_alpha if plain else np.where(trusted[ok] & ~known[ok], 1.0, c.yaw_alpha)
        dy = wrap_angle(ym[ok] - t.yaw[rr])
        dy = np.where(np.abs(dy) > 0.5 * np.pi, wrap_angle(dy + np.pi), dy)
        t.yaw[rr] = wrap_angle(t.yaw[rr] + alpha * dy)
        if not plain:
            t.yaw_known[rr] |= trusted[ok]
        if isinstance(f, CVFilter):
            self._align_yaw_to_velocity(t, rows)

        w = m.scores[cols] * np.where(m.labels[cols] == int(ObjectClass.UNKNOWN), c.unknown_vote_weight, 1.0)
        trusted = m.trust_class[cols]
        if not trusted.all():
            w = w * np.where(trusted, 1.0, c.untrusted_class_vote_weight)
        t.votes[rows, m.labels[cols]] += w
        t.logit[rows] = np.minimum(t.logit[rows] + c.existence_hit_logodds * m.scores[cols], self._logit_max)
        t.hits[rows] += 1
        t.last_update_ns[rows] = stamp_ns
        t.shape_ns[rows[m.trust_size[cols] & m.has_size[cols]]] = stamp_ns
        # Sensors that supported the track in this step (several passes OR their masks).
        t.sensors[rows] = np.where(updated[rows], t.sensors[rows] | m.sensors[cols], m.sensors[cols])

    def _align_yaw_to_velocity(
        self, t: _TrackTable, rows: np.ndarray, x: np.ndarray | None = None, P: np.ndarray | None = None
    ) -> None:
        r"""Turn the box yaw of tracks ``rows`` (combined estimates ``x``, ``P`` if known) to the motion.

        Where the speed is confidently non-zero (above ``yaw_from_velocity_min_speed_mps``
        and twice its std) the yaw is flipped by pi if it points against the
        velocity. With the IMM it is then fused with the velocity heading
        :math:`\psi = \operatorname{atan2}(v_y, v_x)`, whose variance is that of the
        velocity across the motion over the squared speed,
        :math:`\sigma_\psi^2 = u_\perp^\top P_v u_\perp / |v|^2`:
        :math:`\text{yaw} \leftarrow \text{yaw} + g\, \operatorname{wrap}(\psi - \text{yaw})`,
        :math:`g = \sigma_b^2 / (\sigma_b^2 + \sigma_\psi^2)` (``yaw_box_std_rad`` =
        :math:`\sigma_b`): a well-measured velocity steers the box.
        """
        vmin = self.config.yaw_from_velocity_min_speed_mps
        if not np.isfinite(vmin):
            return
        if x is None or P is None:
            x, P = self._filter.combine(t.xm[rows], t.Pm[rows], t.mu[rows])
        v = x[:, 2:4]
        speed = np.hypot(v[:, 0], v[:, 1])
        sigma = np.sqrt(0.5 * (P[:, 2, 2] + P[:, 3, 3]))
        sure = (speed > vmin) & (speed > 2.0 * sigma)
        heading = np.arctan2(v[:, 1], v[:, 0])
        flip = sure & (np.abs(wrap_angle(t.yaw[rows] - heading)) > 0.5 * np.pi)
        t.yaw[rows[flip]] = wrap_angle(t.yaw[rows[flip]] + np.pi)
        if isinstance(self._filter, CVFilter) or not sure.any():
            return
        s = np.flatnonzero(sure)
        ux, uy = -np.sin(heading[s]), np.cos(heading[s])
        var_perp = ux * ux * P[s, 2, 2] + 2.0 * ux * uy * P[s, 2, 3] + uy * uy * P[s, 3, 3]
        b2 = self.config.yaw_box_std_rad**2
        g = b2 / (b2 + var_perp / speed[s] ** 2)
        rr = rows[s]
        t.yaw[rr] = wrap_angle(t.yaw[rr] + g * wrap_angle(heading[s] - t.yaw[rr]))

    @staticmethod
    def _shape_slack(t: _TrackTable, m: _Meas, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Isotropic position variance to add where a detection whose sensor's size is not trusted
        (radar: a centroid moved to a centre with a class-prior box) meets a track whose size a
        trusted sensor measured: the centre is off by up to half the size difference (a bus
        placed with a car's box by 3 m). Without it the radar drags the track off the LiDAR box,
        whose next detection then falls outside the gate and starts a duplicate. Broadcasts
        ``rows``/``cols`` (pairs, or a (T, 1) x (1, D) grid)."""
        apply = t.size_known[rows] & ~m.trust_size[cols] & m.has_size[cols]
        diff = np.abs(t.sizes[rows, :2] - m.sizes[cols, :2]).max(axis=-1)
        return np.where(apply, (0.5 * diff) ** 2, 0.0)

    def _merge_overlaps(self, t: _TrackTable, now: int) -> _TrackTable:
        """One track per object: merge pairs (one confirmed at least) whose footprints overlap by
        ``merge_min_overlap`` of the smaller one, with velocities within
        ``merge_max_speed_diff_mps``, for ``merge_after_s``. Two solid objects cannot share the
        ground, so such a pair is one object tracked twice, typically after one input's position
        was biased past the other's gate (a radar centroid placed with a car-sized prior on a
        truck), after which each input keeps its own track alive.
        The survivor (id and state) is the track a shape-trusted sensor (LiDAR, BEV) updated
        last: its box is on the object, and it is the id the object is being tracked under; the
        other one was dragged off it (a radar centroid) or coasts. Between equals the older id.
        Class votes and hits add up."""
        c = self.config
        x = np.einsum("nm,nmk->nk", t.mu, t.xm[..., :4])  # mixture mean (IMM) or the state (CV)
        # candidate pairs from a k-d tree (sparse: a dense N x N pass cost 11 ms at 200 tracks)
        radius = 0.5 * np.hypot(t.sizes[:, 0], t.sizes[:, 1])
        pairs = cKDTree(x[:, :2]).query_pairs(2.0 * float(radius.max()), output_type="ndarray")
        ia, ib = (pairs[:, 0], pairs[:, 1]) if len(pairs) else (np.zeros(0, np.int64),) * 2
        keep_pair = (
            (np.hypot(*(x[ia, :2] - x[ib, :2]).T) <= radius[ia] + radius[ib])
            & (np.hypot(*(x[ia, 2:4] - x[ib, 2:4]).T) <= c.merge_max_speed_diff_mps)
            & (t.confirmed[ia] | t.confirmed[ib])
        )
        ia, ib = ia[keep_pair], ib[keep_pair]
        if ia.size == 0:  # the usual case
            self._overlap_since = {}
            return t
        inter = intersection_area_paired(
            box_corners_bev(x[ia, :2], t.sizes[ia, :2], t.yaw[ia]),
            box_corners_bev(x[ib, :2], t.sizes[ib, :2], t.yaw[ib]),
        )
        area = t.sizes[:, 0] * t.sizes[:, 1]
        small = np.minimum(area[ia], area[ib])
        # of the smaller footprint; degenerate boxes (no size measured yet) overlap nothing
        overlap = np.where(small > 0.05, inter / np.maximum(small, 0.05), 0.0)
        sel = overlap >= c.merge_min_overlap
        ia, ib, overlap = ia[sel], ib[sel], overlap[sel]
        # pairs are few (usually none): a dict of when each started overlapping, greedy merging
        since = {
            (int(t.ids[a]), int(t.ids[b])): self._overlap_since.get((int(t.ids[a]), int(t.ids[b])), now)
            for a, b in zip(ia, ib)
        }
        self._overlap_since = since
        wait = int(round(c.merge_after_s * _NS))
        alive = np.ones(len(t), bool)
        for k in np.argsort(-overlap, kind="stable"):
            a, b = ia[k], ib[k]
            if not (alive[a] and alive[b]) or now - since[(int(t.ids[a]), int(t.ids[b]))] < wait:
                continue
            keep, drop = (a, b) if t.ids[a] < t.ids[b] else (b, a)
            if t.shape_ns[drop] > t.shape_ns[keep]:
                keep, drop = drop, keep  # the box a shape-trusted sensor updated last survives
            t.votes[keep] += t.votes[drop]
            t.hits[keep] = max(t.hits[keep], t.hits[drop])
            t.logit[keep] = max(t.logit[keep], t.logit[drop])
            t.sensors[keep] |= t.sensors[drop]
            t.confirmed[keep] = True
            alive[drop] = False
        return t.keep(alive)

    def _birth(self, m: _Meas, idx: np.ndarray, stamp_ns: int) -> _TrackTable:
        r"""Tentative tracks from detections ``idx``.

        Velocity: the measured one (covariance ``vel_R``); with only a Doppler
        component :math:`r` along :math:`\ell`, :math:`v = r \ell` with covariance
        :math:`\sigma_r^2 \ell \ell^\top + \sigma_0^2 (I - \ell \ell^\top)` (known
        along the line of sight, unknown across); else 0 with
        :math:`\sigma_0^2 I` (``init_velocity_std_mps``).
        """
        c = self.config
        n = idx.size
        has_vel = m.has_vel[idx]
        has_rad = m.has_radial[idx]
        x = np.zeros((n, 4))
        x[:, :2] = m.xy[idx]
        x[:, 2:] = m.vel[idx]
        P = np.zeros((n, 4, 4))
        P[:, :2, :2] = m.R[idx]
        P[:, 2:, 2:] = np.where(has_vel[:, None, None], m.vel_R[idx], self._init_vel_var * np.eye(2))
        if has_rad.any():
            r = idx[has_rad]
            los = m.los[r]
            ll = los[:, :, None] * los[:, None, :]
            x[has_rad, 2:] = m.radial[r, None] * los
            P[has_rad, 2:, 2:] = m.radial_var[r, None, None] * ll + self._init_vel_var * (np.eye(2) - ll)
        xm, Pm, mu = self._filter.init(x, P)
        votes = np.zeros((n, NUM_CLASSES))
        votes[:, int(ObjectClass.UNKNOWN)] = _VOTE_PRIOR
        labels = m.labels[idx]
        w = m.scores[idx] * np.where(labels == int(ObjectClass.UNKNOWN), c.unknown_vote_weight, 1.0)
        w = w * np.where(m.trust_class[idx], 1.0, c.untrusted_class_vote_weight)
        votes[np.arange(n), labels] += w
        has_yaw = np.isfinite(m.yaw[idx])
        yaw = np.where(has_yaw, m.yaw[idx], 0.0)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        logit = np.minimum(self._logit_birth + np.zeros(n), self._logit_max)
        new = _TrackTable(
            ids=ids,
            xm=xm,
            Pm=Pm,
            mu=mu,
            z=np.nan_to_num(m.z[idx], nan=0.0),
            sizes=m.sizes[idx].copy(),
            size_known=m.has_size[idx] & m.trust_size[idx],
            yaw=wrap_angle(yaw),
            yaw_known=has_yaw & m.trust_yaw[idx],
            votes=votes,
            logit=logit,
            hits=np.ones(n, np.int64),
            birth_ns=np.full(n, stamp_ns, np.int64),
            last_update_ns=np.full(n, stamp_ns, np.int64),
            shape_ns=np.where(m.has_size[idx] & m.trust_size[idx], stamp_ns, 0).astype(np.int64),
            sensors=m.sensors[idx].copy(),
            confirmed=np.zeros(n, bool),
        )
        if isinstance(self._filter, CVFilter):
            self._align_yaw_to_velocity(new, np.arange(n), x, P)  # x, P: the (only) model's estimate
        return new

    def _output(self, stamp_ns: int) -> Tracks:
        t = self._t.take(self._t.confirmed)
        x, P = self._filter.combine(t.xm, t.Pm, t.mu)
        labels = t.labels()
        total = t.votes.sum(axis=1)
        probs = t.votes[np.arange(len(t)), labels] / np.where(total > 0, total, 1.0)
        return Tracks(
            stamp_ns=stamp_ns,
            frame_id=self.config.frame_id,
            ids=t.ids,
            state=np.ascontiguousarray(x[:, :4]),
            cov=np.ascontiguousarray(P[:, :4, :4]),
            z=t.z,
            sizes=t.sizes,
            yaw=t.yaw,
            labels=labels,
            label_probs=probs,
            existence=1.0 / (1.0 + np.exp(-t.logit)),
            age_ns=stamp_ns - t.birth_ns,
            hits=t.hits,
            sensors=t.sensors,
        )
