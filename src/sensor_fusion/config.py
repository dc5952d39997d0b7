"""Fusion configuration shared by the ROS node and the offline CLI: the schema's root.

:class:`FusionConfig` holds the node's own parameters, one block per input, and every
sub-config as a typed, validated instance (``cfg.tracker`` is a ``TrackerConfig``); its fields
are the one list of parameter namespaces. Parameters are flat dotted names, as ROS 2 flattens
nested YAML (``tracker.gate_prob``, ``cameras.camera_front.tolerance_s``). Per-sensor blocks are
dynamic: ``cameras.names`` lists the cameras, then ``cameras.<name>.*`` configures each (likewise
radars). ``config/fusion.yaml`` is generated from this schema
(``sensor-fusion params --write config/fusion.yaml``) and lists every parameter with its
description; the CLI reads the same file as the node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import yaml

from .bev.config import BevDetectorConfig
from .core.schema import ParamConfig, build, internal, named_sections, param, section
from .ego.config import EgoConfig
from .ego.radar_velocity import RadarEgoVelocityConfig
from .perception.camera import CameraEvidenceConfig
from .perception.lidar_config import LidarDetectorConfig
from .perception.radar import RadarDetectorConfig
from .tracking.config import TrackerConfig

QOS_CHOICES = ("sensor_data", "reliable", "best_effort")
DETECTION_MODES = ("classical", "bev", "both")
NODE_NAME = "fusion_node"
# Parameters ROS itself declares on every node; a params file may set them, the schema ignores them.
ROS_OWN_PARAMS = ("use_sim_time", "start_type_description_service")
ROS_OWN_PREFIXES = ("qos_overrides.",)
_SENSOR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class ConfigError(ValueError):
    pass


def is_ros_own(name: str) -> bool:
    return name in ROS_OWN_PARAMS or name.startswith(ROS_OWN_PREFIXES)


def _qos(default: str = "sensor_data") -> Any:
    return param(default, unit="", choices=QOS_CHOICES, desc="Subscription QoS profile")


def _qos_depth(default: int = 10) -> Any:
    return param(default, unit="1", ge=1, desc="Subscription queue depth, messages")


def _buffer_size(default: int) -> Any:
    return param(
        default,
        unit="1",
        ge=1,
        desc="Messages the synchroniser buffers for matching; older ones are dropped (counted as overflow)",
    )


def _tolerance_s() -> Any:
    return param(0.05, unit="s", ge=0.0, desc="Largest |stamp - anchor stamp| that still matches a frame")


def _offset_s(what: str) -> Any:
    return param(0.0, unit="s", desc=f"Added to the {what}'s stamps before matching (known clock offset)")


def _timeout_s(default: float, what: str) -> Any:
    return param(
        default,
        unit="s",
        ge=0.0,
        desc=f"Data time a frame waits past its anchor stamp for a late {what}",
    )


@dataclass
class LidarInputConfig(ParamConfig):
    enabled: bool = param(True, unit="", desc="Subscribe to the LiDAR")
    topic: str = param("/sensors/lidar/points", unit="", desc="sensor_msgs/PointCloud2 topic")
    qos: str = _qos()
    qos_depth: int = _qos_depth()
    frame: str = param(
        "lidar_top", unit="", desc="Calibration frame of the LiDAR (sets the detector's sensor position)"
    )
    time_field: str = param(
        "auto",
        unit="",
        desc='Per-point time field; "auto": the first of t, time, offset_time, timestamp, time_stamp '
        'present (Ouster, Velodyne, Livox, Hesai/RoboSense); "" if the cloud has none',
    )
    time_unit: str = param(
        "auto",
        unit="",
        choices=("auto", "s", "ms", "us", "ns"),
        desc="Unit of the time field; auto: ns for integer fields (Ouster t, Livox offset_time), "
        "s for float fields (Velodyne time, Hesai/RoboSense timestamp)",
    )
    time_reference: str = param(
        "auto",
        unit="",
        choices=("auto", "stamp", "absolute"),
        desc="What the time field counts from: the header stamp, or absolute epoch time (Hesai, "
        "RoboSense); auto: absolute when the values exceed a day",
    )
    max_points: int = param(400000, unit="1", ge=1, desc="Larger clouds are dropped as malformed")
    tolerance_s: float = _tolerance_s()
    timeout_s: float = _timeout_s(0.1, "sweep (when the LiDAR is not the anchor)")
    buffer_size: int = _buffer_size(8)


@dataclass
class ImuInputConfig(ParamConfig):
    enabled: bool = param(True, unit="", desc="Subscribe to the IMU (the ego filter needs it)")
    topic: str = param("/sensors/imu", unit="", desc="sensor_msgs/Imu topic")
    qos: str = _qos()
    # 200 Hz IMU samples keep arriving while a large cloud decodes
    qos_depth: int = param(
        200,
        unit="1",
        ge=1,
        desc="Subscription queue depth, messages (200 Hz samples pile up during a decode)",
    )
    frame: str = param(
        "imu_link", unit="", desc="Calibration frame of the IMU (extrinsic for the ego filter)"
    )
    timeout_s: float = _timeout_s(0.05, "IMU sample (the ego pose at the anchor needs the samples up to it)")
    buffer_size: int = _buffer_size(2000)


def _stamp_latency(what: str) -> Any:
    return param(
        0.0,
        unit="s",
        ge=0.0,
        le=2.0,
        desc=f"How much later than its time of validity the driver stamps a {what} (drivers that stamp "
        "at reception, NMEA and u-blox ROS drivers: 0.05-0.2 s); taken off every stamp. At 15 m/s "
        "each 0.1 s unaccounted for puts the fix 1.5 m behind the vehicle",
    )


@dataclass
class GpsInputConfig(ParamConfig):
    enabled: bool = param(True, unit="", desc="Subscribe to the GNSS receiver")
    topic: str = param("/sensors/gps/fix", unit="", desc="sensor_msgs/NavSatFix topic")
    qos: str = _qos()
    qos_depth: int = _qos_depth()
    frame: str = param("gps_link", unit="", desc="Calibration frame of the GNSS antenna (lever arm)")
    stamp_latency_s: float = _stamp_latency("fix")
    timeout_s: float = _timeout_s(0.0, "fix (0: none; a late fix is fused by the filter's rollback)")
    buffer_size: int = _buffer_size(64)


@dataclass
class WheelOdomInputConfig(ParamConfig):
    enabled: bool = param(
        False, unit="", desc="Subscribe to wheel odometry (its twist feeds the ego filter; ground robots)"
    )
    topic: str = param(
        "/sensors/wheel/odom", unit="", desc="nav_msgs/Odometry topic (only its twist is read)"
    )
    qos: str = _qos()
    qos_depth: int = _qos_depth()
    frame: str = param(
        "base_link",
        unit="",
        desc="Calibration frame the twist is expressed in (base_link: none needed); the message's "
        "child_frame_id is not used, as for the IMU and GNSS frames",
    )
    timeout_s: float = _timeout_s(0.0, "sample (0: none; a late one is fused by the filter's rollback)")
    buffer_size: int = _buffer_size(64)


@dataclass
class GpsVelocityInputConfig(ParamConfig):
    enabled: bool = param(
        False, unit="", desc="Subscribe to the GNSS receiver's velocity (Doppler, ENU) for the ego filter"
    )
    topic: str = param(
        "/sensors/gps/velocity",
        unit="",
        desc="geometry_msgs/TwistWithCovarianceStamped topic (ENU linear twist)",
    )
    qos: str = _qos()
    qos_depth: int = _qos_depth()
    stamp_latency_s: float = _stamp_latency("velocity")
    timeout_s: float = _timeout_s(0.0, "sample (0: none; a late one is fused by the filter's rollback)")
    buffer_size: int = _buffer_size(64)


@dataclass
class CameraConfig(ParamConfig):
    """One camera; ``{name}`` in a topic is replaced by the camera's name."""

    name: str = internal("", "the entry in cameras.names")
    image_topic: str = param("/sensors/{name}/image/compressed", unit="", desc="Image topic")
    info_topic: str = param("/sensors/{name}/camera_info", unit="", desc="sensor_msgs/CameraInfo topic")
    compressed: bool = param(
        True, unit="", desc="Images are sensor_msgs/CompressedImage (true) or sensor_msgs/Image (false)"
    )
    qos: str = _qos()
    qos_depth: int = _qos_depth()
    tolerance_s: float = _tolerance_s()
    offset_s: float = _offset_s("camera")
    timeout_s: float = _timeout_s(0.1, "image")
    buffer_size: int = _buffer_size(16)

    def __post_init__(self) -> None:
        self.image_topic = self.image_topic.replace("{name}", self.name)
        self.info_topic = self.info_topic.replace("{name}", self.name)


