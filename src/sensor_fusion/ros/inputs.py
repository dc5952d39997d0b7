"""Which topics feed which sensor, and how each message decodes.

Shared by the live node (subscriptions) and the offline bag runner (topic map),
so both ingest data identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from geometry_msgs.msg import TwistWithCovarianceStamped
from nav_msgs.msg import Odometry
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix, PointCloud2

from ..config import FusionConfig
from . import cdr, convert


@dataclass
class InputSpec:
    sensor: str  # pipeline sensor name (lidar, imu, gps, wheel_odom, gps_velocity, or a camera/radar name)
    topic: str
    msg_class: type
    qos: str
    decode: Callable[[Any], Any]
    camera_info: bool = False  # CameraInfo: updates intrinsics, not a pipeline input
    depth: int = 10  # subscription queue depth (the input's qos_depth parameter)
    # serialized bytes -> a view ``decode`` accepts (ros/cdr.py), for a raw subscription; None: typed only
    parse_raw: Callable[[bytes], Any] | None = None


def input_specs(cfg: FusionConfig, on_nonfinite: Callable[[str, int], None] | None = None) -> list[InputSpec]:
    specs: list[InputSpec] = []
    if cfg["lidar.enabled"]:
        tf, mp = cfg["lidar.time_field"], int(cfg["lidar.max_points"])
        tu, tr = cfg["lidar.time_unit"], cfg["lidar.time_reference"]

        def dec_lidar(msg):
            cloud, bad = convert.decode_lidar(msg, tf, mp, tu, tr)
            if bad and on_nonfinite is not None:
                on_nonfinite("lidar", bad)
            return cloud

        specs.append(
            InputSpec(
                "lidar",
                cfg.lidar.topic,
                PointCloud2,
                cfg.lidar.qos,
                dec_lidar,
                depth=cfg.lidar.qos_depth,
                parse_raw=cdr.parse_pointcloud2,
            )
        )
    for cam in cfg.cameras:
        typ = CompressedImage if cam.compressed else Image
        specs.append(
            InputSpec(
                cam.name,
                cam.image_topic,
                typ,
                cam.qos,
                lambda m, n=cam.name: convert.decode_image(m, n),
                depth=cam.qos_depth,
                parse_raw=cdr.parse_compressed_image if cam.compressed else cdr.parse_image,
            )
        )
        specs.append(
            InputSpec(
                cam.name,
                cam.info_topic,
                CameraInfo,
                "sensor_data",
                convert.decode_camera_info,
                True,
                cam.qos_depth,
            )
        )
    for rad in cfg.radars:
        fields = (rad.x_field, rad.y_field, rad.z_field, rad.velocity_field, rad.rcs_field)
        if rad.msg_type == "radar_scan":
            from radar_msgs.msg import RadarScan  # built locally by scripts/setup_env.sh (no PyPI wheel)

            specs.append(
                InputSpec(
                    rad.name,
                    rad.topic,
                    RadarScan,
                    rad.qos,
                    lambda m: convert.decode_radar_scan(m)[0],
                    depth=rad.qos_depth,
                )
            )
            continue
        specs.append(
            InputSpec(
                rad.name,
                rad.topic,
                PointCloud2,
                rad.qos,
                lambda m, f=fields: convert.decode_radar(m, f)[0],
                depth=rad.qos_depth,
                parse_raw=cdr.parse_pointcloud2,
            )
        )
    if cfg["imu.enabled"]:
        specs.append(
            InputSpec("imu", cfg.imu.topic, Imu, cfg.imu.qos, convert.decode_imu, depth=cfg.imu.qos_depth)
        )
    if cfg["gps.enabled"]:
        specs.append(
            InputSpec(
                "gps",
                cfg.gps.topic,
                NavSatFix,
                cfg.gps.qos,
                partial(_earlier, convert.decode_gps, _ns(cfg.gps.stamp_latency_s)),
                depth=cfg.gps.qos_depth,
            )
        )
    if cfg["wheel_odom.enabled"]:
        w = cfg.wheel_odom
        specs.append(
            InputSpec(
                "wheel_odom", w.topic, Odometry, w.qos, convert.decode_wheel_odometry, depth=w.qos_depth
            )
        )
    if cfg["gps_velocity.enabled"]:
        g = cfg.gps_velocity
        specs.append(
            InputSpec(
                "gps_velocity",
                g.topic,
                TwistWithCovarianceStamped,
                g.qos,
                partial(_earlier, convert.decode_gnss_velocity, _ns(g.stamp_latency_s)),
                depth=g.qos_depth,
            )
        )
    return specs


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _earlier(decode: Callable[[Any], Any], latency_ns: int, msg: Any) -> Any:
    """``decode(msg)`` with its stamp moved back by ``latency_ns``: a driver that stamps a GNSS
    solution at reception (``gps.stamp_latency_s``) puts it later than the time it is valid at."""
    item = decode(msg)
    return replace(item, stamp_ns=item.stamp_ns - latency_ns) if latency_ns else item


def with_intrinsics(spec: InputSpec, item: Any, intrinsics: dict[str, Any]) -> Any | None:
    """A decoded item ready for the pipeline, or None for a CameraInfo (its intrinsics are kept in
    ``intrinsics`` and attached to that camera's later frames): the one rule of the offline runs."""
    if spec.camera_info:
        intrinsics[spec.sensor] = item
        return None
    return attach_intrinsics(spec.sensor, item, intrinsics)


def attach_intrinsics(sensor: str, item: Any, intrinsics: dict[str, Any]) -> Any:
    """``item`` with ``sensor``'s last CameraInfo attached where it is a camera frame."""
    if hasattr(item, "intrinsics") and sensor in intrinsics:
        item.intrinsics = intrinsics[sensor]
    return item


def raw_parser(spec: InputSpec) -> Callable[[bytes], Any]:
    """Serialized bytes -> what ``spec.decode`` accepts: the CDR view of ros/cdr.py for clouds and
    images, rclpy's deserialisation for the small messages."""
    return spec.parse_raw or partial(deserialize_message, message_type=spec.msg_class)


def decode_input(
    msg: Any, parse_raw: Callable[[bytes], Any] | None, decode: Callable[[Any], Any], counters: dict
) -> Any:
    """The pipeline item of one received message (serialized bytes when ``parse_raw`` is given),
    its header's frame id noted in ``counters["frame_id"]`` first; raises on malformed input
    (the caller counts and logs it)."""
    if parse_raw is not None:
        msg = parse_raw(msg)
    counters["frame_id"] = msg.header.frame_id
    return decode(msg)
