"""Compose the scenario world and every simulated sensor into one rosbag2 (MCAP).

Each sensor is a stream of (write time, topic, message): the header stamp is
the measurement time and the write (log) time adds the sensor's latency and
jitter, so replay reproduces real arrival order. Streams are generated lazily
and merged by write time, so memory stays bounded for long scenarios. Every
message's noise comes from its own generator (``stream_rng(seed, sensor, k)``),
so output is identical for a seed regardless of generation order.

The bag carries the calibration it was generated with (``/calibration``,
``std_msgs/String`` YAML, and ``/tf_static``) and the scenario (``/scenario``); with a static
world also its element list (``/ground_truth/static``, JSON: class and oriented box each);
and annotations like a real dataset's (:mod:`.annotation`: LiDAR points, radar returns and
visibility per truth object).
With a detection stream (:mod:`.detection_stream`) it also carries what a real
detector would output (``/detections/stream``, its parameters on
``/detections/stream/config``), besides the sensor data or instead of it.
"""

from __future__ import annotations

import array
import heapq
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from geometry_msgs.msg import Point, Quaternion, TwistWithCovarianceStamped, Vector3, Vector3Stamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix
from std_msgs.msg import String
from unique_identifier_msgs.msg import UUID

from sensor_fusion_msgs.msg import ObjectClassification, TrackedObject, TrackedObjectArray

from ..bag.io import BagWriter, bag_topics, read_messages
from ..bag.typestore import typestore
from ..config import default_share_dir
from ..core.calibration import Calibration, calibration_from_dict, load_calibration
from ..core.geometry import matrix_to_quat, yaw_to_quat
from ..ros.convert import detections_msg, encode_cloud, encode_radar_scan, time_msg
from .annotation import ANNOTATIONS_TOPIC, lidar_annotation, radar_annotation
from .camera import encode_jpeg, render_camera
from .detection_stream import DetectionStream, DetectionStreamConfig
from .inertial import simulate_gps, simulate_imu
from .lidar import simulate_lidar
from .lidar_layouts import lidar_columns
from .radar import simulate_radar_with_truth
from .robot import RobotWorld
from .scenarios import latency_ns, scenario_config, stream_rng, window_mask
from .static.world import StaticElements
from .wheel import simulate_wheel_odometry
from .world import World

GT_OBJECTS = "/ground_truth/objects"
GT_ODOM = "/ground_truth/odom"
LIDAR_TOPIC = "/sensors/lidar/points"
IMU_TOPIC = "/sensors/imu"
GPS_TOPIC = "/sensors/gps/fix"
GPS_VELOCITY_TOPIC = "/sensors/gps/velocity"  # Doppler ENU velocity of the antenna (gps.velocity)
GT_GPS_ERROR = "/ground_truth/gps_error"  # correlated (Gauss-Markov) part of each fix's ENU error
GT_GPS_MULTIPATH = "/ground_truth/gps_multipath"  # multipath jump offset of each fix (0: none)
CALIBRATION_TOPIC = "/calibration"
PREFETCH = 4  # camera frames rendered ahead per camera, in the camera threads
SCENARIO_TOPIC = "/scenario"
STATIC_TOPIC = "/ground_truth/static"  # std_msgs/String JSON, once, only with a static world
STREAM_TOPIC = "/detections/stream"
STREAM_CONFIG_TOPIC = "/detections/stream/config"
WHEEL_ODOM_TOPIC = "/sensors/wheel/odom"  # nav_msgs/Odometry of the robot's base (wheel_odom block)
GT_ODOM_RATE_HZ = 50.0


def make_world(cfg: dict, seed: int) -> World | RobotWorld:
    """The world of ``world.kind``: cars on roads, or a robot in a yard."""
    return RobotWorld(cfg, seed) if cfg["world"]["kind"] == "yard" else World(cfg, seed)


@dataclass
class RecordInfo:
    path: Path
    scenario: str
    seed: int
    duration_s: float
    wall_s: float
    counts: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0

    def summary(self) -> str:
        lines = [
            f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB): '{self.scenario}', seed {self.seed}",
            f"  {self.duration_s:.1f} s of data generated in {self.wall_s:.1f} s "
            f"({self.wall_s / self.duration_s:.2f} s per second of data)",
        ]
        for topic, n in sorted(self.counts.items()):
            lines.append(f"  {topic:45s} {n:6d} msgs  {n / self.duration_s:7.1f} Hz")
        return "\n".join(lines)