@dataclass
class RadarConfig(ParamConfig):
    """One radar (sensor_msgs/PointCloud2 of detections, or radar_msgs/RadarScan); ``{name}`` in the
    topic is its name."""

    name: str = internal("", "the entry in radars.names")
    topic: str = param(
        "/sensors/{name}/points", unit="", desc="Topic of the detections (PointCloud2 or RadarScan)"
    )
    msg_type: str = param(
        "pointcloud2",
        unit="",
        choices=("pointcloud2", "radar_scan"),
        desc="pointcloud2: sensor_msgs/PointCloud2 with the fields below; radar_scan: radar_msgs/RadarScan "
        "(range, azimuth, elevation, doppler_velocity, amplitude dB as RCS; Autoware's radar input)",
    )
    qos: str = _qos()
    qos_depth: int = _qos_depth()
    x_field: str = param("x", unit="", desc="Point field of x in the radar frame (m)")
    y_field: str = param("y", unit="", desc="Point field of y in the radar frame (m)")
    z_field: str = param("z", unit="", desc="Point field of z in the radar frame (m)")
    velocity_field: str = param(
        "radial_velocity",
        unit="",
        desc="Point field of the raw Doppler speed (m/s, positive away from the radar)",
    )
    rcs_field: str = param("rcs", unit="", desc="Point field of the radar cross-section (dBsm)")
    tolerance_s: float = _tolerance_s()
    offset_s: float = _offset_s("radar")
    timeout_s: float = _timeout_s(0.1, "scan")
    buffer_size: int = _buffer_size(16)

    def __post_init__(self) -> None:
        self.topic = self.topic.replace("{name}", self.name)


