"""The fusion pipeline: synchronise -> ego state -> detect -> track.

The same object runs inside the live node and in offline bag runs, so tests and
evaluation measure exactly what the vehicle runs. It owns no threads and knows
no ROS: the caller pushes decoded sensor data and calls :meth:`step`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .bev.inputs import BevInputs, radar_to_anchor
from .config import FusionConfig
from .core.calibration import Calibration
from .core.classes import SENSOR_CAMERA, SENSOR_LIDAR
from .core.geometry import invert_transform, matrix_to_quat
from .core.types import CameraFrame, Detections, GpsFix, ImuSample, PointCloud, RadarScan, Tracks
from .ego.deskew import deskew_points
from .ego.estimator import EgoEstimator, EgoPose
from .ego.radar_velocity import ObjectBoxes, radar_ego_velocity
from .perception.camera import CameraEvidence
from .perception.lidar import LidarDetector
from .perception.radar import RadarDetector
from .sync.synchronizer import FusionFrame, SensorSpec, Synchronizer
from .timing import StageTimer
from .tracking.tracker import Tracker

log = logging.getLogger(__name__)

NS = 1_000_000_000


@dataclass
class PipelineOutput:
    stamp_ns: int
    tracks: Tracks
    detections: dict[str, Detections]  # source -> detections in the fixed frame
    ego: EgoPose | None
    timing: dict[str, float]  # seconds per stage for this frame
    missing: list[str] = field(default_factory=list)
    sensors_present: list[str] = field(default_factory=list)


def transform_detections(
    det: Detections, T: np.ndarray, frame_id: str, pos_cov_extra: np.ndarray | None = None
):
    """Move detections by a planar-dominant rigid transform (yaw from T's heading)."""
    R = T[:3, :3]
    out = det.select(slice(None))
    out.frame_id = frame_id
    out.centers = det.centers @ R.T + T[:3, 3]
    dyaw = float(np.arctan2(R[1, 0], R[0, 0]))
    out.yaw = det.yaw + dyaw
    R2 = R[:2, :2]
    out.velocity = det.velocity @ R2.T
    if getattr(det, "los", None) is not None:  # radar Doppler measurement: rotate its line of sight
        out.los = det.los @ R2.T
    if det.vel_cov is not None:
        out.vel_cov = np.einsum("ij,njk,lk->nil", R2, det.vel_cov, R2)
    cov = np.einsum("ij,njk,lk->nil", R2, det.pos_cov, R2)
    if pos_cov_extra is not None:
        cov = cov + pos_cov_extra
    out.pos_cov = cov
    return out


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
        det_cfg = cfg.detector
        if calibration.has_frame(cfg["lidar.frame"]):  # NaN sensor_x_m/_y_m: where the sensor sits
            det_cfg = det_cfg.with_sensor_origin(calibration.T_base_from(cfg["lidar.frame"])[:2, 3])
        self.detector = LidarDetector(det_cfg)
        self.camera_evidence = CameraEvidence(calibration, cfg.camera_evidence) if cfg.cameras else None
        self.camera_class_min_prob = cfg.camera_evidence.relabel_min_prob  # camera cue to relabel a box
        self.radar_detector = RadarDetector(cfg.radar_detector) if cfg.radars else None
        self.tracker = Tracker(replace(cfg.tracker, frame_id=self.base_frame))
        self.mode = cfg["detection_mode"]
        self.bev_tap = bev_tap
        self.bev = None
        if self.mode in ("bev", "both") and bev_tap is None:
            from .bev.detector import BevDetector  # torch is imported only when the network runs

            names = [c.name for c in cfg.cameras]
            self.bev = BevDetector(
                calibration,
                names,
                {n: n for n in names},
                cfg.bev,
                self.base_frame,
            )
        self.ego: EgoEstimator | None = None
        if cfg["imu.enabled"]:
            self._ego_args = (
                cfg.ego,
                self._extrinsic(cfg["imu.frame"]),
                self._extrinsic(cfg["gps.frame"]),
            )
            self.ego = EgoEstimator(*self._ego_args)
        rv = cfg.radar_velocity
        # radar Doppler on the static world measures the ego velocity (what IMU + GPS observe worst)
        self.radar_velocity = rv if (rv.enabled and self.ego is not None and cfg.radars) else None
        self._rv_rng = np.random.default_rng(0)  # RANSAC draws: deterministic offline runs
        self.radar_velocity_none = 0  # scans without a static-world consensus
        self.radar_velocity_used = 0  # scans whose estimate went to the filter
        self._object_boxes: ObjectBoxes | None = None
        self.sync = Synchronizer(self._sensor_specs(), cfg["anchor"], int(cfg["jump_threshold_s"] * NS))
        self._extrapolate_max_ns = int(cfg.ego_extrapolation_max_s * NS)
        self._ego_gap_reset_ns = int(cfg.ego_gap_reset_s * NS)
        self.timer = StageTimer()
        self.frame_switches = 0
        self._last_ego_ns: int | None = None
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
        return specs

    # -- input ---------------------------------------------------------------------------------
    def push(self, sensor: str, item: PointCloud | CameraFrame | RadarScan | ImuSample | GpsFix) -> bool:
        """Queue one decoded message for ``sensor`` (a name from the config); False if refused."""
        frame = getattr(item, "frame_id", "")
        if sensor in ("lidar",) or self.sync.kinds.get(sensor) in ("camera", "radar"):
            if frame != self.base_frame and not self.calibration.has_frame(frame):
                self._reject(
                    sensor, "unknown_frame", f"frame_id '{frame}' has no calibration to {self.base_frame}"
                )
                return False
        return self.sync.push(sensor, item.stamp_ns, item)

    def _reject(self, sensor: str, reason: str, text: str) -> None:
        self.rejected[sensor][reason] += 1
        key = f"{sensor}:{reason}"
        if key not in self._warned:  # one line per cause; counts go to diagnostics
            self._warned.add(key)
            log.warning("dropping %s message: %s", sensor, text)

    # -- processing ----------------------------------------------------------------------------
    def step(self) -> list[PipelineOutput]:
        return [self.process(f) for f in self.sync.pop_ready()]

    def flush(self) -> list[PipelineOutput]:
        return [self.process(f) for f in self.sync.flush()]

    def reset(self) -> None:
        self.tracker.reset()
        if self.ego is not None:
            self.ego.reset()

    def process(self, frame: FusionFrame) -> PipelineOutput:
        t = self.timer
        t.start_frame()
        stamp = frame.stamp_ns
        with t.stage("total"):
            if frame.reset:
                log.warning("time jumped backwards: tracker and ego filter reset")
                self.reset()
            pose = None
            with t.stage("ego"):
                if self.ego is not None:
                    for s in frame.series_of_kind("imu"):
                        self.ego.add_imu(s)
                    for g in frame.series_of_kind("gps"):
                        self.ego.add_gps(g)
                    pose = self.ego.pose_at(stamp)
                    if pose is None:  # frame newer than the filter (IMU late): extrapolate briefly
                        pose = extrapolated_pose(self.ego.latest(), stamp, self._extrapolate_max_ns)
                    if pose is not None and self.ego.yaw_aligned:
                        self._last_ego_ns = stamp
            # Tracks live in the fixed frame once the ego filter has a heading; until then (or with
            # no IMU/GPS at all) they are kept, and labelled, in the base frame; a switch resets them.
            use_ego = pose is not None and self.ego is not None and self.ego.yaw_aligned
            # a short ego gap (late IMU) coasts the tracks instead of throwing them away
            coast = (
                not use_ego
                and self.tracker.config.frame_id == self.fixed_frame
                and self._last_ego_ns is not None
                and stamp - self._last_ego_ns < self._ego_gap_reset_ns
            )
            detections: dict[str, Detections] = {}
            self._object_boxes = None  # base_link boxes of this frame's object detectors
            if coast:
                with t.stage("track"):
                    tracks = self.tracker.step(stamp, Detections.empty(stamp, self.fixed_frame))
            else:
                tracks = self._detect_and_track(frame, stamp, pose, use_ego, detections)
            if self.radar_velocity is not None:
                # after detection: returns on the detected objects are not the static world; the
                # estimate reaches the filter at the scan's stamp (rollback) and serves the next frames
                with t.stage("radar_velocity"):
                    for scan in frame.of_kind("radar").values():
                        self._add_radar_velocity(scan)
        present = [frame.anchor, *frame.matched.keys()]
        ego_out = pose if use_ego else None  # no odometry until the heading is known
        return PipelineOutput(stamp, tracks, detections, ego_out, t.end_frame(), list(frame.missing), present)

    def _detect_and_track(
        self, frame: FusionFrame, stamp: int, pose: EgoPose | None, use_ego: bool, detections: dict
    ) -> Tracks:
        t = self.timer
        frame_id = self.fixed_frame if use_ego else self.base_frame
        if frame_id != self.tracker.config.frame_id:
            log.warning(
                "tracking frame changes to '%s' (ego %s): tracks reset",
                frame_id,
                "aligned" if use_ego else "unavailable",
            )
            self.tracker.reset(frame_id)
            self.frame_switches += 1
        T_world_base = pose.T_world_base() if use_ego else np.eye(4)
        pos_extra = pose.pose_cov[:2, :2][None] if use_ego else None
        ego_pose = pose if use_ego else None
        classical = self.mode in ("classical", "both") and self.bev_tap is None
        lidar = frame.of_kind("lidar")
        clouds = {name: self._lidar_points(c, stamp, ego_pose) for name, c in lidar.items()}
        boxes: list[Detections] = []
        if classical:
            for name, (xyz, _inten) in clouds.items():
                cloud = lidar[name]
                times = None
                if cloud.time_offset is not None:  # each point's capture time relative to the frame stamp
                    times = cloud.time_offset + np.float32((cloud.stamp_ns - stamp) / NS)
                det = self._detect_lidar(xyz, stamp, times)
                boxes.append(det)
                detections[name] = transform_detections(det, T_world_base, frame_id, pos_extra)
            cams = frame.of_kind("camera")
            if self.camera_evidence is not None and cams and detections:
                with t.stage("camera_evidence"):
                    for det in detections.values():
                        self._apply_camera(det, cams, T_world_base)
            for name, scan in frame.of_kind("radar").items():
                detections[name] = self._detect_radar(scan, stamp, ego_pose, frame_id)
        if self.mode == "both" and self.bev is not None:
            # the network covers its grid; the classical detectors the rest (no duplicates at once)
            for name, det in detections.items():
                detections[name] = det.select(~self._in_bev_grid(det, T_world_base))
        to_track = list(detections.values())
        if self.bev is not None or self.bev_tap is not None:
            with t.stage("bev_inputs"):
                inputs = self._bev_inputs(frame, stamp, ego_pose, clouds)
            if self.bev_tap is not None:
                self.bev_tap(inputs)
            else:
                with t.stage("bev"):
                    det_base = self.bev.detect(inputs)
                    det = transform_detections(det_base, T_world_base, frame_id, pos_extra)
                boxes.append(det_base.select(det_base.scores >= self.bev.config.track_min_score))
                for k, v in self.bev.last_timing.items():
                    t.add(f"bev_{k}", v)
                if self.mode == "both":
                    det = det.select(self._in_bev_grid(det, T_world_base))
                detections["bev"] = det  # published from score_threshold, tracked from track_min_score
                to_track.append(det.select(det.scores >= self.bev.config.track_min_score))
        if boxes:
            self._object_boxes = ObjectBoxes(
                np.concatenate([b.centers[:, :2] for b in boxes]),
                np.concatenate([b.sizes[:, :2] for b in boxes]),
                np.concatenate([b.yaw for b in boxes]),
            )
        merged = _concat(to_track, stamp, frame_id)
        with t.stage("track"):
            return self.tracker.step(stamp, merged)

    def _lidar_points(
        self, cloud: PointCloud, stamp: int, pose: EgoPose | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Sweep points in base_link at ``stamp`` (deskewed when the ego pose is known), intensity."""
        with self.timer.stage("lidar_transform"):
            T_base_lidar = (
                self.calibration.T_base_from(cloud.frame_id)
                if cloud.frame_id != self.base_frame
                else np.eye(4)
            )
            if cloud.time_offset is not None and pose is not None and self.ego is not None:
                xyz_l = deskew_points(
                    cloud.xyz,
                    cloud.time_offset,
                    cloud.stamp_ns,
                    T_base_lidar,
                    lambda ts: self._pose_fn(ts, pose),
                    stamp,
                )
            else:
                xyz_l = cloud.xyz
            R = T_base_lidar[:3, :3].astype(np.float32)
            return xyz_l @ R.T + T_base_lidar[:3, 3].astype(np.float32), cloud.intensity

    def _detect_lidar(self, xyz: np.ndarray, stamp: int, times: np.ndarray | None = None) -> Detections:
        t = self.timer
        with t.stage("lidar_detect"):
            det = self.detector.detect(xyz, stamp, self.base_frame, times)
        for k, v in getattr(self.detector, "last_timing", {}).items():
            t.add(f"lidar_{k}", v)
        det.sensors = np.full(len(det), SENSOR_LIDAR, dtype=np.uint8)
        return det

    def _bev_inputs(self, frame: FusionFrame, stamp: int, pose: EgoPose | None, clouds: dict) -> BevInputs:
        """The network's view of this frame; radar needs the ego twist (Doppler compensation)."""
        inputs = BevInputs(stamp, cameras=frame.of_kind("camera"), ego_known=pose is not None)
        if clouds:
            parts = list(clouds.values())
            inputs.lidar_xyz = np.concatenate([p[0] for p in parts])
            if all(p[1] is not None for p in parts):
                inputs.lidar_intensity = np.concatenate([p[1] for p in parts])
        scans = frame.of_kind("radar")
        if scans and pose is not None:
            T_anchor_world = invert_transform(pose.T_world_base())
            v_base = T_anchor_world[:3, :3] @ np.asarray(pose.velocity, dtype=np.float64)
            items = [
                (
                    s,
                    self.calibration.T_base_from(s.frame_id),
                    T_anchor_world @ self._pose_fn(s.stamp_ns, pose),
                )
                for s in scans.values()
            ]
            (inputs.radar_xyz, inputs.radar_doppler, inputs.radar_los, inputs.radar_rcs) = radar_to_anchor(
                items, v_base, float(pose.angular_velocity[2])
            )
        return inputs

    def _apply_camera(self, det: Detections, cams: dict, T_world_base: np.ndarray) -> None:
        """Relabel boxes the cameras see clearly and mark them camera-supported (in place)."""
        cues = self.camera_evidence.annotate(det, cams, T_world_base)
        best = cues.class_probs.argmax(axis=1)
        p = cues.class_probs[np.arange(len(det)), best]
        sure = cues.visible & (p >= self.camera_class_min_prob)
        det.labels = np.where(sure, best, det.labels).astype(np.int64)
        det.sensors = np.where(cues.visible, det.sensors | SENSOR_CAMERA, det.sensors).astype(np.uint8)

    def _detect_radar(self, scan: RadarScan, stamp: int, pose: EgoPose | None, frame_id: str) -> Detections:
        """Radar detections in the tracking frame, moved from the scan's stamp to the anchor stamp."""
        t = self.timer
        with t.stage("radar_detect"):
            T_base_radar = self.calibration.T_base_from(scan.frame_id)
            if pose is not None:
                T_wb = self._pose_fn(scan.stamp_ns, pose)
                v_base = T_wb[:3, :3].T @ np.asarray(pose.velocity, dtype=np.float64)
                yaw_rate = float(pose.angular_velocity[2])
            else:
                T_wb, v_base, yaw_rate = np.eye(4), np.zeros(3), 0.0
            det = self.radar_detector.detect(scan, T_base_radar, v_base, yaw_rate, self.base_frame)
            out = transform_detections(det, T_wb, frame_id)
            dt = (stamp - scan.stamp_ns) / NS  # scan time -> anchor time at the measured velocity
            moving = np.isfinite(out.velocity).all(axis=1)
            out.centers[moving, :2] += out.velocity[moving] * dt
        for k, v in self.radar_detector.last_timing.items():
            t.add(f"radar_{k}", v)
        return out

    def _in_bev_grid(self, det: Detections, T_world_base: np.ndarray) -> np.ndarray:
        """Which detections (in the tracking frame) lie inside the BEV grid, bev.edge_margin_m in."""
        p = (det.centers - T_world_base[:3, 3]) @ T_world_base[:3, :3]  # -> base_link
        g, m = self.bev.grid, self.bev.config.edge_margin_m
        return (
            (p[:, 0] > g.x_min_m + m)
            & (p[:, 0] < g.x_max_m - m)
            & (p[:, 1] > g.y_min_m + m)
            & (p[:, 1] < g.y_max_m - m)
        )

    def _add_radar_velocity(self, scan: RadarScan) -> None:
        """Ego velocity from the scan's static returns, fused at the scan's stamp."""
        latest = self.ego.latest()
        if latest is None or not self.calibration.has_frame(scan.frame_id) or len(scan) == 0:
            return
        rv = self.radar_velocity
        if rv.exclude_objects and self._object_boxes is None:
            self.radar_velocity_none += 1  # no detector ran: objects cannot be told from the world
            return
        T = self.calibration.T_base_from(scan.frame_id)
        yaw_rate = float(latest.angular_velocity[2])
        est = radar_ego_velocity(
            scan.xyz,
            scan.radial_velocity,
            T,
            yaw_rate,
            rv,
            self._rv_rng,
            self._object_boxes if rv.exclude_objects else None,
        )
        if est is None:
            self.radar_velocity_none += 1
            return
        v, cov = est
        C = np.full((3, 3), np.nan)
        C[:2, :2] = cov
        self.radar_velocity_used += 1
        self.ego.add_body_velocity(scan.stamp_ns, np.array([v[0], v[1], np.nan]), C)

    def _pose_fn(self, stamp_ns: int, anchor_pose: EgoPose) -> np.ndarray:
        """Ego pose for deskewing; past the filter's window, extrapolate at constant twist."""
        T = self.ego.T_world_base_at(stamp_ns) if self.ego is not None else None
        return T if T is not None else extrapolate_pose(anchor_pose, stamp_ns)

    def warm_up(self) -> None:
        """Compile (or load from cache) every numba kernel and run the network once before live data.

        A cold cache costs tens of seconds of compiling on the first frame, during which
        a live node would drop sweeps. Runs on throwaway copies; this pipeline's state is untouched.
        """
        self.detector.warm_up()
        if self.bev is not None:
            self.bev.warm_up()
        if self.radar_detector is not None:
            self.radar_detector.warm_up()
        if self.ego is None:
            return
        ego = EgoEstimator(*self._ego_args)
        lat, lon, alt = ego.datum if ego.datum is not None else (48.0, 11.0, 500.0)
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

    def diagnostics(self) -> dict[str, Any]:
        ego = dict(getattr(self.ego, "counters", {})) if self.ego is not None else None
        if ego is not None and self.radar_velocity is not None:
            ego["radar_velocity_scans_used"] = self.radar_velocity_used
            ego["radar_velocity_scans_without_estimate"] = self.radar_velocity_none
        return {
            "sync": self.sync.stats(),
            "rejected": {k: dict(v) for k, v in self.rejected.items()},
            "timing_ms": self.timer.summary_ms(),
            "ego": ego,
        }


def extrapolated_pose(pose: EgoPose | None, stamp_ns: int, max_ns: int) -> EgoPose | None:
    """``pose`` carried to ``stamp_ns`` at constant velocity and yaw rate, if at most ``max_ns`` ahead."""
    if pose is None or not 0 <= stamp_ns - pose.stamp_ns <= max_ns:
        return None
    T = extrapolate_pose(pose, stamp_ns)
    return replace(pose, stamp_ns=stamp_ns, position=T[:3, 3].copy(), quaternion=matrix_to_quat(T[:3, :3]))


def extrapolate_pose(pose: EgoPose, stamp_ns: int) -> np.ndarray:
    """T_world_base at ``stamp_ns`` assuming constant velocity and yaw rate since ``pose``."""
    dt = (stamp_ns - pose.stamp_ns) / NS
    T = pose.T_world_base().copy()
    dyaw = float(pose.angular_velocity[2]) * dt
    c, s = np.cos(dyaw), np.sin(dyaw)
    T[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ T[:3, :3]
    T[:3, 3] += np.asarray(pose.velocity, dtype=np.float64) * dt
    return T


def _concat(dets: list[Detections], stamp: int, frame_id: str) -> Detections:
    if not dets:
        return Detections.empty(stamp, frame_id)
    if len(dets) == 1:
        return dets[0]
    cat = Detections.empty(stamp, frame_id)
    for name in ("centers", "sizes", "yaw", "labels", "scores", "velocity", "pos_cov", "sensors"):
        setattr(cat, name, np.concatenate([getattr(d, name) for d in dets]))
    if any(d.vel_cov is not None for d in dets):  # unmeasured velocity: NaN rows carry a huge covariance
        big = np.eye(2) * 1e6
        cat.vel_cov = np.concatenate(
            [d.vel_cov if d.vel_cov is not None else np.broadcast_to(big, (len(d), 2, 2)) for d in dets]
        )
    # radar Doppler measurements (radial speed along a line of sight; rows without one get NaN) and
    # capture times (rows without one were captured at the stamp)
    for name, fill, shape in (
        ("radial", np.nan, ()),
        ("los", 0.0, (2,)),
        ("radial_var", np.inf, ()),
        ("radial_only", False, ()),
        ("time_offset_s", 0.0, ()),
    ):
        if any(getattr(d, name, None) is not None for d in dets):
            parts = []
            for d in dets:
                v = getattr(d, name, None)
                parts.append(v if v is not None else np.full((len(d), *shape), fill))
            setattr(cat, name, np.concatenate(parts))
    return cat