def _lidar_cfg(c: dict) -> dict:
    """The scenario's lidar block minus what the recorder (not the sweep model) handles."""
    skip = ("enabled", "frame", "outages", "latency_ms", "jitter_ms", "point_layout")
    return {k: v for k, v in c.items() if k not in skip}


def _stamps(t0: int, t1: int, rate_hz: float) -> np.ndarray:
    period = int(round(1e9 / rate_hz))
    return np.arange(t0, t1, period, dtype=np.int64)


def _ordered(
    stamps: np.ndarray, delays: np.ndarray, make, pool: ThreadPoolExecutor | None = None
) -> Iterator[tuple[int, str, object]]:
    """Yield make(k) for each stamp in write-time order (jitter can reorder a stream).

    With ``pool``, up to ``PREFETCH`` items are made ahead in its threads (``make(k)`` must then be
    a pure function of ``k``: every frame has its own random stream, so the bag is the same).
    """
    write = stamps + delays
    order = [int(k) for k in np.argsort(write, kind="stable")]
    if pool is None:
        for k in order:
            for topic, msg in make(k):
                yield int(write[k]), topic, msg
        return
    ahead: deque = deque()
    try:
        for n, k in enumerate(order):
            while len(ahead) < PREFETCH and n + len(ahead) < len(order):
                ahead.append(pool.submit(lambda j: list(make(j)), order[n + len(ahead)]))
            for topic, msg in ahead.popleft().result():
                yield int(write[k]), topic, msg
    finally:
        for f in ahead:
            f.cancel()


def ground_truth_msg(world: World, stamp_ns: int, frame: str = "odom") -> TrackedObjectArray:
    a = world.actors_at(stamp_ns)
    out = TrackedObjectArray()
    out.header.stamp = time_msg(stamp_ns)
    out.header.frame_id = frame
    q = yaw_to_quat(a.yaw)
    for i in range(len(a)):
        o = TrackedObject()
        o.object_id = UUID(uuid=list(int(a.ids[i]).to_bytes(8, "big") + bytes(8)))
        o.existence_probability = 1.0
        o.classification = [ObjectClassification(label=int(a.labels[i]), probability=1.0)]
        p = o.kinematics.pose_with_covariance.pose
        p.position = Point(x=float(a.centers[i, 0]), y=float(a.centers[i, 1]), z=float(a.centers[i, 2]))
        p.orientation = Quaternion(x=0.0, y=0.0, z=float(q[i, 2]), w=float(q[i, 3]))
        o.kinematics.orientation_availability = o.kinematics.AVAILABLE
        tw = o.kinematics.twist_with_covariance.twist
        tw.linear.x, tw.linear.y = float(a.velocity[i, 0]), float(a.velocity[i, 1])
        tw.angular.z = float(a.yaw_rate[i])
        o.kinematics.is_stationary = bool(np.hypot(*a.velocity[i, :2]) < 0.1)
        o.shape.dimensions.x, o.shape.dimensions.y, o.shape.dimensions.z = (float(v) for v in a.sizes[i])
        out.objects.append(o)
    return out


def ground_truth_odom(world: World | RobotWorld, stamp_ns: int, frame: str = "odom") -> Odometry:
    e = world.ego_at(stamp_ns)
    m = Odometry()
    m.header.stamp = time_msg(stamp_ns)
    m.header.frame_id = frame
    m.child_frame_id = "base_link"
    m.pose.pose.position = Point(x=float(e.position[0]), y=float(e.position[1]), z=float(e.position[2]))
    if e.orientation is not None:  # a 3D attitude (slopes)
        q = e.orientation
        m.pose.pose.orientation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
    else:
        q = yaw_to_quat(e.yaw)
        m.pose.pose.orientation = Quaternion(x=0.0, y=0.0, z=float(q[2]), w=float(q[3]))
    m.twist.twist.linear.x = float(e.speed)
    m.twist.twist.angular.z = float(e.yaw_rate)
    return m