@dataclass
class FusionConfig(ParamConfig):
    """Every parameter of the fusion node and the offline runs (see the module docstring)."""

    error = ConfigError

    fixed_frame: str = param(
        "odom",
        unit="",
        desc="REP-105 odom: continuous (no GNSS jumps), the frame tracks live in; odom -> base_frame "
        "is broadcast on /tf",
    )
    map_frame: str = param(
        "map",
        unit="",
        desc="REP-105 map: the GNSS-referenced frame of the ego filter (ENU about ego.datum); the "
        "ego odometry is published in it and map -> fixed_frame absorbs the GNSS corrections",
    )
    odometry_rate_hz: float = param(
        30.0,
        unit="Hz",
        gt=0.0,
        le=1000.0,
        desc="Rate of ~/ego_odom and /tf, on a grid of data time, from whatever ego sensors are "
        "present (independent of the detection anchor): robot_localization's default frequency, "
        "above what controllers and RViz need, below the IMU rate that drives the filter",
    )
    publish_tf_odom: bool = param(
        True, unit="", desc="Broadcast odom -> base_frame on /tf (false when another node owns it)"
    )
    publish_tf_map: bool = param(
        True, unit="", desc="Broadcast map -> odom on /tf (false when another node owns it)"
    )
    tf_static_wait_s: float = param(
        1.0,
        unit="s",
        ge=0.0,
        desc="At start the node waits up to this long for /tf_static (latched) to take the sensor "
        "extrinsics from it, less once every sensor frame has arrived; frames it does not bring come "
        "from calibration_file (the log says which)",
    )
    base_frame: str = param(
        "base_link",
        unit="",
        desc="Vehicle frame: detection runs here; tracks stay here until the ego heading is known",
    )
    calibration_file: str = param(
        "", unit="", desc='Sensor calibration YAML; "": the package\'s config/calibration.yaml'
    )
    anchor: str = param(
        "lidar", unit="", desc="Sensor whose messages trigger a fusion frame: lidar or a camera/radar name"
    )
    detection_mode: str = param(
        "classical",
        unit="",
        choices=DETECTION_MODES,
        desc="classical: LiDAR boxes, camera relabelling, radar Doppler detector (CPU, ~50 ms/frame); "
        "bev: the learned BEV fusion network on whatever modalities arrive replaces them; "
        "both: the network inside its grid (+-51.2 m), the classical detectors beyond it",
    )
    jump_threshold_s: float = param(
        1.0,
        unit="s",
        ge=0.0,
        desc="An anchor stamp this far behind the last one (bag loop, sim-time reset) resets the "
        "synchroniser, tracker and ego filter; smaller steps back are reordering (dropped, counted). "
        "1 s: far above any sensor's latency jitter (tens of ms), far below a bag's length",
    )
    forward_jump_threshold_s: float = param(
        10.0,
        unit="s",
        gt=0.0,
        desc="An anchor stamp this far ahead of the last one (clock jump, a cut in a bag) resets them "
        "too: beyond tracker.max_age_s (2 s) every track is dead anyway and beyond ego.imu_gap_reset_s "
        "the filter restarts, while a shorter gap is a sensor dropout that coasting bridges",
    )
    anchor_timeout_s: float = param(
        0.5,
        unit="s",
        gt=0.0,
        desc="An anchor silent this long (data time) hands the frames to the next detection sensor still "
        "publishing (LiDAR, cameras, radars in that order) until it publishes again: 5 periods of a 10 Hz "
        "LiDAR, so one lost sweep does not flip anchors and a planner sees at most this much silence",
    )
    ego_extrapolation_max_s: float = param(
        0.3,
        unit="s",
        ge=0.0,
        desc="A frame newer than the ego filter (IMU late) gets its newest pose carried forward at "
        "constant twist up to this far; beyond, the frame has no ego pose",
    )
    ego_gap_reset_s: float = param(
        1.0,
        unit="s",
        ge=0.0,
        desc="Tracks coast in fixed_frame through an ego-pose gap this long; a longer gap restarts "
        "tracking in base_frame",
    )
    diagnostics_period_s: float = param(1.0, unit="s", gt=0.0, desc="Period of /diagnostics")
    raw_subscriptions: bool = param(
        True,
        unit="",
        desc="Subscribe to the inputs (not CameraInfo) as serialized bytes: PointCloud2/Image/"
        "CompressedImage payloads viewed in place (ros/cdr.py), the rest deserialised in the fusion "
        "worker, so the executor thread only queues bytes; false: typed messages",
    )
    executor: str = param(
        "events",
        unit="",
        choices=("events", "single_threaded"),
        desc="rclpy executor of the node: events (rclpy.experimental.EventsExecutor, the wait and the "
        "dispatch in C++: about half the executor-thread CPU of single_threaded in bench_live, "
        "so the callbacks hold the GIL for less of the fusion step) or single_threaded (rclpy's "
        "Python executor; also the fallback where the events executor is missing)",
    )
    worker: str = param(
        "thread",
        unit="",
        choices=("thread", "process"),
        desc="Where the fusion step runs: thread (a worker thread beside the executor, one interpreter) "
        "or process (a child process fed the serialized inputs over a pipe, its outputs published "
        "as bytes: the step never waits for the executor's GIL; ros/worker_process.py)",
    )
    cpu_dma_latency_us: int = param(
        -1,
        unit="us",
        ge=-1,
        desc="While the node runs, ask the kernel to keep CPU wake-up latency at most this "
        "(/dev/cpu_dma_latency, PM QoS; 0: cores poll instead of halting between frames; live p50 "
        "15.8 -> 12.8 ms on the 2-core VM, host_latency.py); needs root or a udev rule; -1: off",
    )
    idle_flush_s: float = param(
        0.5,
        unit="s",
        gt=0.0,
        desc="Wall time without any input after which the node emits pending frames without waiting",
    )
    publish_markers: bool = param(
        True, unit="", desc="Publish ~/markers (RViz boxes of the tracks; built only while subscribed)"
    )
    publish_detections: bool = param(
        True,
        unit="",
        desc="Publish ~/detections/<source> (each detector's output; built only while subscribed)",
    )
    output_qos: str = param("reliable", unit="", choices=QOS_CHOICES, desc="QoS profile of the outputs")
    output_depth: int = param(10, unit="1", ge=1, desc="Queue depth of the outputs, messages")

    lidar: LidarInputConfig = section(LidarInputConfig, "The LiDAR input")
    imu: ImuInputConfig = section(ImuInputConfig, "The IMU input (for the ego filter)")
    gps: GpsInputConfig = section(GpsInputConfig, "The GNSS input (for the ego filter)")
    wheel_odom: WheelOdomInputConfig = section(
        WheelOdomInputConfig, "The wheel-odometry input (for the ego filter; ground robots)"
    )
    gps_velocity: GpsVelocityInputConfig = section(
        GpsVelocityInputConfig, "The GNSS velocity input (for the ego filter)"
    )
    cameras: list[CameraConfig] = named_sections(
        CameraConfig,
        ("camera_front", "camera_rear"),
        'Camera names, each configured in its own block below; [""] for none (ROS YAML cannot type [])',
    )
    radars: list[RadarConfig] = named_sections(
        RadarConfig,
        ("radar_front",),
        'Radar names, each configured in its own block below; [""] for none (ROS YAML cannot type [])',
    )

    detector: LidarDetectorConfig = section(
        LidarDetectorConfig,
        "Classical LiDAR detector (detection_mode classical or both): ground removal, BEV clustering, "
        "L-shape boxes; heights are relative to the local ground estimate",
    )
    radar_detector: RadarDetectorConfig = section(
        RadarDetectorConfig,
        "Radar detector (detection_mode classical or both): ego-compensated Doppler, clustering, "
        "velocity fit; the noise block is the radar's datasheet",
    )
    camera_evidence: CameraEvidenceConfig = section(
        CameraEvidenceConfig,
        "Camera evidence for LiDAR boxes (detection_mode classical or both): visibility, occlusion, "
        "class cue",
    )
    bev: BevDetectorConfig = section(BevDetectorConfig, "The BEV network (detection_mode bev or both)")
    tracker: TrackerConfig = section(
        TrackerConfig,
        "Multi-object tracker: IMM (or constant-velocity) Kalman filters, gated association, "
        "existence probability, per-sensor trust",
    )
    ego: EgoConfig = section(
        EgoConfig,
        "Ego-state filter (IMU + GPS error-state Kalman filter). The IMU block is the datasheet of "
        "the vehicle's IMU, noise densities x2 for vibration on the vehicle; the GPS noise comes "
        "from each NavSatFix covariance",
    )
    radar_velocity: RadarEgoVelocityConfig = section(
        RadarEgoVelocityConfig,
        "Ego velocity from radar Doppler on static returns, fed to the ego filter: what IMU + GPS "
        "observe worst. Returns on detected objects (LiDAR/BEV boxes) and beyond max_range_m are "
        "not candidates; the rest must agree (RANSAC) on one forward speed (nonholonomic: no side slip)",
    )

    def __getitem__(self, key: str) -> Any:
        """A parameter by its flat name: ``cfg["lidar.topic"]`` is ``cfg.lidar.topic``."""
        try:
            return reduce(getattr, key.split("."), self)
        except AttributeError:
            raise KeyError(key) from None

    @property
    def detection_sensors(self) -> list[str]:
        """The configured LiDAR, camera and radar names (what detection frames are made of)."""
        return (
            (["lidar"] if self.lidar.enabled else [])
            + [c.name for c in self.cameras]
            + [r.name for r in self.radars]
        )

    def cross_checks(self) -> list[str]:
        out = []
        cams, rads = [c.name for c in self.cameras], [r.name for r in self.radars]
        bad = [n for n in cams + rads if not _SENSOR_NAME.match(n)]
        if bad:
            out.append(
                f"cameras.names/radars.names: {bad} are not valid parameter names ([A-Za-z][A-Za-z0-9_]*)"
            )
        fixed = {"lidar", "imu", "gps", "wheel_odom", "gps_velocity"}
        if len({*cams, *rads, *fixed}) != len(cams) + len(rads) + len(fixed):
            out.append(
                "cameras.names and radars.names must be unique and disjoint (and not lidar, imu, gps, "
                "wheel_odom, gps_velocity)"
            )
        anchors = ["lidar", *cams, *rads]
        if not self.detection_sensors:
            pass  # an ego-only node (IMU, GNSS, ...): no detection frames, no anchor needed
        elif self.anchor not in anchors:
            out.append(f"anchor: must be one of {anchors}, got '{self.anchor}'")
        elif self.anchor == "lidar" and not self.lidar.enabled:
            out.append("anchor: 'lidar' is the anchor but lidar.enabled is false")
        return out


