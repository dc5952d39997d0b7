"""The fusion pipeline: synchronise -> ego state -> detect -> track.

The same object runs inside the live node and in offline bag runs, so tests and
evaluation measure exactly what the vehicle runs. It owns no threads and knows
no ROS: the caller pushes decoded sensor data and calls :meth:`step` (or takes the
ready frames with :meth:`ready_frames` and runs :meth:`process` on each itself).

Composition only: the ego glue is :class:`~.ego.frame_ego.EgoSource` (pose at the frame,
the tracking frame, coasting, radar ego velocity), per-frame detection
:class:`~.perception.frame_detector.FrameDetector` (in base_link); the detections are
transformed once, into the tracking frame, just before the tracker.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .bev.inputs import BevInputs
from .config import FusionConfig
from .core.calibration import Calibration
from .core.classes import SENSOR_BEV, SENSOR_LIDAR
from .core.types import CameraFrame, Detections, GpsFix, ImuSample, PointCloud, RadarScan, Tracks
from .ego.estimator import EgoEstimator, EgoPose
from .ego.frame_ego import EgoSource, FrameEgo, extrapolate
from .ego.odom import EgoOutput
from .perception.camera import CameraEvidence
from .perception.frame_detector import FrameDetector
from .perception.lidar import LidarDetector, StructureMap
from .perception.radar import RadarDetector
from .sync.synchronizer import FusionFrame, SensorSpec, Synchronizer
from .timing import StageTimer
from .tracking.tracker import SensorView, Tracker

log = logging.getLogger(__name__)

NS = 1_000_000_000
EGO_KINDS = ("imu", "gps", "wheel_odom", "gps_velocity")  # fed to the ego filter in arrival order
NO_SYNC_STATS = {  # ego only: no synchroniser
    "received": {},
    "dropped": {},
    "missing": {},
    "frames": 0,
    "resets": 0,
    "anchor": "",
    "anchor_changes": 0,
}
# Tracks at most this old are carried into odom at the heading alignment: the ego pose is
# extrapolated back to their stamp at constant velocity and yaw rate, within a few frames' accuracy.
CARRY_MAX_GAP_NS = 500_000_000
EGO_OUTPUT_QUEUE = 4096  # odometry outputs kept for take_ego_outputs (2 min at 30 Hz)
# The LiDAR detector's structure cells for RViz, taken again at most this often: up to ~1 ms for
# 15k cells (a block's streets), and a display needs no more than once a second
STRUCTURE_MAP_PERIOD_NS = 1_000_000_000


@dataclass
class PipelineOutput:
    stamp_ns: int
    tracks: Tracks
    detections: dict[str, Detections]  # source -> detections in the tracking frame
    ego: EgoPose | None  # in the tracking frame (odom); None until the ego heading is known
    timing: dict[str, float]  # seconds per stage for this frame
    missing: list[str] = field(default_factory=list)
    sensors_present: list[str] = field(default_factory=list)
    structure: StructureMap | None = None  # the LiDAR detector's static structure cells (RViz)


class FusionPipeline:
    """``bev_tap``: when given, each frame's BEV network inputs go to it and nothing is detected
    (how training data is recorded through exactly the code the node runs)."""

    def __init__(
        self,
        cfg: FusionConfig,
        calibration: Calibration,
        bev_tap: Callable[[BevInputs], None] | None = None,
    ):
        self.cfg = cfg
        self.calibration = calibration
        self.fixed_frame = cfg["fixed_frame"]
        self.base_frame = cfg["base_frame"]
        self.timer = StageTimer()
        det_cfg = cfg.detector
        if calibration.has_frame(cfg["lidar.frame"]):  # NaN sensor_x/y/z_m: where the sensor sits
            det_cfg = det_cfg.with_sensor_origin(calibration.T_base_from(cfg["lidar.frame"])[:3, 3])
        camera_evidence = CameraEvidence(calibration, cfg.camera_evidence) if cfg.cameras else None
        radar_detector = RadarDetector(cfg.radar_detector) if cfg.radars else None
        mode = cfg["detection_mode"]
        bev = None
        if mode in ("bev", "both") and bev_tap is None:
            from .bev.detector import BevDetector  # torch is imported only when the network runs

            names = [c.name for c in cfg.cameras]
            bev = BevDetector(
                calibration,
                names,
                {n: n for n in names},
                cfg.bev,
                self.base_frame,
                # the radar's Doppler noise and the ego velocity's (its fallback std, not the
                # filter's covariance: the box's velocity covariance, >= 0.5 m/s, dominates the test)
                doppler_std_mps=math.hypot(
                    cfg["radar_detector.doppler_std_mps"], cfg["radar_detector.ego_velocity_std_mps"]
                ),
                ground=det_cfg,  # its ground model says which boxes are road
            )
        g = bev.grid if bev is not None else None
        self._bev_radius_m = (
            float(min(-g.x_min_m, g.x_max_m, -g.y_min_m, g.y_max_m)) if g is not None else 0.0
        )
        self.detector = FrameDetector(
            calibration,
            self.base_frame,
            mode,
            LidarDetector(det_cfg),
            camera_evidence,
            radar_detector,
            bev,
            bev_tap,
            self.timer,
        )
        trk_cfg = replace(cfg.tracker, frame_id=self.base_frame, moving_frame=True)
        if mode in ("classical", "both"):  # LIDAR detections are the classical detector's: it says
            # what its scores and boxes are (the library defaults, probability and object, are for a
            # learned detector's)
            trk_cfg = replace(
                trk_cfg,
                score_map={**trk_cfg.score_map, "LIDAR": det_cfg.score_kind},
                box_extent={**trk_cfg.box_extent, "LIDAR": det_cfg.box_extent},
            )
        self.tracker = Tracker(trk_cfg)
        lidar_frame = cfg["lidar.frame"]
        self._lidar_xy = (
            calibration.T_base_from(lidar_frame)[:2, 3].copy()
            if calibration.has_frame(lidar_frame)
            else np.zeros(2)
        )
        new_estimator = None
        if cfg["imu.enabled"]:
            ego_args = (
                cfg.ego,
                self._extrinsic(cfg["imu.frame"]),
                self._extrinsic(cfg["gps.frame"]),
            )

            def new_estimator() -> EgoEstimator:
                return EgoEstimator(*ego_args)

        rv = cfg.radar_velocity
        self.ego = EgoSource(
            new_estimator,
            self.fixed_frame,
            self.base_frame,
            calibration,
            rv if (rv.enabled and cfg.radars) else None,
            max_extrapolation_ns=int(round(cfg.ego_extrapolation_max_s * NS)),
            gap_coast_ns=int(round(cfg.ego_gap_reset_s * NS)),
            T_base_wheel=self._extrinsic(cfg["wheel_odom.frame"]),
            odometry_period_ns=max(1, int(round(NS / cfg.odometry_rate_hz))),
            jump_threshold_ns=int(cfg["jump_threshold_s"] * NS),
        )
        specs = self._sensor_specs()
        self._kinds = {s.name: s.kind for s in specs}
        fallback = [
            sp.name for sp in specs if sp.kind in ("lidar", "camera", "radar") and sp.name != cfg["anchor"]
        ]
        # no LiDAR, camera or radar: an ego-only node (odometry and TF, no detection frames)
        self._sync = (
            Synchronizer(
                specs,
                cfg["anchor"],
                int(cfg["jump_threshold_s"] * NS),
                int(round(cfg["forward_jump_threshold_s"] * NS)),
                fallback=fallback,
                anchor_timeout_ns=int(round(cfg.anchor_timeout_s * NS)),
            )
            if cfg.detection_sensors
            else None
        )
        self._anchor_changes_seen = 0
        self._ego_in: list[tuple[str, ImuSample | GpsFix]] = []  # fed to the filter by step_ego
        self._ego_out: deque[EgoOutput] = deque(maxlen=EGO_OUTPUT_QUEUE)
        self.odometry_outputs = 0
        if self._sync is None:
            log.info("no LiDAR, camera or radar configured: ego only (odometry and TF)")
        self.frame_switches = 0
        self._structure_map: StructureMap | None = None  # the last taken (STRUCTURE_MAP_PERIOD_NS)
        self._structure_map_ns: int | None = None
        self.rejected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._warned: set[str] = set()

    # -- configuration -------------------------------------------------------------------------
    def _extrinsic(self, frame: str) -> np.ndarray:
        return self.calibration.T_base_from(frame) if self.calibration.has_frame(frame) else np.eye(4)

    def _sensor_specs(self) -> list[SensorSpec]:
        c = self.cfg
        specs = []
        if c["lidar.enabled"]:
            tol, wait = int(c.lidar.tolerance_s * NS), int(c.lidar.timeout_s * NS)
            specs.append(SensorSpec("lidar", "lidar", "nearest", tol, 0, wait, c.lidar.buffer_size))
        for sensor, kind in [(cam, "camera") for cam in c.cameras] + [(rad, "radar") for rad in c.radars]:
            tol, off, wait = (int(v * NS) for v in (sensor.tolerance_s, sensor.offset_s, sensor.timeout_s))
            specs.append(SensorSpec(sensor.name, kind, "nearest", tol, off, wait, sensor.buffer_size))
        if c["imu.enabled"]:
            wait = int(c.imu.timeout_s * NS)
            specs.append(SensorSpec("imu", "imu", "interval", 0, 0, wait, c.imu.buffer_size))
        if c["gps.enabled"]:
            wait = int(c.gps.timeout_s * NS)
            specs.append(SensorSpec("gps", "gps", "interval", 0, 0, wait, c.gps.buffer_size))
        for name in ("wheel_odom", "gps_velocity"):  # ego-filter inputs like the GNSS fixes
            if c[f"{name}.enabled"]:
                sec = getattr(c, name)
                wait = int(sec.timeout_s * NS)
                specs.append(SensorSpec(name, name, "interval", 0, 0, wait, sec.buffer_size))
        return specs

    # -- input ---------------------------------------------------------------------------------
    def push(self, sensor: str, item: PointCloud | CameraFrame | RadarScan | ImuSample | GpsFix) -> bool:
        """Queue one decoded message for ``sensor`` (a name from the config); False if refused.

        IMU and GNSS samples also go to the ego filter in arrival order (:meth:`step_ego`)."""
        frame = getattr(item, "frame_id", "")
        kind = self._kinds.get(sensor)
        if kind in EGO_KINDS:
            self._ego_in.append((kind, item))
            # the frames keep their IMU/GNSS intervals: the synchroniser's data time and timeouts
            # are as before; the filter no longer reads them from the frames
            return True if self._sync is None else self._sync.push(sensor, item.stamp_ns, item)
        if self._sync is None:
            return False
        if sensor in ("lidar",) or kind in ("camera", "radar"):
            if frame != self.base_frame and not self.calibration.has_frame(frame):
                self._reject(
                    sensor, "unknown_frame", f"frame_id '{frame}' has no calibration to {self.base_frame}"
                )
                return False
        return self._sync.push(sensor, item.stamp_ns, item)

    def _reject(self, sensor: str, reason: str, text: str) -> None:
        self.rejected[sensor][reason] += 1
        key = f"{sensor}:{reason}"
        if key not in self._warned:  # one line per cause; counts go to diagnostics
            self._warned.add(key)
            log.warning("dropping %s message: %s", sensor, text)

    # -- processing ----------------------------------------------------------------------------
    @property
    def sensor_kinds(self) -> dict[str, str]:
        """Configured sensor name -> kind (lidar, camera, radar, imu, gps, wheel_odom, gps_velocity)."""
        return dict(self._kinds)

    def ready_frames(self, flush: bool = False) -> list[FusionFrame]:
        """The frames complete now (with ``flush``: every pending one, for the end of the input
        or an idle input), for :meth:`process`; a caller that pushes from other threads takes
        them under its lock and processes them outside it."""
        if self._sync is None:
            return []
        return self._sync.flush() if flush else self._sync.pop_ready()

    def take_ego_inputs(self) -> list[tuple[str, ImuSample | GpsFix]]:
        """The IMU/GNSS samples pushed since the last call (for :meth:`step_ego`; a caller that
        pushes from other threads takes them under its lock)."""
        items, self._ego_in = self._ego_in, []
        return items

    def step_ego(self, items: list[tuple[str, ImuSample | GpsFix]] | None = None) -> list[EgoOutput]:
        """Feed the pushed IMU/GNSS samples (or ``items``) to the filter; the odometry outputs
        whose grid stamps it passed (also kept for :meth:`take_ego_outputs`)."""
        items = self.take_ego_inputs() if items is None else items
        if not items:
            return []
        t0 = time.perf_counter()
        outs = self.ego.feed(items)
        self.timer.observe("ego_feed", time.perf_counter() - t0)
        self._ego_out.extend(outs)
        self.odometry_outputs += len(outs)
        return outs

    def take_ready(
        self, idle: bool = False
    ) -> tuple[list[tuple[str, ImuSample | GpsFix]], list[FusionFrame]]:
        """The ego samples and the complete frames to fuse now; with ``idle`` (no input for
        ``idle_flush_s``) every pending frame when none is complete. A caller that pushes from other
        threads takes them under its lock and hands them to :meth:`fuse` outside it."""
        ego_in, frames = self.take_ego_inputs(), self.ready_frames()
        if not frames and idle:
            frames = self.ready_frames(flush=True)
        return ego_in, frames

    def fuse(
        self,
        ego_in: list[tuple[str, ImuSample | GpsFix]],
        frames: list[FusionFrame],
        on_ego: Callable[[EgoOutput], None],
        on_frame: Callable[[PipelineOutput], None],
    ) -> None:
        """What the live node does with :meth:`take_ready`'s items: the ego filter first (odometry at
        its own rate, each output to ``on_ego``), then the frames that read its history (each
        output to ``on_frame``)."""
        for e in self.step_ego(ego_in):
            on_ego(e)
        self.take_ego_outputs()  # handed to on_ego above
        for f in frames:
            on_frame(self.process(f))

    def take_ego_outputs(self) -> list[EgoOutput]:
        """Odometry outputs produced by :meth:`step` / :meth:`flush` since the last call (the
        newest ``EGO_OUTPUT_QUEUE`` if nobody takes them)."""
        outs = list(self._ego_out)
        self._ego_out.clear()
        return outs

    def step(self) -> list[PipelineOutput]:
        self.step_ego()  # the filter first: frames take their pose from its history
        return [self.process(f) for f in self.ready_frames()]

    def flush(self) -> list[PipelineOutput]:
        self.step_ego()
        return [self.process(f) for f in self.ready_frames(flush=True)]

    def reset(self, stamp_ns: int | None = None) -> None:
        """A time jump: forget tracks and (unless it followed the jump) the ego filter. Track ids
        keep increasing: the UUIDs downstream derive from them and must not name a new object."""
        self.tracker.reset(self.tracker.config.frame_id)
        self.ego.reset(stamp_ns)

    def _change_tracking_frame(self, ego: FrameEgo) -> None:
        """Tracks move to ``ego.frame_id``: carried over when the heading has just become known
        (``tracker.keep_tracks_on_frame_change``; base_link at the tracks' stamp placed in odom by
        the ego's pose, velocity and yaw rate), else reset (ids keep increasing)."""
        tr = self.tracker
        old, t_prev = tr.config.frame_id, tr.stamp_ns
        T = None
        if tr.config.keep_tracks_on_frame_change and ego.pose is not None and t_prev is not None:
            T = extrapolate(ego.pose, t_prev, CARRY_MAX_GAP_NS)
        if T is not None and old == self.ego.base_frame:
            n = tr.num_tracks
            tr.change_frame(ego.frame_id, T, ego.pose.velocity, float(ego.pose.angular_velocity[2]))
            log.warning(
                "tracking frame changes to '%s' (ego aligned): %d tracks carried over", ego.frame_id, n
            )
        else:
            log.warning(
                "tracking frame changes to '%s' (ego %s): tracks reset",
                ego.frame_id,
                "aligned" if ego.pose is not None else "unavailable",
            )
            tr.reset(ego.frame_id)  # ids keep increasing
        self.frame_switches += 1

    def process(self, frame: FusionFrame) -> PipelineOutput:
        t = self.timer
        t.start_frame()
        stamp = frame.stamp_ns
        cpu0 = time.thread_time()  # beside the wall time: waiting (for a core, for the GIL) is not CPU
        with t.stage("total"):
            if frame.reset:  # one line per jump; counts in diagnostics()["sync"]["time_jumps"]
                log.warning(
                    "time jumped %s by %.3f s at stamp %d: synchroniser, tracker and ego filter reset",
                    "backwards" if frame.jump_ns < 0 else "forwards",
                    abs(frame.jump_ns) / NS,
                    stamp,
                )
                self.reset(stamp)
            changes = self._sync.anchor_changes if self._sync is not None else []
            for _t, old_anchor, new_anchor in changes[self._anchor_changes_seen :]:
                if new_anchor == self._sync.primary:
                    log.warning("anchor '%s' publishes again: frames anchored on it", new_anchor)
                else:
                    log.warning(
                        "anchor '%s' silent for %.1f s: frames anchored on '%s'",
                        old_anchor,
                        self.cfg.anchor_timeout_s,
                        new_anchor,
                    )
            self._anchor_changes_seen = len(changes)
            tracking_frame = self.tracker.config.frame_id
            with t.stage("ego"):
                ego = self.ego.frame(stamp, (), (), tracking_frame)  # IMU/GNSS: step_ego
            if ego.frame_id != tracking_frame:
                self._change_tracking_frame(ego)
            found = None
            if ego.coast:  # a short ego gap: predict the tracks, detect nothing
                detections, tracked = {}, Detections.empty(stamp, ego.frame_id)
            else:
                found = self.detector.detect(frame, ego)
                # The ego position's uncertainty only: the tracking frame's (odom's) heading
                # integrates the gyro (ego/odom.py), so the filter's heading uncertainty against
                # the map is one slowly varying rotation of every box of every frame, not an error
                # of each box; ego_pose_cov_at's heading term (range times the heading std, 1.4 m
                # at 40 m for 2 degrees) only widened far gates: without it the intersection's 8 s
                # bag has 14 false positives, not 45, and MOTA 0.45, not 0.37 (docs/detection-tracking.md)
                detections, tracked = found.to_frame(ego.T_world_base, ego.frame_id, ego.pos_cov_extra)
            with t.stage("track"):
                views = self._views(frame, ego.T_world_base) if found is not None else []
                tracks = self.tracker.step(stamp, tracked, views)
            if self.ego.radar_velocity is not None:
                # after detection: returns on the detected objects are not the static world
                with t.stage("radar_velocity"):
                    scans = frame.of_kind("radar").values()
                    self.ego.add_radar_velocity(scans, found.objects if found is not None else None)
            taken = self._structure_map_ns
            if taken is None or not 0 <= stamp - taken < STRUCTURE_MAP_PERIOD_NS:
                self._structure_map, self._structure_map_ns = self.detector.lidar.structure_map(), stamp
            structure = self._structure_map
        t.add("total_cpu", time.thread_time() - cpu0)
        present = [frame.anchor, *frame.matched.keys()]
        missing = list(frame.missing)
        return PipelineOutput(stamp, tracks, detections, ego.pose, t.end_frame(), missing, present, structure)

    def _views(self, frame: FusionFrame, T_world_base: np.ndarray) -> list[SensorView]:
        """What this frame's detectors could see, in the tracking frame, for the tracker's existence.

        The LiDAR detector (and the BEV network on it) sees all around its mounting, between its
        range limits (the detector's ``range_min_m``/``range_max_m``; the network: the largest
        circle inside its grid). No LiDAR sweep in the frame: no view, so no miss evidence.
        Radar and camera views are not given: their detection_prob is 0 by default (see the
        tracker's parameters).
        """
        if not frame.of_kind("lidar"):
            return []
        origin = T_world_base[:2, :2] @ self._lidar_xy + T_world_base[:2, 3]
        o = (float(origin[0]), float(origin[1]))
        mode = self.cfg["detection_mode"]
        views = []
        if mode in ("classical", "both"):
            d = self.cfg.detector
            views.append(
                SensorView(SENSOR_LIDAR, o, 0.0, math.pi, float(d.range_max_m), float(d.range_min_m))
            )
        if self._bev_radius_m > 0.0:
            views.append(SensorView(SENSOR_BEV, o, 0.0, math.pi, self._bev_radius_m))
        return views

    def warm_up(self) -> None:
        """Compile (or load from cache) every numba kernel and run the network once before live data.

        A cold cache costs tens of seconds of compiling on the first frame, during which
        a live node would drop sweeps. Runs on throwaway copies; this pipeline's state is untouched.
        """
        self.detector.warm_up()
        self.ego.warm_up()

    def diagnostics(self) -> dict[str, Any]:
        return {
            "sync": self._sync.stats() if self._sync is not None else NO_SYNC_STATS,
            "rejected": {k: dict(v) for k, v in self.rejected.items()},
            "radar": {k: dict(v) for k, v in self.detector.radar_counts.items()},
            "structure": {
                "memory_cells": self.detector.lidar.structure_cells,
                "vote_cells": self.detector.lidar.structure_vote_cells,
                "bev_boxes_dropped": self.detector.bev_boxes_on_structure,
            },
            "bev": {
                "velocities_refuted": self.detector.bev.velocities_refuted if self.detector.bev else 0,
                "road_boxes_dropped": self.detector.bev.road_boxes_dropped if self.detector.bev else 0,
            },
            "timing_ms": self.timer.summary_ms(),
            "ego": self.ego.diagnostics(),
            "odometry": self.odometry_outputs,
            "detection_frames": self._sync is not None,
        }