def _tf_static(cal: Calibration, stamp_ns: int) -> bytes:
    """tf2_msgs/TFMessage (serialised with rosbags: tf2_msgs has no PyPI wheel)."""
    ts = typestore()
    TF = ts.types["tf2_msgs/msg/TFMessage"]
    TS = ts.types["geometry_msgs/msg/TransformStamped"]
    Hdr, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    Tr, V3, Q = (ts.types[f"geometry_msgs/msg/{n}"] for n in ("Transform", "Vector3", "Quaternion"))
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    items = []
    for name, (parent, T) in cal.frames.items():
        q = matrix_to_quat(T[:3, :3])
        items.append(
            TS(
                header=Hdr(stamp=Time(sec=sec, nanosec=nsec), frame_id=parent),
                child_frame_id=name,
                transform=Tr(
                    translation=V3(x=T[0, 3], y=T[1, 3], z=T[2, 3]),
                    rotation=Q(x=q[0], y=q[1], z=q[2], w=q[3]),
                ),
            )
        )
    return bytes(ts.serialize_cdr(TF(transforms=items), "tf2_msgs/msg/TFMessage"))


def record(
    scenario: str,
    seed: int,
    duration_s: float,
    out: str | Path,
    overrides_file: str | None = None,
    calibration_file: str | Path | None = None,
    on_progress: Callable[[float], None] | None = None,
    detection_stream: DetectionStreamConfig | None = None,
    sensors: bool = True,
    static_world: bool | None = None,
    sensor_formats: dict[str, str] | None = None,
) -> RecordInfo:
    """Generate ``scenario`` into the new bag ``out``.

    ``on_progress`` is called with the seconds of data written so far (for a progress bar);
    ``detection_stream``: also write a realistic detector's output (``/detections/stream``);
    ``sensors`` false leaves out all sensor data (truth, calibration and the stream remain);
    ``sensor_formats``: dotted scenario keys set on top of the overrides (``lidar.model``,
    ``lidar.point_layout``, ``radars.format``); ``static_world``: force ``world.static.enabled``
    on or off (None: the scenario's own setting; off is the open world of earlier versions, bit
    for bit).
    """
    if not sensors and detection_stream is None:
        raise ValueError("record: with neither sensor data nor a detection stream there is nothing to write")
    t_wall = time.perf_counter()
    overrides = yaml.safe_load(Path(overrides_file).read_text()) if overrides_file else {}
    overrides = dict(overrides or {})
    overrides.setdefault("world", {})
    overrides["world"] = {**overrides["world"], "duration_s": float(duration_s)}
    if static_world is not None:
        overrides["world"]["static"] = {**overrides["world"].get("static", {}), "enabled": bool(static_world)}
    for key, value in (sensor_formats or {}).items():  # "lidar.model", "lidar.point_layout", "radars.format"
        block, _, name = key.partition(".")
        overrides[block] = {**overrides.get(block, {}), name: value}
    cfg = scenario_config(scenario, overrides)
    cal_name = cfg["calibration"] or "calibration.yaml"
    cal = load_calibration(calibration_file or default_share_dir() / "config" / cal_name)
    world = make_world(cfg, seed)
    t0, t1 = world.t0_ns, world.t_end_ns
    streams: list[Iterator[tuple[int, str, object]]] = []

    # LiDAR: header stamp = sweep start; GT objects at the same stamps (no latency)
    lc = cfg["lidar"]
    l_stamps = _stamps(t0, t1 - int(1e9 / lc["rate_hz"]), lc["rate_hz"])
    l_stamps = l_stamps[~window_mask(l_stamps, t0, lc["outages"])]
    T_bl = cal.T_base_from(lc["frame"]) if lc["enabled"] else np.eye(4)
    lcfg = _lidar_cfg(lc)

    def lidar_msg(k: int):
        s = simulate_lidar(world, int(l_stamps[k]), T_bl, lcfg, stream_rng(seed, "lidar", k))
        cols = lidar_columns(s, lc["point_layout"])
        yield LIDAR_TOPIC, encode_cloud(int(l_stamps[k]), lc["frame"], cols)
        yield (
            ANNOTATIONS_TOPIC,
            String(data=lidar_annotation(world, int(l_stamps[k]), s["actor_id"], T_bl[:3, 3])),
        )

    if sensors and lc["enabled"]:
        streams.append(
            _ordered(l_stamps, latency_ns(len(l_stamps), lc, stream_rng(seed, "lidar_latency")), lidar_msg)
        )
    gt_stamps = _stamps(t0, t1 - int(1e9 / lc["rate_hz"]), lc["rate_hz"])
    streams.append(
        _ordered(
            gt_stamps,
            np.zeros(len(gt_stamps), np.int64),
            lambda k: [(GT_OBJECTS, ground_truth_msg(world, int(gt_stamps[k])))],
        )
    )
    o_stamps = _stamps(t0, t1, GT_ODOM_RATE_HZ)
    streams.append(
        _ordered(
            o_stamps,
            np.zeros(len(o_stamps), np.int64),
            lambda k: [(GT_ODOM, ground_truth_odom(world, int(o_stamps[k])))],
        )
    )

    # cameras (dead windows drop frames; camera_info accompanies every image). Frames render in a
    # thread per camera (up to the cores) beside the LiDAR: the numba kernels release the GIL.
    # urban, 20 s, static world, 2 cores: 12.1-13.3 s with one thread, 10.3-10.7 s with two
    cc = cfg["cameras"]
    n_threads = min(len(cc["names"]), os.cpu_count() or 1)
    cam_pool = ThreadPoolExecutor(n_threads, thread_name_prefix="camera") if sensors and n_threads else None
    for cam in cc["names"] if sensors else []:
        intr = cal.intrinsics[cam]
        T_bc = cal.T_base_from(cam)
        c_stamps = _stamps(t0, t1, cc["rate_hz"])
        c_stamps = c_stamps[~window_mask(c_stamps, t0, cc["dropout"].get(cam, []))]
        P = np.zeros((3, 4))
        P[:, :3] = intr.K
        p_row = P.ravel().tolist()

        def cam_msgs(k: int, cam=cam, intr=intr, T_bc=T_bc, c_stamps=c_stamps, p_row=p_row):
            stamp = int(c_stamps[k])
            info = CameraInfo(width=intr.width, height=intr.height, distortion_model=intr.distortion_model)
            info.k = intr.K.ravel().tolist()
            info.d = intr.D.tolist()
            info.r = np.eye(3).ravel().tolist()
            info.p = p_row
            info.header.frame_id = cam
            img = render_camera(world, stamp, T_bc, intr, stream_rng(seed, cam, k))
            if cc["encoding"] == "jpeg":
                m = CompressedImage(format="bgr8; jpeg compressed bgr8")
                m.data = array.array("B", encode_jpeg(img, int(cc["jpeg_quality"])))
                topic = f"/sensors/{cam}/image/compressed"
            else:
                m = Image(height=img.shape[0], width=img.shape[1], encoding="bgr8", step=img.shape[1] * 3)
                m.data = array.array("B", img.tobytes())
                topic = f"/sensors/{cam}/image"
            m.header.stamp, m.header.frame_id = time_msg(stamp), cam
            info.header.stamp = time_msg(stamp)
            yield topic, m
            yield f"/sensors/{cam}/camera_info", info

        streams.append(
            _ordered(
                c_stamps, latency_ns(len(c_stamps), cc, stream_rng(seed, cam, "latency")), cam_msgs, cam_pool
            )
        )

    # radars
    rc = cfg["radars"]
    for rad in rc["names"] if sensors else []:
        T_br = cal.T_base_from(rad)
        r_stamps = _stamps(t0, t1, rc["rate_hz"])
        r_stamps = r_stamps[~window_mask(r_stamps, t0, rc["outages"])]

        def radar_msgs(k: int, rad=rad, T_br=T_br, r_stamps=r_stamps):
            scan, truth = simulate_radar_with_truth(
                world, int(r_stamps[k]), T_br, rc, stream_rng(seed, rad, k), rad
            )
            if rc["format"] == "radar_scan":
                yield f"/sensors/{rad}/scan", encode_radar_scan(scan)
            else:
                cols = {
                    "x": scan.xyz[:, 0],
                    "y": scan.xyz[:, 1],
                    "z": scan.xyz[:, 2],
                    "radial_velocity": scan.radial_velocity,
                    "rcs": scan.rcs,
                }
                yield f"/sensors/{rad}/points", encode_cloud(int(r_stamps[k]), rad, cols)
            yield ANNOTATIONS_TOPIC, String(data=radar_annotation(world, rad, int(r_stamps[k]), truth))

        streams.append(
            _ordered(r_stamps, latency_ns(len(r_stamps), rc, stream_rng(seed, rad, "latency")), radar_msgs)
        )

    # IMU and GPS: vectorised over the whole run
    ic, gc = cfg["imu"], cfg["gps"]
    imu = simulate_imu(
        world,
        _stamps(t0, t1, ic["rate_hz"]),
        cal.T_base_from(ic["frame"]),
        ic,
        stream_rng(seed, "imu"),
        ic["frame"],
        t0,
    )

    def imu_msg(k: int):
        m = Imu()
        m.header.stamp, m.header.frame_id = time_msg(int(imu.stamps_ns[k])), imu.frame_id
        m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z = (float(v) for v in imu.gyro[k])
        a = imu.accel[k]
        m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z = (float(v) for v in a)
        m.angular_velocity_covariance = imu.gyro_cov.ravel().tolist()
        m.linear_acceleration_covariance = imu.accel_cov.ravel().tolist()
        if imu.orientation is not None:
            q = imu.orientation[k]
            m.orientation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
            m.orientation_covariance = imu.orientation_cov.ravel().tolist()
        else:
            m.orientation_covariance[0] = -1.0
        yield IMU_TOPIC, m

    if sensors:
        streams.append(
            _ordered(imu.stamps_ns, latency_ns(len(imu), ic, stream_rng(seed, "imu", "latency")), imu_msg)
        )
    gps = simulate_gps(
        world,
        _stamps(t0, t1, gc["rate_hz"]),
        cal.T_base_from(gc["frame"]),
        gc,
        stream_rng(seed, "gps"),
        gc["frame"],
        t0,
    )

    # the stamp the driver puts on a fix: its time of validity, or later where it stamps at
    # reception (gps.stamp_latency_ms); the truth topics carry the same stamp, to pair with it
    gps_hdr = gps.stamps_ns + int(round(float(gc["stamp_latency_ms"]) * 1e6))

    def gps_msg(k: int):
        m = NavSatFix(
            latitude=float(gps.latitude[k]),
            longitude=float(gps.longitude[k]),
            altitude=float(gps.altitude[k]),
        )
        m.header.stamp, m.header.frame_id = time_msg(int(gps_hdr[k])), gps.frame_id
        m.status.status, m.status.service = int(gps.status[k]), 1
        m.position_covariance = gps.covariance[k].ravel().tolist()
        m.position_covariance_type = NavSatFix.COVARIANCE_TYPE_KNOWN
        yield GPS_TOPIC, m

    if sensors:
        streams.append(
            _ordered(gps_hdr, latency_ns(len(gps), gc, stream_rng(seed, "gps", "latency")), gps_msg)
        )
    if sensors and gps.velocity is not None:

        def gps_vel_msg(k: int):
            m = TwistWithCovarianceStamped()
            m.header.stamp, m.header.frame_id = time_msg(int(gps_hdr[k])), gps.frame_id
            v = gps.velocity[k]
            m.twist.twist.linear = Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))
            cov = np.full((6, 6), 0.0)
            cov[:3, :3] = gps.velocity_cov
            cov[3:, 3:] = -np.eye(3)  # no angular velocity: ROS marks unknown rows with -1
            m.twist.covariance = cov.ravel().tolist()
            yield GPS_VELOCITY_TOPIC, m

        streams.append(
            _ordered(gps_hdr, latency_ns(len(gps), gc, stream_rng(seed, "gps", "latency")), gps_vel_msg)
        )
    if gps.correlated_error is not None:

        def gps_truth_msgs(k: int):
            st = time_msg(int(gps_hdr[k]))
            for topic, v in (
                (GT_GPS_ERROR, gps.correlated_error[k]),
                (GT_GPS_MULTIPATH, gps.multipath_error[k]),
            ):
                m = Vector3Stamped()
                m.header.stamp, m.header.frame_id = st, "enu"
                m.vector = Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))
                yield topic, m

        streams.append(_ordered(gps_hdr, np.zeros(len(gps), np.int64), gps_truth_msgs))

    wc = cfg["wheel_odom"]
    if sensors and wc["enabled"]:
        wo = simulate_wheel_odometry(
            world, _stamps(t0, t1, wc["rate_hz"]), wc, stream_rng(seed, "wheel_odom")
        )

        def wheel_msg(k: int):
            m = Odometry()
            m.header.stamp, m.header.frame_id = time_msg(int(wo.stamps_ns[k])), wc["frame"]
            m.child_frame_id = wc["child_frame"]
            m.pose.pose.position = Point(x=float(wo.x[k]), y=float(wo.y[k]), z=0.0)
            q = yaw_to_quat(float(wo.yaw[k]))
            m.pose.pose.orientation = Quaternion(x=0.0, y=0.0, z=float(q[2]), w=float(q[3]))
            m.pose.covariance = wo.pose_cov.ravel().tolist()
            m.twist.twist.linear.x = float(wo.speed[k])
            m.twist.twist.angular.z = float(wo.yaw_rate[k])
            m.twist.covariance = wo.twist_cov.ravel().tolist()
            yield WHEEL_ODOM_TOPIC, m

        streams.append(
            _ordered(
                wo.stamps_ns, latency_ns(len(wo), wc, stream_rng(seed, "wheel_odom", "latency")), wheel_msg
            )
        )

    stream_meta = None
    if detection_stream is not None:
        mount = cal.T_base_from(detection_stream.sensor_frame)[:3, 3]
        ds = DetectionStream(world, mount, detection_stream, seed)
        frames = [ds.frame(int(st)).detections for st in gt_stamps]  # in order: the stream has state
        streams.append(
            _ordered(
                gt_stamps,
                np.zeros(len(gt_stamps), np.int64),
                lambda k: [(STREAM_TOPIC, detections_msg(frames[k]))],
            )
        )
        stream_meta = {"config": detection_stream.to_dict(), "mount_xyz": [float(v) for v in mount]}

    counts: dict[str, int] = {}
    out = Path(out)
    try:
        _write_bag(out, scenario, seed, cfg, cal, world, stream_meta, streams, counts, on_progress)
    finally:
        if cam_pool is not None:
            cam_pool.shutdown(wait=True, cancel_futures=True)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return RecordInfo(out, scenario, seed, (t1 - t0) / 1e9, time.perf_counter() - t_wall, counts, size)


