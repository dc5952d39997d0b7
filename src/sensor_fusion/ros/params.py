"""Declare every fusion parameter on a node, with defaults, and read them back flat.

Sub-configs (``detector.*``, ``tracker.*``, ``ego.*``) are declared from their
dataclass defaults, so ``ros2 param list`` shows every knob. Overrides for keys
we do not know (typos in a params file) are reported by ``config.from_flat``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..config import GLOBAL_DEFAULTS, per_sensor_defaults


def _sub_defaults() -> dict[str, Any]:
    from ..bev.config import BevDetectorConfig
    from ..ego.estimator import EgoConfig
    from ..ego.radar_velocity import RadarEgoVelocityConfig
    from ..perception.camera import CameraEvidenceConfig
    from ..perception.lidar import LidarDetectorConfig
    from ..perception.radar import RadarDetectorConfig
    from ..tracking.tracker import TrackerConfig

    out: dict[str, Any] = {}
    subs = (
        ("detector", LidarDetectorConfig),
        ("radar_detector", RadarDetectorConfig),
        ("camera_evidence", CameraEvidenceConfig),
        ("tracker", TrackerConfig),
        ("ego", EgoConfig),
        ("bev", BevDetectorConfig),
        ("radar_velocity", RadarEgoVelocityConfig),
    )
    for prefix, cls in subs:
        inst = cls()
        for f in dataclasses.fields(cls):
            if f.name == "frame_id":  # set from fixed_frame
                continue
            v = getattr(inst, f.name)
            if isinstance(v, tuple):
                v = list(v)
            if isinstance(v, bool | int | float | str) or (isinstance(v, list) and v):
                out[f"{prefix}.{f.name}"] = v
            elif v is None and f.name == "datum":
                out[f"{prefix}.{f.name}"] = Parameter.Type.DOUBLE_ARRAY  # typed, unset: first fix
    return out


def _declare(node: Node, name: str, default: Any) -> Any:
    if isinstance(default, Parameter.Type):  # declared with a type but no value
        return node.declare_parameter(name, default).value
    if isinstance(default, list) and all(isinstance(v, str) for v in default):
        desc = ParameterDescriptor(type=ParameterType.PARAMETER_STRING_ARRAY)
        return node.declare_parameter(name, default, desc).value
    # dynamic typing: a params file writing 0 for 0.0 (or a wrong type) reaches config.from_flat,
    # which converts or reports it with every other problem, instead of rclpy raising on the first
    return node.declare_parameter(name, default, ParameterDescriptor(dynamic_typing=True)).value


def declare_all(node: Node) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, default in GLOBAL_DEFAULTS.items():
        flat[key] = _declare(node, key, default)
    for kind in ("cameras", "radars"):
        for name in [n for n in (flat[f"{kind}.names"] or []) if n]:
            for key, default in per_sensor_defaults(kind, name).items():
                flat[key] = _declare(node, key, default)
    # Sub-configs: declared so `ros2 param list` shows them, but only values the user set are passed
    # on; the rest keep the dataclass defaults (some derive from the calibration), exactly as
    # `sensor-fusion run` does with the same params file.
    overrides = getattr(node, "_parameter_overrides", {}) or {}
    for key, default in _sub_defaults().items():
        value = _declare(node, key, default)
        if value is not None and key in overrides:
            flat[key] = value
    # overrides naming parameters we never declared (typos): pass them on so validation names them
    for key, param in overrides.items():
        if key not in flat and key != "use_sim_time":
            flat[key] = param.value
    return flat