def from_flat(flat: dict[str, Any]) -> FusionConfig:
    """Validate flat parameters; raises ConfigError listing every problem at once."""
    cfg, problems, used = build(FusionConfig, flat)
    problems += [f"{k}: unknown parameter" for k in flat if k not in used and not is_ros_own(k)]
    if problems:
        raise ConfigError("invalid fusion configuration:\n  " + "\n  ".join(problems))
    return cfg


# A params file names a few hundred parameters, nested a few levels; past these it is not one
# (a YAML alias bomb expands to millions, a self-referencing alias never ends).
MAX_PARAMS = 10_000
MAX_DEPTH = 16


def flatten(
    d: dict[str, Any], prefix: str = "", _out: dict[str, Any] | None = None, _depth: int = 0
) -> dict[str, Any]:
    """Nested mappings as dotted keys; ConfigError past MAX_PARAMS keys or MAX_DEPTH levels."""
    out: dict[str, Any] = {} if _out is None else _out
    if _depth > MAX_DEPTH:
        raise ConfigError(f"parameters nested deeper than {MAX_DEPTH} levels at '{prefix}'")
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flatten(v, key + ".", out, _depth + 1)
        else:
            out[key] = v
            if len(out) > MAX_PARAMS:
                raise ConfigError(f"more than {MAX_PARAMS} parameters (a YAML alias bomb?)")
    return out