def _write_bag(
    out: Path,
    scenario: str,
    seed: int,
    cfg: dict,
    cal: Calibration,
    world: World | RobotWorld,
    stream_meta: dict | None,
    streams: list[Iterator[tuple[int, str, object]]],
    counts: dict[str, int],
    on_progress: Callable[[float], None] | None,
) -> None:
    """The bag's header topics, then every stream merged in write-time order."""
    t0, t1 = world.t0_ns, world.t_end_ns
    with BagWriter(out) as w:
        meta = {"scenario": scenario, "seed": seed, "config": cfg}
        w.write(SCENARIO_TOPIC, String(data=json.dumps(meta, default=str)), t0)
        w.write(CALIBRATION_TOPIC, String(data=yaml.safe_dump(cal.to_dict())), t0)
        w.write_raw("/tf_static", "tf2_msgs/msg/TFMessage", _tf_static(cal, t0), t0)
        if stream_meta is not None:
            w.write(STREAM_CONFIG_TOPIC, String(data=json.dumps(stream_meta)), t0)
        if getattr(world, "static", None) is not None:
            doc = world.static.elements.to_dict()
            if getattr(world, "wind", None) is not None:  # what moved the foliage (static/wind.py)
                doc["wind"] = {"speed_mps": world.wind.speed_mps, "direction": list(world.wind.direction)}
            w.write(STATIC_TOPIC, String(data=json.dumps(doc)), t0)
        for t, topic, msg in heapq.merge(*streams, key=lambda e: e[0]):
            w.write(topic, msg, t)
            counts[topic] = counts.get(topic, 0) + 1
            if on_progress is not None:
                on_progress(min(t - t0, t1 - t0) / 1e9)


