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
   attributes of :class:`Detections`, see :func:`~sensor_fusion.tracking.measurements.validate`):
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
   time spent unmatched; below ``existence_delete`` delete a tentative track
   and unconfirm a confirmed one, kept as lost (``keep_lost_tracks``) until a
   box re-finds it under its id or ``max_age_s`` ends it; confirm after
   ``min_hits`` updates with enough existence;
8. heading: the box yaw is flipped by pi where it points against a confident
   velocity; with the IMM it is also pulled to the velocity heading
   (every track, coasting ones included), so boxes turn with their tracks;
9. merge: two tracks whose footprints overlap (``merge_*``) for a while are one
   object tracked twice; the one a shape-trusted sensor updated last survives.

Position measurements taken ``dt = time_offset_s`` after the stamp use ``H = [I, dt I]``
(a rotating LiDAR sees each object at its azimuth's time); a radar position on a track whose
size a trusted sensor measured carries the extra variance of
:func:`~sensor_fusion.tracking.attributes.shape_slack`.

All track data lives in one structure of arrays; every stage is batched
numpy over tracks. Only confirmed tracks are returned, as (x, y, vx, vy) with
the 4x4 covariance (for the IMM, of the moment-matched mixture).

This module is the step that composes the parts, split as Autoware's multi_object_tracker
separates motion models, association and track management, so each can be read and tested
alone: :mod:`~sensor_fusion.tracking.measurements` (validation, 3.),
:mod:`~sensor_fusion.tracking.filters` (motion models, 1. and 5.),
:mod:`~sensor_fusion.tracking.association` (costs and the confirmed-first assignment, 4.),
:mod:`~sensor_fusion.tracking.track_table` (the structure of arrays and birth, 6.),
:mod:`~sensor_fusion.tracking.attributes` (z, size, yaw, class, 5. and 8.) and
:mod:`~sensor_fusion.tracking.merge` (9.). Existence and confirmation (7.) stay here.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from sensor_fusion.core.classes import SENSOR_RADAR, ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.core.types import Detections, Tracks
from sensor_fusion.tracking.association import (
    cascade_assignment,
    gated_assignment,
    mahalanobis_sq,
    mahalanobis_sq_timed,
    mixture_sq,
    velocity_gate,
)
from sensor_fusion.tracking.attributes import (
    align_yaw_to_velocity,
    near_face_offset,
    shape_slack,
    smooth_shape,
    vote_class,
)
from sensor_fusion.tracking.config import SENSOR_BITS, TrackerConfig
from sensor_fusion.tracking.coverage import SensorView, detection_probability
from sensor_fusion.tracking.filters import CVFilter, IMMFilter
from sensor_fusion.tracking.iou import iou_pairwise
from sensor_fusion.tracking.measurements import Measurements, at_capture_time, max_std_2x2, validate
from sensor_fusion.tracking.merge import OverlapMerger
from sensor_fusion.tracking.motion import ConstantVelocity
from sensor_fusion.tracking.track_table import TrackTable, birth

__all__ = ["SensorView", "Tracker", "TrackerConfig"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000


def _sensor_origins(m: Measurements, views: list[SensorView], visible: int) -> None:
    """Fill ``m.origin`` of the detections from sensors in ``visible`` (a mask of those whose boxes
    span the faces they saw: ``box_extent``) with their sensor's position, in place. Not the others:
    a learned detector regresses the whole object, and its extent errors are not faces it could not
    see."""
    for v in views:
        if v.sensor & visible:
            sel = ((m.sensors & v.sensor) != 0) & np.isnan(m.origin[:, 0])
            m.origin[sel] = v.origin_xy


# The scene's share of stopped objects is counted over this window: a vehicle leaves a parking lot
# for a road, or a road for a queue at a signal, in tens of seconds; 10 s is about the time a car at
# 10 m/s takes to pass the 100 m it sees of one such scene.
STOP_SHARE_WINDOW_S = 10.0


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
            sojourn = (c.imm_sojourn_cv_s, c.imm_sojourn_ct_s)
            if c.imm_sojourn_stop_s > 0.0:  # the third, stopped model
                sojourn += (c.imm_sojourn_stop_s,)
            self._filter = IMMFilter(
                c.turn_accel_std_radps2,
                c.init_turn_rate_std_radps,
                sojourn,
                c.max_lateral_accel_mps2,
            )
            self._H_pos, self._H_pos_vel = np.eye(2, IMMFilter.n), np.eye(4, IMMFilter.n)
        self._accel_std = c.accel_std_table()
        self._gate = c.gate_table()
        self._gate_prob = c.gate_prob_table()
        self._gate_low = np.minimum(self._gate, -2.0 * np.log1p(-c.low_score_gate_prob))
        self._trust = c.trust_tables()
        self._logit_confirm = c.logit("existence_confirm")
        self._logit_delete = c.logit("existence_delete")
        self._logit_birth = c.logit("existence_birth")
        self._logit_max = c.logit("existence_max")
        self._max_age_ns = int(round(c.max_age_s * _NS))
        coast = c.output_max_coast_s
        self._output_coast_ns = int(round(coast * _NS)) if np.isfinite(coast) else np.iinfo(np.int64).max
        self._back_tol_ns = int(round(c.time_backwards_tolerance_s * _NS))
        # sensors whose boxes are anchored on their near faces (0: none)
        self._visible_boxes = (
            sum(bit for name, bit in SENSOR_BITS.items() if c.box_extent.get(name) == "visible")
            if c.anchor_near_face
            else 0
        )
        self._warned_frames: set[str] = set()
        self._merger = OverlapMerger(c)
        self._pd = c.sensor_table("detection_prob")
        self._range50 = c.sensor_table("detection_range50_m")
        self._data = c.data_table()
        self.reset()
        self._stop_frame()

    # ------------------------------------------------------------------ API
    def reset(self, frame_id: str | None = None) -> None:
        """Forget all tracks and the clock.

        With ``frame_id`` tracking continues in that frame (the detections' frame from now on)
        and ids keep increasing, so no id (UUIDs derive from them) is reused for another object;
        without it, ids start again from 1 (as a new Tracker).
        """
        self._clear()
        self._merger.reset()
        if frame_id is None:
            self._next_id = 1
        elif frame_id != self.config.frame_id:  # another frame: the fixed one (ego aligned)
            self.config = replace(self.config, frame_id=frame_id, moving_frame=False)
            self._stop_frame()

    @property
    def stamp_ns(self) -> int | None:
        """The stamp the tracks are at (the last step's), None before the first step."""
        return self._stamp_ns

    def change_frame(
        self, frame_id: str, T_new_old: np.ndarray, velocity: np.ndarray, yaw_rate: float
    ) -> None:
        r"""Carry every track into ``frame_id``, keeping ids, existence and history.

        ``T_new_old`` (4, 4): the old frame at the tracks' stamp (:attr:`stamp_ns`) in the new one;
        ``velocity`` (2+,): the old frame's origin velocity in the new frame, m/s; ``yaw_rate``: its
        rotation rate, rad/s. The old frame may move (``base_link`` before the heading is known:
        the tracks' velocities are relative to the vehicle), so a velocity becomes
        :math:`R (v + \Omega x) + v_0`, :math:`\Omega x = \omega (-y, x)` the frame's rotation seen
        at the track, a turn rate gains :math:`\omega`, and the covariance goes through the same
        Jacobian. Why: resetting at the ego's heading alignment dropped every track and re-confirmed
        its object half a second later under a new id.

        A new track's velocity prior is "at rest in the tracking frame" (0, ``init_velocity_std``);
        at rest in a moving base_link is moving with the vehicle in odom. So the prior's mean is
        swapped for "at rest in the new frame" first: the velocity moves by :math:`G m`, with
        :math:`m = -(R^\top v_0 + \Omega x)` the new prior in the old frame and
        :math:`G = P_{vv} / \sigma_0^2` (eigenvalues clipped to [0, 1]) the Kalman posterior's
        sensitivity to its prior mean: a track born a frame ago reads at rest in odom, as after a
        reset (without the swap it read the vehicle's 10 m/s); one whose velocity the data fixed
        keeps it.
        """
        T = np.asarray(T_new_old, dtype=np.float64)
        t = self._t
        if len(t):
            R, w = T[:2, :2], float(yaw_rate)
            v0 = np.asarray(velocity, dtype=np.float64)[:2]
            x_old = t.xm[:, 0, :2]  # every model shares the position closely; z needs one
            var0 = float(self.config.init_velocity_std_mps) ** 2
            lam, U = np.linalg.eigh(t.Pm[..., 2:4, 2:4] / var0)  # (N, M, 2), (N, M, 2, 2)
            G = (U * np.clip(lam, 0.0, 1.0)[..., None, :]) @ np.swapaxes(U, -1, -2)
            xy = t.xm[..., 0:2]
            m = -(v0 @ R) - w * np.stack([-xy[..., 1], xy[..., 0]], axis=-1)  # at rest in the new frame
            t.xm[..., 2:4] += (G @ m[..., None])[..., 0]
            t.z = x_old @ T[2, :2] + t.z * T[2, 2] + T[2, 3]
            J = np.eye(t.xm.shape[-1])
            J[0:2, 0:2] = R
            J[2:4, 2:4] = R
            J[2:4, 0:2] = R @ np.array([[0.0, -w], [w, 0.0]])
            shift = np.zeros(t.xm.shape[-1])
            shift[0:2] = T[:2, 3]
            shift[2:4] = v0
            if shift.size > 4:  # the IMM's turn rate
                shift[4] = w
            t.xm = t.xm @ J.T + shift
            t.Pm = J @ t.Pm @ J.T
            t.yaw = wrap_angle(t.yaw + np.arctan2(T[1, 0], T[0, 0]))
        # the new frame is the fixed one (the pipeline changes from base_link to odom only)
        self.config = replace(self.config, frame_id=frame_id, moving_frame=False)
        self._stop_frame()
        if len(t) and self._filter.M == 3:
            t.mu = self._filter.restart_stop(t.xm, t.Pm, t.mu, var0)
        # the merger's overlap clocks are per id pair: they hold in any frame

    def step(self, stamp_ns: int, detections: Detections, views: list[SensorView] | None = None) -> Tracks:
        """Advance to ``stamp_ns``, fuse ``detections`` and return the confirmed tracks.

        ``views``: what each detector could see at this frame (:class:`SensorView`, in the
        tracker's frame). With it a miss costs ``log(1 - Pd)`` of existence, ``Pd`` the
        track's detection probability (:mod:`~sensor_fusion.tracking.coverage`), plus
        ``existence_unseen_logodds_per_s``; without it (None) every miss costs
        ``existence_miss_logodds_per_s`` per second, as if in plain view.

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
        self._prev_stamp_ns, self._stamp_ns = self._stamp_ns, stamp_ns

        meas = validate(detections, self.config, self._trust, self._warned_frames)
        if views and self._visible_boxes:
            _sensor_origins(meas, views, self._visible_boxes)
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

        self._miss(t, updated, dt, views, stamp_ns)
        t = self._lose(t)
        if isinstance(self._filter, IMMFilter) and len(t):
            align_yaw_to_velocity(t, np.arange(len(t)), self._filter, self.config)
        self._confirm(t)
        if self._filter.M == 3 and not self.config.moving_frame:
            self._count_stopped(t, dt)
        if self.config.merge_min_overlap > 0.0 and len(t) > 1:
            t = self._merger.merge(t, stamp_ns)
        self._t = t
        return self._output(stamp_ns)

    @property
    def num_tracks(self) -> int:
        """Number of live tracks, tentative and lost ones included (for diagnostics)."""
        return len(self._t)

    # ------------------------------------------------------------ internals
    def _confirm(self, t: TrackTable) -> None:
        """Confirm tentative tracks with ``min_hits`` updates, enough existence and a velocity std
        within ``confirm_max_velocity_std_mps`` (once confirmed, always confirmed), in place."""
        c = self.config
        new = ~t.confirmed & (t.hits >= c.min_hits) & (t.logit >= self._logit_confirm - 1e-12)
        if np.isfinite(c.confirm_max_velocity_std_mps) and new.any():
            idx = np.flatnonzero(new)
            _, P = self._filter.combine(t.xm[idx], t.Pm[idx], t.mu[idx])
            new[idx] = max_std_2x2(P[:, 2:4, 2:4]) <= c.confirm_max_velocity_std_mps
        t.confirmed |= new
        t.lost &= ~new

    def _lose(self, t: TrackTable) -> TrackTable:
        """Drop tracks whose existence fell below ``existence_delete``; with ``keep_lost_tracks``
        a confirmed one is kept as lost instead: unconfirmed, so unpublished, until confirmed again
        (:meth:`_update` restarts its existence when a box re-finds it) or ``max_age_s`` ends it."""
        low = t.logit < self._logit_delete
        if self.config.keep_lost_tracks:
            newly = low & t.confirmed
            t.lost |= newly
            t.confirmed &= ~newly
            low &= ~t.lost
        return t.keep(~low)

    def _miss(
        self, t: TrackTable, updated: np.ndarray, dt: float, views: list[SensorView] | None, stamp_ns: int
    ) -> None:
        """Existence evidence of tracks not updated this step (see :meth:`step`), in place.

        With coverage, a track that only radar-only detections updated is charged the box
        detectors' miss too (unless ``radar_update_hides_box_miss``): radar reports moving returns,
        ghosts and clutter among them, and Pd of radar is 0, so a radar update says nothing of
        whether the LiDAR, which had the object in plain view, missed it."""
        c = self.config
        miss = ~updated
        if views is None:
            t.logit[miss] -= c.existence_miss_logodds_per_s * dt
            return
        if c.radar_update_hides_box_miss:
            missed, last = miss, t.last_update_ns
        else:
            missed, last = t.box_ns < stamp_ns, t.box_ns
        if missed.any():
            x, _ = self._filter.combine(t.xm, t.Pm, t.mu)
            radius = 0.5 * np.hypot(t.sizes[:, 0], t.sizes[:, 1])
            pd = detection_probability(
                x[:, :2],
                radius,
                views,
                self._pd,
                self._range50,
                t.confirmed,
                c.occluded_detection_drop,
                c.occlusion_min_overlap,
                self._data,
            )
            # a miss right after another is likelier for an existing object (misses come in bursts)
            if self._prev_stamp_ns is not None:
                again = missed & (last < self._prev_stamp_ns)
                if not c.radar_update_hides_box_miss:
                    # a track no box detector ever reported (radar-born: box_ns 0) has no burst of
                    # misses to be in; discounted, a radar ghost in the LiDAR's plain view lost
                    # 0.2 log-odds a frame instead of 2.3 and radar kept it alive
                    again &= t.box_ns > 0
                pd[again] *= 1.0 - c.miss_repeat_prob
            t.logit[missed] += np.log1p(-pd[missed])
        t.logit[miss] -= c.existence_unseen_logodds_per_s * dt

    def _stop_frame(self) -> None:
        """The stopped model is on only in a fixed frame (``moving_frame``); the scene's stopped
        share starts again."""
        if self._filter.M == 3:
            self._filter.stop_on = not self.config.moving_frame
        self._forget_stop_share()

    def _forget_stop_share(self) -> None:
        """New tracks start stopped at even odds until this scene's confirmed tracks say otherwise."""
        self._stop_counts = np.zeros(2)  # (stopped, all) confirmed track-frames, forgotten over time
        if self._filter.M == 3:
            self._filter.set_birth_stop_prob(0.5)

    def _clear(self) -> None:
        self._t = TrackTable.empty(self._filter.M, self._filter.n)
        self._stamp_ns: int | None = None
        self._prev_stamp_ns: int | None = None
        self._forget_stop_share()

    def _count_stopped(self, t: TrackTable, dt: float) -> None:
        """The share of new tracks that start stopped is the share stopped among this scene's
        confirmed tracks (Laplace's rule over track-frames forgotten with ``STOP_SHARE_WINDOW_S``):
        in a parking lot most objects stand, on a highway none do, and a fixed prior is wrong in one
        of them (parking_lot 723, `both`: 613 ID switches at even odds, 574 with the scene's share)."""
        c = self._stop_counts
        c *= np.exp(-dt / STOP_SHARE_WINDOW_S)
        conf = t.confirmed
        c += (float((t.mu[conf, 2] > 0.5).sum()), float(conf.sum()))
        self._filter.set_birth_stop_prob((c[0] + 1.0) / (c[1] + 2.0))

    def _pass(
        self, t: TrackTable, m: Measurements, updated: np.ndarray, stamp_ns: int, secondary: bool
    ) -> tuple[TrackTable, np.ndarray]:
        """Associate ``m`` with ``t``, update, start tracks; ``updated`` marks tracks updated this step.

        Two stages (ByteTrack): high-score detections first, then low-score ones with the tracks
        the first stage left unmatched; only high-score detections start tracks (``may_spawn``).
        """
        if m.high.all() or not m.high.any():
            rows, cols, suppressed = self._associate(t, m, updated, secondary, low=not m.high.any())
        else:
            hi, lo = np.flatnonzero(m.high), np.flatnonzero(~m.high)
            r1, c1, s1 = self._associate(t, m.take(hi), updated, secondary)
            taken = np.zeros(len(t), bool)
            taken[r1] = True
            r2, c2, s2 = self._associate(t, m.take(lo), updated, secondary, taken, low=True)
            rows, cols = np.concatenate([r1, r2]), np.concatenate([hi[c1], lo[c2]])
            suppressed = np.zeros(len(m), bool)
            suppressed[hi], suppressed[lo] = s1, s2
        self._update(t, m, rows, cols, stamp_ns, updated)
        updated[rows] = True
        born = np.ones(len(m), bool)
        born[cols] = False
        born &= ~suppressed & m.may_spawn
        if born.any():
            t = t.extend(self._birth(m, np.flatnonzero(born), stamp_ns))
            updated = np.concatenate([updated, np.ones(int(born.sum()), bool)])
        return t, updated

    def _associate(
        self,
        t: TrackTable,
        m: Measurements,
        updated: np.ndarray,
        secondary: bool,
        taken: np.ndarray | None = None,
        low: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matched (track rows, detection cols) and the detections barred from starting a track;
        tracks ``taken`` (already matched in this pass's first stage) are not candidates; ``low``
        (the second stage's low-score detections) gates at ``low_score_gate_prob``."""
        c = self.config
        nt, nd = len(t), len(m)
        suppressed = np.zeros(nd, bool)
        if nt == 0 or nd == 0:
            e = np.zeros(0, np.int64)
            return e, e, suppressed
        x, P = self._filter.combine(t.xm, t.Pm, t.mu)
        labels_t = t.labels()
        stop = self._filter.M == 3
        if c.association == "mahalanobis" or secondary:
            if stop:  # the two-peaked prediction (at rest / moving on) as the mixture it is
                cut = (self._gate_low if low else self._gate)[labels_t]
                d2 = mixture_sq(t.xm, t.Pm, t.mu, P, m.xy, m.R, m.dt, cut)
            elif m.dt.any():  # each detection against its track at the detection's capture time
                d2 = mahalanobis_sq_timed(x[:, :4], P[:, :4, :4], m.xy, m.R, m.dt)
            else:
                d2 = mahalanobis_sq(x[:, :2], P[:, :2, :2], m.xy, m.R)
            allowed = d2 <= (self._gate_low if low else self._gate)[labels_t][:, None]
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
        gated = allowed  # births are suppressed by the position gate (velocity outliers start no track)
        # the velocity a detection measured must fit the track's too, where a sensor measured the
        # track's velocity: one estimated from positions alone lags its zero prior by more than its
        # covariance says (a highway truck's fifth box: -13.8 +- 2.0 m/s against -23.6)
        vm = t.vel_measured
        if (c.association == "mahalanobis" or secondary) and c.velocity_gate and vm.any():
            if (m.has_vel | m.has_radial).any():
                allowed = allowed.copy()
                allowed[vm] &= velocity_gate(
                    x[vm, 2:4],
                    P[vm, 2:4, 2:4],
                    m.vel,
                    m.vel_R,
                    m.has_vel,
                    m.radial,
                    m.los,
                    m.radial_var,
                    m.has_radial,
                    self._gate_prob[labels_t[vm]],
                )
        if taken is not None:
            allowed = allowed & ~taken[:, None]
        dormant = t.dormant(self._logit_delete)
        if dormant.any():  # found again only by a box that could start a track, as a new one is
            allowed = allowed.copy()
            allowed[dormant] &= m.may_spawn[None, :]
        if c.confirmed_first:
            rows, cols = cascade_assignment(cost, allowed, t.confirmed)
        else:
            rows, cols = gated_assignment(cost, allowed)
        if c.suppress_birth_in_gate:
            near = (t.confirmed | updated) if secondary else t.confirmed
            suppressed = gated[near].any(axis=0)
        return rows, cols, suppressed

    def _update(
        self,
        t: TrackTable,
        m: Measurements,
        rows: np.ndarray,
        cols: np.ndarray,
        stamp_ns: int,
        updated: np.ndarray,
    ) -> None:
        """Filter, shape, class and bookkeeping updates of matched tracks, in place."""
        if rows.size == 0:
            return
        c = self.config
        f = self._filter
        has_vel = m.has_vel[cols]
        has_rad = m.has_radial[cols]
        R2 = m.R[cols]  # per matched pair, with the shape slack where it applies
        xy = m.xy[cols]  # per matched pair, at the track's extent where a box measured its near faces
        anchored = np.zeros(rows.size, bool)
        if self._visible_boxes:
            anchored, offset, axes = near_face_offset(t, m, rows, cols)
            if anchored.any():
                xy = xy - offset
                old_sizes = t.sizes[rows[anchored], :2].copy()
        if c.shape_slack and not m.trust_size[cols].all():
            R2 = R2 + shape_slack(t, m, rows, cols)[:, None, None] * np.eye(2)
        # Three batched updates: (x, y); (x, y, vx, vy); (x, y, l'v) for Doppler-only detections.
        # A box captured dt after the frame stamp measures p + v dt (exact in the linear model).
        sel = ~has_vel & ~has_rad
        r, k = rows[sel], cols[sel]
        if r.size:
            H = at_capture_time(self._H_pos, m.dt[k])
            t.xm[r], t.Pm[r], t.mu[r] = f.update(t.xm[r], t.Pm[r], t.mu[r], xy[sel], H, R2[sel])
        r, k = rows[has_vel], cols[has_vel]
        if r.size:
            R4 = np.zeros((r.size, 4, 4))
            R4[:, :2, :2] = R2[has_vel]
            R4[:, 2:, 2:] = m.vel_R[k]
            z4 = np.concatenate([xy[has_vel], m.vel[k]], axis=1)
            H = at_capture_time(self._H_pos_vel, m.dt[k])
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
            z3 = np.column_stack([xy[has_rad], m.radial[k]])
            t.xm[r], t.Pm[r], t.mu[r] = f.update(t.xm[r], t.Pm[r], t.mu[r], z3, H3, R3)

        smooth_shape(t, m, rows, cols, c)
        if anchored.any():  # the centre follows the smoothed extent, the near faces staying put
            ra = rows[anchored]
            grow = t.sizes[ra, :2] - old_sizes
            t.xm[ra, :, :2] += 0.5 * np.einsum("pk,pkj->pj", grow, axes[anchored])[:, None, :]
        if isinstance(f, CVFilter):
            align_yaw_to_velocity(t, rows, f, c)
        vote_class(t, m, rows, cols, c)
        refound = rows[t.dormant(self._logit_delete)[rows]]
        t.logit[rows] = np.minimum(t.logit[rows] + c.existence_hit_logodds * m.scores[cols], self._logit_max)
        t.hits[rows] += 1
        # a dormant lost track starts again as a new one would, keeping its id
        t.logit[refound] = self._logit_birth
        t.hits[refound] = 1
        t.last_update_ns[rows] = stamp_ns
        t.shape_ns[rows[m.trust_size[cols] & m.has_size[cols]]] = stamp_ns
        t.vel_measured[rows] |= has_vel | has_rad
        t.box_ns[rows[m.sensors[cols] != SENSOR_RADAR]] = stamp_ns
        # Sensors that supported the track in this step (several passes OR their masks).
        t.sensors[rows] = np.where(updated[rows], t.sensors[rows] | m.sensors[cols], m.sensors[cols])

    def _birth(self, m: Measurements, idx: np.ndarray, stamp_ns: int) -> TrackTable:
        """Tentative tracks from detections ``idx``, with the next ids (see :func:`birth`)."""
        new = birth(m, idx, stamp_ns, self._next_id, self._filter, self.config)
        self._next_id += idx.size
        if isinstance(self._filter, CVFilter):
            align_yaw_to_velocity(new, np.arange(idx.size), self._filter, self.config)
        return new

    def _output(self, stamp_ns: int) -> Tracks:
        """Confirmed tracks updated within ``output_max_coast_s`` (older ones coast internally)."""
        t = self._t
        t = t.take(t.confirmed & (stamp_ns - t.last_update_ns <= self._output_coast_ns))
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
            coasting=t.last_update_ns < stamp_ns,
        )
