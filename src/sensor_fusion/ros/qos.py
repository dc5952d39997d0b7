"""QoS profiles by name, as used in config/fusion.yaml."""

from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data


def qos_by_name(name: str, depth: int = 10) -> QoSProfile:
    if name == "sensor_data":
        return qos_profile_sensor_data  # best effort, keep last 5: what sensor drivers publish
    if name == "best_effort":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT
        )
    if name == "reliable":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE
        )
    raise ValueError(f"unknown QoS profile '{name}' (sensor_data, best_effort, reliable)")