def calibration_from_bag(bag: str | Path) -> Calibration | None:
    """The calibration a generated bag carries, or None for bags without one."""
    if CALIBRATION_TOPIC not in bag_topics(bag):
        return None
    for _t, _mt, _ts, msg in read_messages(bag, [CALIBRATION_TOPIC]):
        return calibration_from_dict(yaml.safe_load(msg.data))
    return None


def scenario_from_bag(bag: str | Path) -> dict | None:
    if SCENARIO_TOPIC not in bag_topics(bag):
        return None
    for _t, _mt, _ts, msg in read_messages(bag, [SCENARIO_TOPIC]):
        return json.loads(msg.data)
    return None


def static_elements_from_bag(bag: str | Path) -> StaticElements | None:
    """The static world's elements (class, oriented box in odom) a bag carries, or None (open world)."""
    if STATIC_TOPIC not in bag_topics(bag):
        return None
    for _t, _mt, _ts, msg in read_messages(bag, [STATIC_TOPIC]):
        return StaticElements.from_dict(json.loads(msg.data))
    return None


def stream_meta_from_bag(bag: str | Path) -> dict | None:
    """``{"config": DetectionStreamConfig dict, "mount_xyz": [x, y, z]}`` of a bag with a detection
    stream, or None."""
    if STREAM_CONFIG_TOPIC not in bag_topics(bag):
        return None
    for _t, _mt, _ts, msg in read_messages(bag, [STREAM_CONFIG_TOPIC]):
        return json.loads(msg.data)
    return None
