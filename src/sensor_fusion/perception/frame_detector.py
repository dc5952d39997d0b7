"""Every detector on one fusion frame: boxes in base_link at the frame stamp.

LiDAR sweeps are moved into base_link at the frame stamp (deskewed with the ego motion once the
pose is known). The classical detectors (LiDAR boxes, relabelled where a camera sees their class
clearly; radar Doppler objects, moved from their scan's stamp to the frame stamp by the ego
motion and their own velocity) and/or the BEV network run on that. In ``both`` mode the network
covers its grid less ``bev.edge_margin_m`` and the classical detectors the rest, so no
object is reported twice.

Nothing here knows the tracking frame: :meth:`FrameDetections.to_frame` moves the result there
with one transform per source, just before tracking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..bev.inputs import BevInputs, radar_to_anchor
from ..core.calibration import Calibration
from ..core.classes import SENSOR_CAMERA, ObjectClass
from ..core.stamps import NS_PER_S
from ..core.types import Detections, PointCloud, RadarScan
from ..ego.deskew import DeskewError, deskew_points
from ..ego.frame_ego import FrameEgo
from ..ego.radar_velocity import ObjectBoxes
from ..sync.synchronizer import FusionFrame
from ..timing import StageTimer
from .camera import CameraEvidence
from .lidar import LidarDetector
from .radar import RadarDetector
from .size_class import complete_relabelled, relabel_plausible

if TYPE_CHECKING:  # torch is imported only when the network runs
    from ..bev.detector import BevDetector

log = logging.getLogger(__name__)

# unknown ego acceleration, 1 sigma: a car's longitudinal acceleration in traffic (|a| <~ 2 m/s^2);
# it spreads the ego velocity between the frame stamp (the pose) and a radar scan's stamp
EGO_ACCEL_STD_MPS2 = 1.0
# the network's boxes the LiDAR's structure memory may veto in `both` mode: what a façade passes for
_VEHICLE_LABELS = (int(ObjectClass.CAR), int(ObjectClass.TRUCK), int(ObjectClass.BUS))
# radar counters in /diagnostics -> RadarDetector.last_stats key
RADAR_COUNTS = {
    "returns": "points",
    "stationary_returns": "static_rejected",
    "clusters": "clusters",
    "ghosts_rejected": "rejected_ghost",
    "ghosts_rejected_mirror": "rejected_ghost_mirror",
    "detections": "detections",
}


def ego_pose_cov_at(offset_xy: np.ndarray, pose_cov: np.ndarray) -> np.ndarray:
    r"""Position covariance (N, 2, 2) a detection at ``offset_xy`` (N, 2) from the vehicle, in the
    fixed frame's axes, takes from the ego pose's uncertainty ``pose_cov`` (3, 3) over (x, y, yaw).

    A box at offset :math:`d` lands at :math:`p + d`, and a heading error :math:`\delta\psi`
    swings it across by :math:`\delta\psi\, d_\perp` (:math:`d_\perp = (-d_y, d_x)`), so
    :math:`J = [I \; d_\perp]` and the added covariance is :math:`J \Sigma J^\top`. The heading term
    grows with range: while the ego heading converges (about 2 degrees uncertain in a bag's first
    seconds) a car 40 m away is 1.4 m uncertain sideways, and without this term the tracker read
    the heading's drift as sideways velocity of every far object (the velocity tails).
    """
    n = offset_xy.shape[0]
    J = np.zeros((n, 2, 3))
    J[:, 0, 0] = J[:, 1, 1] = 1.0
    J[:, 0, 2] = -offset_xy[:, 1]
    J[:, 1, 2] = offset_xy[:, 0]
    return J @ pose_cov @ np.swapaxes(J, 1, 2)


@dataclass
class FrameDetections:
    """One frame's detections per source, in base_link at ``stamp_ns``.

    ``detections``: what is published per source. ``track_min_score``: sources whose weaker
    boxes are published but not tracked (the BEV network: published from its score threshold,
    tracked from its ``track_min_score``). ``objects``: the object detectors' boxes (LiDAR, BEV;
    before the ``both`` split), which the radar ego velocity excludes; None if none ran.
    ``without_ego_cov``: sources whose boxes do not take the ego position covariance in the
    fixed frame (the radar's, as they always have).
    """

    stamp_ns: int
    detections: dict[str, Detections] = field(default_factory=dict)
    track_min_score: dict[str, float] = field(default_factory=dict)
    objects: ObjectBoxes | None = None
    without_ego_cov: frozenset[str] = frozenset()

    def to_frame(
        self,
        T: np.ndarray,
        frame_id: str,
        pos_cov_extra: np.ndarray | None = None,
        pose_cov: np.ndarray | None = None,
    ) -> tuple[dict[str, Detections], Detections]:
        """(published detections per source, the tracker's input) in ``frame_id``; ``T`` takes
        base_link at the frame stamp there, ``pos_cov_extra`` is its position covariance, or
        ``pose_cov`` (3, 3) its covariance over (x, y, yaw): see :func:`ego_pose_cov_at`."""

        def extra(d: Detections) -> np.ndarray | None:
            if pose_cov is None:
                return pos_cov_extra
            return ego_pose_cov_at(d.centers[:, :2] @ T[:2, :2].T, pose_cov)

        moved = {
            src: d.transform(T, frame_id, None if src in self.without_ego_cov else extra(d))
            for src, d in self.detections.items()
        }
        tracked = [
            d.select(d.scores >= self.track_min_score[src]) if src in self.track_min_score else d
            for src, d in moved.items()
        ]
        return moved, Detections.concat(tracked, self.stamp_ns, frame_id)


class FrameDetector:
    """Runs the configured detectors on a frame (see the module docstring).

    ``mode``: classical, bev or both. ``bev_tap``: when given, each frame's network inputs go to
    it and nothing is detected (how training data is recorded through the code the node runs).
    """

    def __init__(
        self,
        calibration: Calibration,
        base_frame: str,
        mode: str,
        lidar: LidarDetector,
        camera: CameraEvidence | None = None,
        radar: RadarDetector | None = None,
        bev: BevDetector | None = None,
        bev_tap: Callable[[BevInputs], None] | None = None,
        timer: StageTimer | None = None,
    ):
        self.calibration = calibration
        self.base_frame = base_frame
        self.mode = mode
        self.lidar = lidar
        self.camera = camera
        self.radar = radar
        self.bev = bev
        self.bev_tap = bev_tap
        self.timer = timer if timer is not None else StageTimer()
        self._warned: set[str] = set()
        # per radar: cumulative counts of what its scans' returns became (for /diagnostics)
        self.radar_counts: dict[str, dict[str, int]] = {}
        self.bev_boxes_on_structure = 0  # network vehicle boxes the LiDAR's structure memory dropped

    def detect(self, frame: FusionFrame, ego: FrameEgo) -> FrameDetections:
        t, stamp = self.timer, frame.stamp_ns
        classical = self.mode in ("classical", "both") and self.bev_tap is None
        lidar = frame.of_kind("lidar")
        clouds = {name: self._lidar_points(c, ego) for name, c in lidar.items()}
        dets: dict[str, Detections] = {}
        objects: list[Detections] = []
        radars: set[str] = set()
        if classical:
            for name, (xyz, _inten) in clouds.items():
                cloud = lidar[name]
                times = None
                if cloud.time_offset is not None:  # each point's capture time relative to the frame stamp
                    times = cloud.time_offset + np.float32((cloud.stamp_ns - stamp) / NS_PER_S)
                dets[name] = self._detect_lidar(xyz, stamp, times, ego)
                objects.append(dets[name])
            cams = frame.of_kind("camera")
            if self.camera is not None and cams and dets:
                with t.stage("camera_evidence"):
                    for det in dets.values():
                        self._apply_camera(det, cams)
            for name, scan in frame.of_kind("radar").items():
                det = self._detect_radar(scan, stamp, ego)
                if det is not None:
                    self._count_radar(name)
                    dets[name] = det
                    radars.add(name)
        if self.mode == "both" and self.bev is not None:
            # the network covers its grid; the classical detectors the rest (no duplicates at once)
            dets = {name: det.select(~self.in_bev_grid(det)) for name, det in dets.items()}
        track_min_score = {}
        if self.bev is not None or self.bev_tap is not None:
            with t.stage("bev_inputs"):
                inputs = self._bev_inputs(frame, ego, clouds)
            if self.bev_tap is not None:
                self.bev_tap(inputs)
            else:
                # the classical detector's ground model of this sweep, for the network's road test
                # (one LiDAR: the same returns; with more, the test makes its own over all of them)
                ground = getattr(self.lidar, "last_ground", None) if classical and len(clouds) == 1 else None
                if ground is not None and ground.stamp_ns != stamp:
                    ground = None
                with t.stage("bev"):
                    det = self.bev.detect(inputs, ground)
                if self.mode == "both" and len(det):
                    # vehicle boxes on façades the LiDAR has seen whole (its structure memory)
                    veto = np.isin(det.labels, _VEHICLE_LABELS) & self.lidar.on_structure(det)
                    self.bev_boxes_on_structure += int(veto.sum())
                    det = det.select(~veto)
                min_score = self.bev.config.track_min_score
                objects.append(det.select(det.scores >= min_score))
                for k, v in self.bev.last_timing.items():
                    t.add(f"bev_{k}", v)
                if self.mode == "both":
                    det = det.select(self.in_bev_grid(det))
                dets["bev"] = det
                track_min_score["bev"] = min_score
        return FrameDetections(
            stamp,
            dets,
            track_min_score,
            ObjectBoxes.from_detections(objects) if objects else None,
            frozenset(radars),
        )

    def in_bev_grid(self, det: Detections) -> np.ndarray:
        """Which base_link detections lie inside the BEV grid, ``bev.edge_margin_m`` in."""
        return self.bev.grid.inside(det.centers, self.bev.config.edge_margin_m)

    def warm_up(self) -> None:
        """Compile (or load) the detectors' numba kernels and run the network once."""
        self.lidar.warm_up()
        if self.bev is not None:
            self.bev.warm_up()
        if self.radar is not None:
            self.radar.warm_up()

    # -- internals -------------------------------------------------------------------------------
    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", text)

    def _lidar_points(self, cloud: PointCloud, ego: FrameEgo) -> tuple[np.ndarray, np.ndarray | None]:
        """Sweep points in base_link at the frame stamp (deskewed when the ego pose is known), intensity."""
        with self.timer.stage("lidar_transform"):
            T_base_lidar = (
                self.calibration.T_base_from(cloud.frame_id)
                if cloud.frame_id != self.base_frame
                else np.eye(4)
            )
            xyz_l = cloud.xyz
            if cloud.time_offset is not None and ego.pose is not None:
                try:
                    pose_at = ego.T_world_base_at
                    xyz_l = deskew_points(
                        cloud.xyz, cloud.time_offset, cloud.stamp_ns, T_base_lidar, pose_at, ego.stamp_ns
                    )
                except DeskewError as exc:  # point times beyond the extrapolation limit: bad stamps
                    self._warn_once("deskew", f"lidar sweep used without deskewing: {exc}")
            R = T_base_lidar[:3, :3].astype(np.float32)
            return xyz_l @ R.T + T_base_lidar[:3, 3].astype(np.float32), cloud.intensity

    def _detect_lidar(
        self, xyz: np.ndarray, stamp: int, times: np.ndarray | None, ego: FrameEgo
    ) -> Detections:
        t = self.timer
        # the structure memory lives in the tracking frame, once the ego pose places the sweeps there
        pose = (ego.T_world_base, ego.frame_id) if ego.pose is not None else None
        with t.stage("lidar_detect"):
            det = self.lidar.detect(xyz, stamp, self.base_frame, times, pose)
        for k, v in getattr(self.lidar, "last_timing", {}).items():
            t.add(f"lidar_{k}", v)
        return det

    def _apply_camera(self, det: Detections, cams: dict) -> None:
        """Relabel boxes the cameras see clearly and mark them camera-supported (in place)."""
        cues = self.camera.annotate(det, cams)
        best = cues.class_probs.argmax(axis=1)
        p = cues.class_probs[np.arange(len(det)), best]
        sure = cues.visible & (p >= self.camera.config.relabel_min_prob)
        if self.camera.config.relabel_size_gate and self.lidar is not None and len(det):
            slack = self.lidar.config.class_height_slack_per_m * np.hypot(
                det.centers[:, 0], det.centers[:, 1]
            )
            sure &= relabel_plausible(best, det.sizes, slack)
        # completed for the new class where the LiDAR's shape had no class; a box the LiDAR called
        # something else (a bicycle's 1.8 x 0.6 m) keeps its measured extent when the colour cue says
        # car, so a wrong relabel does not also move it by metres (urban_clutter 713), and takes the
        # hidden extent's uncertainty (a far truck's rear, 2.2 x 0.6 m, classed bicycle: highway 302)
        relabelled = np.flatnonzero(sure & (best != det.labels))
        from_unknown = det.labels[relabelled] == int(ObjectClass.UNKNOWN)
        det.labels = np.where(sure, best, det.labels).astype(np.int64)
        if self.lidar is not None and self.lidar.config.shape_completion:
            cfg = self.lidar.config
            complete_relabelled(det, relabelled, (cfg.sensor_x_m, cfg.sensor_y_m), move=from_unknown)
        det.sensors = np.where(cues.visible, det.sensors | SENSOR_CAMERA, det.sensors).astype(np.uint8)

    def _detect_radar(self, scan: RadarScan, stamp: int, ego: FrameEgo) -> Detections | None:
        """Radar objects in base_link at ``stamp``: the scan's base_link moved by the ego motion
        since, each object by its measured velocity; None if the scan's time has no ego pose."""
        t = self.timer
        with t.stage("radar_detect"):
            T_base_radar = self.calibration.T_base_from(scan.frame_id)
            if ego.pose is not None:
                T_wb = ego.T_world_base_at(scan.stamp_ns)
                if T_wb is None:
                    self._warn_once(
                        "radar_pose", f"radar scan {scan.frame_id} dropped: no ego pose at its stamp"
                    )
                    return None
                R_wb = T_wb[:3, :3]
                v_base = R_wb.T @ np.asarray(ego.pose.velocity, dtype=np.float64)
                yaw_rate = float(ego.pose.angular_velocity[2])
                tw = np.asarray(ego.pose.twist_cov, dtype=np.float64)  # (v world, w body)
                # the velocity is the frame stamp's; the scan's differs by the acceleration since
                dv = EGO_ACCEL_STD_MPS2 * abs(scan.stamp_ns - ego.stamp_ns) / NS_PER_S
                v_cov = R_wb.T @ tw[:3, :3] @ R_wb + dv * dv * np.eye(3)
                w_var = float(tw[5, 5])
                if not (np.isfinite(v_cov).all() and np.isfinite(w_var) and w_var >= 0.0):
                    v_cov, w_var = None, 0.0
                T_move = ego.T_base_world @ T_wb
            else:
                T_move, v_base, yaw_rate, v_cov, w_var = np.eye(4), np.zeros(3), 0.0, None, 0.0
            det = self.radar.detect(scan, T_base_radar, v_base, yaw_rate, self.base_frame, v_cov, w_var)
            out = det.transform(T_move, self.base_frame)
            dt = (stamp - scan.stamp_ns) / NS_PER_S  # scan time -> frame time at the measured velocity
            moving = np.isfinite(out.velocity).all(axis=1)
            out.centers[moving, :2] += out.velocity[moving] * dt
            out.stamp_ns = stamp
        for k, v in self.radar.last_timing.items():
            t.add(f"radar_{k}", v)
        return out

    def _count_radar(self, name: str) -> None:
        """Add the last scan's return and cluster counts to ``radar_counts[name]``."""
        st = getattr(self.radar, "last_stats", {})
        c = self.radar_counts.setdefault(name, dict.fromkeys(RADAR_COUNTS, 0))
        for key, stat in RADAR_COUNTS.items():
            c[key] += int(st.get(stat, 0))

    def _bev_inputs(self, frame: FusionFrame, ego: FrameEgo, clouds: dict) -> BevInputs:
        """The network's view of this frame; radar needs the ego twist (Doppler compensation)."""
        inputs = BevInputs(frame.stamp_ns, cameras=frame.of_kind("camera"), ego_known=ego.pose is not None)
        if clouds:
            parts = list(clouds.values())
            inputs.lidar_xyz = np.concatenate([p[0] for p in parts])
            if all(p[1] is not None for p in parts):
                inputs.lidar_intensity = np.concatenate([p[1] for p in parts])
        scans = frame.of_kind("radar")
        if scans and ego.pose is not None:
            T_anchor_world = ego.T_base_world
            v_base = T_anchor_world[:3, :3] @ np.asarray(ego.pose.velocity, dtype=np.float64)
            items = []
            for s in scans.values():
                T_wb = ego.T_world_base_at(s.stamp_ns)
                if T_wb is None:
                    self._warn_once("bev_radar", f"radar scan {s.frame_id} left out: no ego pose at its time")
                    continue
                items.append((s, self.calibration.T_base_from(s.frame_id), T_anchor_world @ T_wb))
            if items:
                inputs.radar_xyz, inputs.radar_doppler, inputs.radar_los, inputs.radar_rcs = radar_to_anchor(
                    items, v_base, float(ego.pose.angular_velocity[2])
                )
        return inputs
