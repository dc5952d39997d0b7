"""QoS profiles by name, as used in config/fusion.yaml."""

from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data


def qos_by_name(name: str, depth: int = 10) -> QoSProfile:
    if name == "sensor_data":  # best effort like qos_profile_sensor_data, with our own depth
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
            reliability=ReliabilityPolicy.BEST_EFFORT,
            durability=qos_profile_sensor_data.durability,
        )
    if name == "best_effort":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT
        )
    if name == "reliable":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE
        )
    raise ValueError(f"unknown QoS profile '{name}' (sensor_data, best_effort, reliable)")
