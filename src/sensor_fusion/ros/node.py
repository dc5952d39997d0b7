"""The fusion node: subscribe, decode, enqueue; a worker thread fuses and publishes.

Callbacks only decode and push into the pipeline's synchroniser (under a lock),
so a slow fusion stage never blocks ingestion; the worker pops complete frames
and runs the pipeline outside the lock. Malformed input is logged (throttled),
counted per sensor in /diagnostics, and dropped; the node keeps running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from functools import partial

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from sensor_fusion_msgs.msg import DetectedObjectArray, TrackedObjectArray

from ..config import ConfigError, resolve_calibration_path
from ..core.calibration import CalibrationError, load_calibration
from ..pipeline import FusionPipeline, PipelineOutput
from . import convert, diagnostics
from .inputs import input_specs
from .markers import track_markers
from .params import declare_all
from .qos import qos_by_name

try:  # TF is optional: the node must run without tf2_ros (not on PyPI)
    from geometry_msgs.msg import TransformStamped
    from tf2_ros import TransformBroadcaster
except ImportError:  # pragma: no cover - depends on the install
    TransformBroadcaster = None


class FusionNode(Node):
    def __init__(self, **kwargs):
        # every override (params file, -p, parameter_overrides) becomes a declared parameter, so
        # declare_all can list them through the public API and report names the schema lacks
        super().__init__("fusion_node", automatically_declare_parameters_from_overrides=True, **kwargs)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        try:
            self.cfg = declare_all(self)
            self.calibration = load_calibration(resolve_calibration_path(self.cfg))
        except (ConfigError, CalibrationError, OSError) as exc:
            self.get_logger().fatal(str(exc))
            raise
        logging.basicConfig(level=logging.INFO)
        self.pipeline = FusionPipeline(self.cfg, self.calibration)
        t0 = time.monotonic()
        self.pipeline.warm_up()  # before subscribing: a cold numba cache would stall the first frames
        self.get_logger().info(f"pipeline warmed up in {time.monotonic() - t0:.1f} s")
        self.uuid_ns = convert.new_uuid_namespace()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._last_input = time.monotonic()
        self._frames = 0
        self._last_tracks = 0
        self._failed_frames = 0
        self._sensor = defaultdict(
            lambda: {
                "received_total": 0,
                "received_period": 0,
                "decode_errors": 0,
                "decode_errors_period": 0,
                "frame_id": "",
                "topic": "",
            }
        )
        self._intrinsics: dict[str, object] = {}
        self._make_subscriptions()
        depth = int(self.cfg["output_depth"])
        out_qos = qos_by_name(self.cfg["output_qos"], depth)
        self.pub_tracks = self.create_publisher(TrackedObjectArray, "~/tracked_objects", out_qos)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", out_qos)
        self.pub_odom = self.create_publisher(Odometry, "~/ego_odom", out_qos)
        # one detections topic per source the configured detection_mode produces
        mode = self.cfg["detection_mode"]
        sources = (["lidar", *[r.name for r in self.cfg.radars]] if mode in ("classical", "both") else []) + (
            ["bev"] if mode in ("bev", "both") else []
        )
        self.pub_det = {
            s: self.create_publisher(DetectedObjectArray, f"~/detections/{s}", out_qos) for s in sources
        }
        self.pub_timing = self.create_publisher(DiagnosticStatus, "~/timing", out_qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.tf = TransformBroadcaster(self) if TransformBroadcaster is not None else None
        self.create_timer(float(self.cfg["diagnostics_period_s"]), self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name="fusion-worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"fusion_node up: lidar={self.cfg['lidar.topic'] if self.cfg['lidar.enabled'] else 'off'}, "
            f"cameras={[c.name for c in self.cfg.cameras]}, radars={[r.name for r in self.cfg.radars]}, "
            f"fixed_frame={self.cfg['fixed_frame']}, tf={'yes' if self.tf else 'no (tf2_ros not importable)'}"
        )

    # -- subscriptions ---------------------------------------------------------------------------
    def _make_subscriptions(self) -> None:
        def nonfinite(sensor: str, n: int) -> None:
            self.get_logger().warning(f"{sensor}: dropped {n} non-finite points", throttle_duration_sec=5.0)

        for spec in input_specs(self.cfg, nonfinite):
            if spec.camera_info:
                cb = partial(self._on_info, spec.sensor, spec.decode)
            else:
                self._sensor[spec.sensor]["topic"] = spec.topic
                cb = partial(self._on_msg, spec.sensor, spec.decode)
            self.create_subscription(spec.msg_class, spec.topic, cb, qos_by_name(spec.qos, spec.depth))

    def _on_info(self, camera: str, decode, msg) -> None:
        try:
            self._intrinsics[camera] = decode(msg)
        except convert.DecodeError as exc:
            self.get_logger().warning(f"{camera}: {exc}", throttle_duration_sec=5.0)

    def _on_msg(self, sensor: str, decode, msg) -> None:
        s = self._sensor[sensor]
        s["received_total"] += 1
        s["received_period"] += 1
        s["frame_id"] = msg.header.frame_id
        try:
            item = decode(msg)
        except Exception as exc:  # any malformed input is dropped, never fatal
            s["decode_errors"] += 1
            s["decode_errors_period"] += 1
            self.get_logger().warning(
                f"{sensor}: dropped malformed message: {exc}", throttle_duration_sec=2.0
            )
            return
        if sensor in self._intrinsics and hasattr(item, "intrinsics"):
            item.intrinsics = self._intrinsics[sensor]
        with self._lock:
            self.pipeline.push(sensor, item)
        self._last_input = time.monotonic()
        self._wake.set()

    # -- fusion worker -------------------------------------------------------------------------
    def _run_worker(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=0.1)
            self._wake.clear()
            try:
                with self._lock:
                    frames = self.pipeline.sync.pop_ready()
                    if not frames and time.monotonic() - self._last_input > self.cfg.idle_flush_s:
                        frames = self.pipeline.sync.flush()
                for f in frames:
                    self._publish(self.pipeline.process(f))
            except Exception as exc:  # a failing stage must not stop the node
                self._failed_frames += 1
                self.get_logger().error(f"fusion step failed: {exc!r}", throttle_duration_sec=2.0)

    def _publish(self, out: PipelineOutput) -> None:
        self._frames += 1
        self._last_tracks = len(out.tracks)
        self.pub_tracks.publish(convert.tracks_msg(out.tracks, self.uuid_ns))
        if self.cfg["publish_markers"]:
            self.pub_markers.publish(track_markers(out.tracks))
        if self.cfg["publish_detections"]:
            for src, det in out.detections.items():
                if src in self.pub_det:
                    self.pub_det[src].publish(convert.detections_msg(det))
        self.pub_timing.publish(convert.timing_msg(out.stamp_ns, out.timing, out.missing))
        if out.ego is not None:
            odom = convert.odometry_msg(
                out.stamp_ns, self.cfg["fixed_frame"], self.cfg["base_frame"], out.ego
            )
            self.pub_odom.publish(odom)
            if self.tf is not None:
                t = TransformStamped()
                t.header = odom.header
                t.child_frame_id = odom.child_frame_id
                p = odom.pose.pose
                t.transform.translation.x, t.transform.translation.y = p.position.x, p.position.y
                t.transform.translation.z = p.position.z
                t.transform.rotation = p.orientation
                self.tf.sendTransform(t)

    def _publish_diagnostics(self) -> None:
        with self._lock:
            pipe = self.pipeline.diagnostics()
        sensors = {}
        names = ["lidar"] if self.cfg["lidar.enabled"] else []
        names += [c.name for c in self.cfg.cameras] + [r.name for r in self.cfg.radars]
        names += [n for n in ("imu", "gps") if self.cfg[f"{n}.enabled"]]
        for n in names:
            sensors[n] = dict(self._sensor[n])
        msg = diagnostics.build(
            self.get_name(),
            self.get_clock().now().to_msg(),
            float(self.cfg["diagnostics_period_s"]),
            sensors,
            pipe,
            self._frames,
            self._last_tracks,
            self._failed_frames,
        )
        self.pub_diag.publish(msg)
        for n in names:
            self._sensor[n]["received_period"] = 0
            self._sensor[n]["decode_errors_period"] = 0

    def destroy_node(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._wake.set()
            self._worker.join(timeout=2.0)
        super().destroy_node()


def main(args=None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = FusionNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigError, CalibrationError, OSError):
        node = None  # construction failed; the error was logged
        raise SystemExit(2) from None
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