def load_params_file(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """Flat parameters for ``node_name`` from a ROS 2 params YAML (``/**`` sections merged first).

    ConfigError when the file is not YAML (or not UTF-8) or has no mapping of parameters."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:  # also undecodable bytes (yaml.reader.ReaderError)
        raise ConfigError(f"{path}: not a YAML file: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of node names, got {type(data).__name__}")
    flat: dict[str, Any] = {}
    for section_name in ("/**", node_name, "/" + node_name):
        entry = data.get(section_name)
        if entry is None:
            continue
        params = entry.get("ros__parameters") if isinstance(entry, dict) else None
        if params is None:
            continue
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: '{section_name}: ros__parameters' must be a mapping")
        flat.update(flatten(params))
    if not flat and data:
        raise ConfigError(f"{path}: no '{node_name}: ros__parameters:' section")
    return flat


def default_share_dir() -> Path:
    """The package's share directory (installed) or the source tree (development)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("sensor_fusion"))
        if (share / "config").is_dir():
            return share
    except Exception:
        pass
    return Path(__file__).resolve().parents[2]


def resolve_calibration_path(cfg: FusionConfig) -> Path:
    """``calibration_file``; a relative path that does not exist from the working directory is
    looked up in the package's share directory (``config/calibration_robot.yaml`` from a
    shipped config works from anywhere)."""
    p = cfg.calibration_file
    if not p:
        return default_share_dir() / "config" / "calibration.yaml"
    path = Path(p)
    if not path.is_absolute() and not path.exists() and (default_share_dir() / path).exists():
        return default_share_dir() / path
    return path
