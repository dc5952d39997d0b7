"""Fusion configuration shared by the ROS node and the offline CLI.

One schema, flat dotted keys (as ROS 2 parameters flatten nested YAML), every
key with a default and a unit in its name. ``config/fusion.yaml`` holds the node
parameters under ``fusion_node.ros__parameters``; the CLI reads the same file.
Per-sensor keys are dynamic: ``cameras.names`` lists cameras, then
``cameras.<name>.*`` configures each (likewise radars).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

QOS_CHOICES = ("sensor_data", "reliable", "best_effort")
NODE_NAME = "fusion_node"


class ConfigError(ValueError):
    pass


GLOBAL_DEFAULTS: dict[str, Any] = {
    "fixed_frame": "odom",
    "base_frame": "base_link",
    "calibration_file": "",  # empty: the package's config/calibration.yaml
    "anchor": "lidar",  # sensor whose messages trigger fusion frames: lidar or a camera/radar name
    "jump_threshold_s": 1.0,  # a stamp this far behind the last anchor resets all state (bag loop)
    "diagnostics_period_s": 1.0,
    "publish_markers": True,
    "publish_detections": True,
    "output_qos": "reliable",
    "output_depth": 10,
    "lidar.enabled": True,
    "lidar.topic": "/sensors/lidar/points",
    "lidar.qos": "sensor_data",
    "lidar.frame": "lidar_top",  # calibration frame of the LiDAR (its position guides box completion)
    "lidar.time_field": "t",  # per-point time offset field (s, relative to header stamp); '' if none
    "lidar.max_points": 400000,  # larger clouds are dropped as malformed
    "imu.enabled": True,
    "imu.topic": "/sensors/imu",
    "imu.qos": "sensor_data",
    "imu.timeout_s": 0.05,
    "imu.frame": "imu_link",  # calibration frame of the IMU (extrinsic for the ego filter)
    "gps.enabled": True,
    "gps.topic": "/sensors/gps/fix",
    "gps.qos": "sensor_data",
    "gps.frame": "gps_link",  # calibration frame of the GNSS antenna (lever arm)
    "cameras.names": ["camera_front", "camera_rear"],
    "radars.names": ["radar_front"],
    # classical: LiDAR boxes + camera relabel + radar Doppler detector; bev: the learned BEV network
    # on every present modality replaces them; both: the network inside its grid, classical beyond
    "detection_mode": "classical",
}

DETECTION_MODES = ("classical", "bev", "both")

CAMERA_DEFAULTS: dict[str, Any] = {
    "image_topic": "/sensors/{name}/image/compressed",
    "info_topic": "/sensors/{name}/camera_info",
    "compressed": True,
    "qos": "sensor_data",
    "tolerance_s": 0.05,
    "offset_s": 0.0,
    "timeout_s": 0.1,
}

RADAR_DEFAULTS: dict[str, Any] = {
    "topic": "/sensors/{name}/points",
    "qos": "sensor_data",
    "x_field": "x",
    "y_field": "y",
    "z_field": "z",
    "velocity_field": "radial_velocity",
    "rcs_field": "rcs",
    "tolerance_s": 0.05,
    "offset_s": 0.0,
    "timeout_s": 0.1,
}


@dataclass
class CameraConfig:
    name: str
    image_topic: str
    info_topic: str
    compressed: bool
    qos: str
    tolerance_s: float
    offset_s: float
    timeout_s: float


@dataclass
class RadarConfig:
    name: str
    topic: str
    qos: str
    x_field: str
    y_field: str
    z_field: str
    velocity_field: str
    rcs_field: str
    tolerance_s: float
    offset_s: float
    timeout_s: float


@dataclass
class FusionConfig:
    params: dict[str, Any]  # global keys (GLOBAL_DEFAULTS) after validation
    cameras: list[CameraConfig] = field(default_factory=list)
    radars: list[RadarConfig] = field(default_factory=list)
    detector: dict[str, Any] = field(default_factory=dict)  # LidarDetectorConfig keys
    radar_detector: dict[str, Any] = field(default_factory=dict)  # RadarDetectorConfig keys
    camera_evidence: dict[str, Any] = field(default_factory=dict)  # CameraEvidenceConfig keys
    tracker: dict[str, Any] = field(default_factory=dict)  # TrackerConfig keys
    ego: dict[str, Any] = field(default_factory=dict)  # EgoConfig keys
    bev: dict[str, Any] = field(default_factory=dict)  # BevDetectorConfig keys
    radar_velocity: dict[str, Any] = field(default_factory=dict)  # RadarEgoVelocityConfig keys

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


def per_sensor_defaults(kind: str, name: str) -> dict[str, Any]:
    base = CAMERA_DEFAULTS if kind == "cameras" else RADAR_DEFAULTS
    return {f"{kind}.{name}.{k}": (v.format(name=name) if isinstance(v, str) else v) for k, v in base.items()}


def _check_type(key: str, value: Any, default: Any, errors: list[str]) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            errors.append(f"{key}: expected true/false, got {value!r}")
        return value
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{key}: expected a number, got {value!r}")
            return default
        return type(default)(value) if isinstance(default, float) else value
    if isinstance(default, list):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            errors.append(f"{key}: expected a list of strings, got {value!r}")
            return default
        return [v for v in value if v]  # [''] is how ROS YAML spells an empty string list
    if not isinstance(value, str):
        errors.append(f"{key}: expected a string, got {value!r}")
    return value


def from_flat(flat: dict[str, Any]) -> FusionConfig:
    """Validate flat parameters; raises ConfigError listing every problem at once."""
    errors: list[str] = []
    params = dict(GLOBAL_DEFAULTS)
    sub: dict[str, dict[str, Any]] = {
        "detector": {},
        "radar_detector": {},
        "camera_evidence": {},
        "tracker": {},
        "ego": {},
        "bev": {},
        "radar_velocity": {},
    }
    known = set(GLOBAL_DEFAULTS)
    for kind in ("cameras", "radars"):
        names = flat.get(f"{kind}.names", GLOBAL_DEFAULTS[f"{kind}.names"])
        for n in names if isinstance(names, list | tuple) else []:
            known |= set(per_sensor_defaults(kind, n)) if n else set()
    for key, value in flat.items():
        head = key.split(".", 1)[0]
        if head in sub and "." in key:
            sub[head][key.split(".", 1)[1]] = value
        elif key in GLOBAL_DEFAULTS:
            params[key] = _check_type(key, value, GLOBAL_DEFAULTS[key], errors)
        elif key not in known and key not in ("use_sim_time",):
            errors.append(f"{key}: unknown parameter")
    cfg = FusionConfig(
        params=params,
        detector=sub["detector"],
        radar_detector=sub["radar_detector"],
        camera_evidence=sub["camera_evidence"],
        tracker=sub["tracker"],
        ego=sub["ego"],
        bev=sub["bev"],
        radar_velocity=sub["radar_velocity"],
    )
    for kind, cls, out in (("cameras", CameraConfig, cfg.cameras), ("radars", RadarConfig, cfg.radars)):
        for name in params[f"{kind}.names"]:
            vals = {}
            for key, default in per_sensor_defaults(kind, name).items():
                vals[key.rsplit(".", 1)[1]] = _check_type(key, flat.get(key, default), default, errors)
            out.append(cls(name=name, **vals))
    if len({*params["cameras.names"], *params["radars.names"]}) != len(params["cameras.names"]) + len(
        params["radars.names"]
    ):
        errors.append("cameras.names and radars.names must be unique and disjoint")
    for key, value in flat.items():
        if key.endswith("qos") and isinstance(value, str) and value not in QOS_CHOICES:
            errors.append(f"{key}: must be one of {QOS_CHOICES}, got '{value}'")
        if key.endswith(("_s", "tolerance_s", "timeout_s")) and isinstance(value, int | float) and value < 0:
            if not key.endswith("offset_s"):
                errors.append(f"{key}: must be >= 0, got {value}")
    if params["diagnostics_period_s"] <= 0:
        errors.append("diagnostics_period_s: must be > 0")
    if params["detection_mode"] not in DETECTION_MODES:
        errors.append(f"detection_mode: must be one of {DETECTION_MODES}, got '{params['detection_mode']}'")
    anchors = ["lidar", *params["cameras.names"], *params["radars.names"]]
    if params["anchor"] not in anchors:
        errors.append(f"anchor: must be one of {anchors}, got '{params['anchor']}'")
    elif params["anchor"] == "lidar" and not params["lidar.enabled"]:
        errors.append("anchor: 'lidar' is the anchor but lidar.enabled is false")
    # sub-configs validate themselves so that bad keys are caught before any node starts
    for name, builder in _sub_builders().items():
        try:
            builder(sub[name])
        except (ValueError, TypeError) as exc:
            errors.append(f"{name}: {exc}")
    if errors:
        raise ConfigError("invalid fusion configuration:\n  " + "\n  ".join(errors))
    return cfg


def _sub_builders() -> dict:
    from .bev.config import BevDetectorConfig
    from .ego.estimator import EgoConfig
    from .ego.radar_velocity import RadarEgoVelocityConfig
    from .perception.camera import CameraEvidenceConfig
    from .perception.lidar import LidarDetectorConfig
    from .perception.radar import RadarDetectorConfig
    from .tracking.tracker import TrackerConfig

    def tracker(d: dict) -> TrackerConfig:
        if "frame_id" in d:
            raise ValueError("tracker.frame_id is set from fixed_frame; remove it")
        return TrackerConfig.from_dict(d)

    return {
        "detector": LidarDetectorConfig.from_dict,
        "radar_detector": RadarDetectorConfig.from_dict,
        "camera_evidence": CameraEvidenceConfig.from_dict,
        "tracker": tracker,
        "ego": EgoConfig.from_dict,
        "bev": BevDetectorConfig.from_dict,
        "radar_velocity": RadarEgoVelocityConfig.from_dict,
    }


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_params_file(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """Flat parameters for ``node_name`` from a ROS 2 params YAML (``/**`` sections merged first)."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    flat: dict[str, Any] = {}
    for section in ("/**", node_name, "/" + node_name):
        entry = data.get(section)
        if isinstance(entry, dict):
            flat.update(flatten(entry.get("ros__parameters", {}) or {}))
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
    p = cfg["calibration_file"]
    return Path(p) if p else default_share_dir() / "config" / "calibration.yaml"
