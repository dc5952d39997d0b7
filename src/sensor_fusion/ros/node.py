"""The fusion node: subscribe and enqueue; a worker thread decodes, fuses and publishes.

Callbacks only count and queue the message (the serialized bytes, for the raw subscriptions of
clouds and images): no per-message Python beyond that, so the executor thread holds the GIL for
microseconds and cannot stall the fusion step, and a slow fusion stage never blocks ingestion.
The worker drains the queues in arrival order (decode, push into the pipeline's synchroniser),
then takes the complete frames and runs the pipeline. Each sensor's queue is bounded by its
subscription depth (``<sensor>.qos_depth``, what DDS keeps): when the worker falls behind, the
oldest message is dropped and counted (``queue_drops`` in /diagnostics). Malformed input is
logged (throttled), counted per sensor in /diagnostics, and dropped; the node keeps running.
With ``worker: process`` the thread only forwards the queued bytes to a child process that
decodes, fuses and sends back serialized outputs (``ros/worker_process.py``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import defaultdict, deque
from functools import partial
from operator import itemgetter

import rclpy
import rclpy.executors
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from visualization_msgs.msg import MarkerArray

from sensor_fusion_msgs.msg import DetectedObjectArray, TrackedObjectArray

from ..config import ConfigError, resolve_calibration_path
from ..core.calibration import CalibrationError, load_calibration
from ..core.weights import WeightsError
from ..ego.odom import EgoOutput
from ..host_latency import hold_cpu_latency
from ..pipeline import FusionPipeline, PipelineOutput
from . import convert, diagnostics, outputs
from .inputs import attach_intrinsics, decode_input, input_specs, raw_parser
from .params import check_change, declare_all
from .qos import qos_by_name
from .tf import TF_STATIC_TOPIC, TF_TOPIC, TFMessage, calibration_from_tf
from .worker_process import WorkerProcess, WorkerStartError

# /tf as tf2_ros' TransformBroadcaster publishes it; /tf_static as its static broadcaster (latched)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class FusionNode(Node):
    def __init__(self, **kwargs):
        # every override (params file, -p, parameter_overrides) becomes a declared parameter, so
        # declare_all can list them through the public API and report names the schema lacks
        super().__init__("fusion_node", automatically_declare_parameters_from_overrides=True, **kwargs)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        try:
            self.cfg = declare_all(self)
            self.add_on_set_parameters_callback(partial(check_change, self.cfg))
            cal_path = resolve_calibration_path(self.cfg)
            self.calibration = load_calibration(cal_path)
            logging.basicConfig(level=logging.INFO)
            self.calibration = self._extrinsics_from_tf_static(self.calibration, cal_path)
            self.uuid_ns = convert.new_uuid_namespace()
            self.pipeline: FusionPipeline | None = None
            self._proc: WorkerProcess | None = None
            self._worker_diag: dict | None = None
            if self.cfg["worker"] == "process":  # builds and warms its own pipeline before we subscribe
                self._proc = WorkerProcess(
                    self.cfg,
                    self.calibration,
                    self.uuid_ns,
                    self._publish_bytes,
                    self._take_diag,
                    self.get_logger(),
                )
            else:
                self.pipeline = FusionPipeline(self.cfg, self.calibration)  # loads the weights files
        except (ConfigError, CalibrationError, WeightsError, OSError, WorkerStartError) as exc:
            self.get_logger().fatal(str(exc))
            raise
        if self.pipeline is not None:
            t0 = time.monotonic()
            self.pipeline.warm_up()  # before subscribing: a cold numba cache would stall the first frames
            self.get_logger().info(f"pipeline warmed up in {time.monotonic() - t0:.1f} s")
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
                "queue_drops": 0,
                "frame_id": "",
                "topic": "",
            }
        )
        self._intrinsics: dict[str, object] = {}
        # sensor -> (arrival number, decode, parse_raw, message): filled by callbacks, drained by the worker
        self._inbox: dict[str, deque] = {}
        self._arrival = itertools.count()
        self._make_subscriptions()
        depth = int(self.cfg["output_depth"])
        out_qos = qos_by_name(self.cfg["output_qos"], depth)
        # one detections topic per source the configured detection_mode produces
        mode = self.cfg["detection_mode"]
        sources = (["lidar", *[r.name for r in self.cfg.radars]] if mode in ("classical", "both") else []) + (
            ["bev"] if mode in ("bev", "both") else []
        )
        types = {
            outputs.TRACKS: TrackedObjectArray,
            outputs.MARKERS: MarkerArray,
            outputs.ODOMETRY: Odometry,
            outputs.TIMING: DiagnosticStatus,
            **{outputs.detections_topic(s): DetectedObjectArray for s in sources},
        }
        # relative topic (ros/outputs.py) -> publisher on ~/<topic>
        self.pubs = {topic: self.create_publisher(t, f"~/{topic}", out_qos) for topic, t in types.items()}
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        want_tf = self.cfg["publish_tf_odom"] or self.cfg["publish_tf_map"]
        self.tf = self.create_publisher(TFMessage, TF_TOPIC, TF_QOS) if want_tf and TFMessage else None
        self._odometry = 0
        self.create_timer(float(self.cfg["diagnostics_period_s"]), self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name="fusion-worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"fusion_node up: lidar={self.cfg['lidar.topic'] if self.cfg['lidar.enabled'] else 'off'}, "
            f"cameras={[c.name for c in self.cfg.cameras]}, radars={[r.name for r in self.cfg.radars]}, "
            f"fixed_frame={self.cfg['fixed_frame']}, odometry at {self.cfg['odometry_rate_hz']:g} Hz, "
            f"tf={'yes' if self.tf else 'off' if not want_tf else 'no (tf2_msgs not importable)'}"
        )

    def _extrinsics_from_tf_static(self, calibration, cal_path):
        """The sensor extrinsics from /tf_static where it reaches them within tf_static_wait_s,
        the calibration file for the rest; the log says which. The wait ends early once every
        frame is reached (start-up does not idle the whole wait on a robot that publishes them)."""
        wait = float(self.cfg["tf_static_wait_s"])
        c = self.cfg
        frames = sorted({*calibration.frames, c["lidar.frame"], c["imu.frame"], c["gps.frame"]})
        wanted = {f for f in frames if f and f != calibration.base_frame}
        got: list = []
        if wait > 0 and TFMessage is not None:
            sub = self.create_subscription(
                TFMessage, TF_STATIC_TOPIC, lambda m: got.extend(m.transforms), TF_STATIC_QOS
            )
            end = time.monotonic() + wait
            seen = 0
            while time.monotonic() < end:
                rclpy.spin_once(self, timeout_sec=0.05)
                if len(got) != seen:
                    seen = len(got)
                    if wanted <= set(calibration_from_tf(got, calibration, frames)[1]):
                        break
            self.destroy_subscription(sub)
        cal, taken = calibration_from_tf(got, calibration, frames)
        rest = [f for f in frames if f not in taken and calibration.has_frame(f)]
        if taken:
            self.get_logger().info(f"extrinsics from /tf_static: {taken}; from {cal_path}: {rest}")
        else:
            why = "tf2_msgs not importable" if TFMessage is None else f"none within {wait:g} s"
            self.get_logger().info(f"extrinsics from {cal_path} (/tf_static: {why})")
        return cal

    # -- subscriptions ---------------------------------------------------------------------------
    def _make_subscriptions(self) -> None:
        def nonfinite(sensor: str, n: int) -> None:
            self.get_logger().warning(f"{sensor}: dropped {n} non-finite points", throttle_duration_sec=5.0)

        raw_ok = bool(self.cfg["raw_subscriptions"])
        for spec in input_specs(self.cfg, nonfinite):
            # every input but CameraInfo as serialized bytes: clouds and images viewed in place by
            # ros/cdr.py, small messages deserialised by rclpy in the worker (the 200 Hz IMU's
            # message objects were the executor thread's largest cost after the executor's own)
            raw = raw_ok and not spec.camera_info
            if spec.camera_info:
                cb = partial(self._on_info, spec.sensor, spec.decode)
            else:
                self._sensor[spec.sensor]["topic"] = spec.topic
                self._inbox[spec.sensor] = deque(maxlen=max(1, int(spec.depth)))
                cb = partial(self._on_msg, spec.sensor, spec.decode, raw_parser(spec) if raw else None)
            qos = qos_by_name(spec.qos, spec.depth)
            self.create_subscription(spec.msg_class, spec.topic, cb, qos, raw=raw)

    def _on_info(self, camera: str, decode, msg) -> None:
        try:
            self._intrinsics[camera] = decode(msg)
        except convert.DecodeError as exc:
            self.get_logger().warning(f"{camera}: {exc}", throttle_duration_sec=5.0)
            return
        if self._proc is not None:
            self._proc.send("info", camera, self._intrinsics[camera])

    def _on_msg(self, sensor: str, decode, parse_raw, msg) -> None:
        """One input message (or its serialized bytes, with ``parse_raw``): count, queue, wake the
        worker. Nothing else runs here (see the module docstring)."""
        s = self._sensor[sensor]
        s["received_total"] += 1
        s["received_period"] += 1
        q = self._inbox[sensor]
        if len(q) == q.maxlen:  # the worker is behind: the oldest goes, as in DDS's KEEP_LAST
            s["queue_drops"] += 1
            self.get_logger().warning(
                f"{sensor}: input queue full ({q.maxlen}), oldest message dropped", throttle_duration_sec=5.0
            )
        q.append((next(self._arrival), decode, parse_raw, msg))
        self._last_input = time.monotonic()
        self._wake.set()

    def _decode(self, sensor: str, decode, parse_raw, msg):
        """The pipeline item of one queued message, or None when it is malformed (counted, logged)."""
        s = self._sensor[sensor]
        try:
            item = decode_input(msg, parse_raw, decode, s)
        except Exception as exc:  # any malformed input is dropped, never fatal
            s["decode_errors"] += 1
            s["decode_errors_period"] += 1
            self.get_logger().warning(
                f"{sensor}: dropped malformed message: {exc}", throttle_duration_sec=2.0
            )
            return None
        return attach_intrinsics(sensor, item, self._intrinsics)

    def _take_queued(self) -> list[tuple]:
        """Every queued message, ``(arrival, decode, parse_raw, message, sensor)`` in arrival order."""
        queued = []
        for sensor, q in self._inbox.items():
            while q:
                try:
                    queued.append((*q.popleft(), sensor))
                except IndexError:  # deque emptied meanwhile (cannot happen with one consumer)
                    break
        queued.sort(key=itemgetter(0))
        return queued

    def _drain_inbox(self) -> None:
        """Decode every queued message in arrival order and push it into the pipeline."""
        for _n, decode, parse_raw, msg, sensor in self._take_queued():
            item = self._decode(sensor, decode, parse_raw, msg)
            if item is not None:
                with self._lock:
                    self.pipeline.push(sensor, item)

    def _forward_inbox(self) -> None:
        """Process mode: every queued message, in arrival order, to the worker process as bytes."""
        for _n, _decode, parse_raw, msg, sensor in self._take_queued():
            payload = msg if parse_raw is not None else serialize_message(msg)  # typed: raw_subscriptions off
            self._proc.send_input(sensor, payload)

    def _wanted(self) -> dict[str, bool]:
        """Which optional outputs someone subscribes to (markers and detections cost CPU to build)."""
        return {topic: self._wanted_topic(topic) for topic in self.pubs}

    def _send(self, msgs: list) -> None:
        """Publish ``(topic, message or serialized bytes)`` pairs; a topic without a publisher (a
        source the configured detection_mode does not produce, /tf turned off) is skipped."""
        for topic, msg in msgs:
            pub = self.tf if topic == TF_TOPIC else self.pubs.get(topic)
            if pub is not None:
                pub.publish(msg)

    def _publish_bytes(self, kind: str, msgs: list) -> None:
        """Process mode (the worker process's reader thread): publish serialized outputs."""
        self._send(msgs)
        if kind == "ego":
            self._odometry += 1

    def _take_diag(self, diag: dict) -> None:
        self._worker_diag = diag

    # -- fusion worker -------------------------------------------------------------------------
    def _run_worker(self) -> None:
        if self._proc is not None:
            self._run_forwarder()
            return
        while not self._stop.is_set():
            self._wake.wait(timeout=0.1)
            self._wake.clear()
            try:
                self._drain_inbox()
                idle = time.monotonic() - self._last_input > self.cfg.idle_flush_s
                with self._lock:  # take the inputs and frames under the lock, fuse them outside it
                    ego_in, frames = self.pipeline.take_ready(idle)
                self.pipeline.fuse(ego_in, frames, self._publish_ego, self._publish)
            except Exception as exc:  # a failing stage must not stop the node
                self._failed_frames += 1
                self.get_logger().error(f"fusion step failed: {exc!r}", throttle_duration_sec=2.0)

    def _run_forwarder(self) -> None:
        """Process mode: this thread only forwards inputs (and, twice a second, which outputs are wanted)."""
        last_wanted = 0.0
        while not self._stop.is_set():
            self._wake.wait(timeout=0.1)
            self._wake.clear()
            try:
                if time.monotonic() - last_wanted > 0.5:
                    last_wanted = time.monotonic()
                    self._proc.send("wanted", self._wanted())
                self._forward_inbox()
            except Exception as exc:  # never let the forwarder die
                self.get_logger().error(
                    f"forwarding to the worker failed: {exc!r}", throttle_duration_sec=2.0
                )

    def _publish(self, out: PipelineOutput) -> None:
        self._frames += 1
        self._last_tracks = len(out.tracks)
        self._send(outputs.frame_messages(out, self.uuid_ns, self.cfg, self._wanted_topic))

    def _wanted_topic(self, topic: str) -> bool:
        pub = self.pubs.get(topic)
        return pub is not None and pub.get_subscription_count() > 0

    def _publish_ego(self, e: EgoOutput) -> None:
        """Odometry (map) and /tf (map -> odom -> base_link) of one ego output."""
        self._odometry += 1
        self._send(outputs.ego_messages(e, self.cfg, tf=self.tf is not None))

    def _publish_diagnostics(self) -> None:
        names = ["lidar"] if self.cfg["lidar.enabled"] else []
        names += [c.name for c in self.cfg.cameras] + [r.name for r in self.cfg.radars]
        names += [n for n in ("imu", "gps", "wheel_odom", "gps_velocity") if self.cfg[f"{n}.enabled"]]
        if self._proc is not None:  # the worker process decodes and fuses: its counters
            d = self._worker_diag
            if d is None:
                return
            pipe, frames, last_tracks, failed = (
                d["pipeline"],
                d["frames"],
                d["last_tracks"],
                d["failed_frames"],
            )
            for n in names:
                w = d["sensors"].get(n)
                if w is not None:
                    s = self._sensor[n]
                    s["decode_errors_period"] = w["decode_errors"] - s["decode_errors"]
                    s["decode_errors"], s["frame_id"] = w["decode_errors"], w["frame_id"]
        else:
            with self._lock:
                pipe = self.pipeline.diagnostics()
            frames, last_tracks, failed = self._frames, self._last_tracks, self._failed_frames
        sensors = {n: dict(self._sensor[n]) for n in names}
        msg = diagnostics.build(
            self.get_name(),
            self.get_clock().now().to_msg(),
            float(self.cfg["diagnostics_period_s"]),
            sensors,
            pipe,
            frames,
            last_tracks,
            failed,
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
        if getattr(self, "_proc", None) is not None:
            self._proc.stop()
        super().destroy_node()


def make_executor(kind: str, logger):
    """The node's executor: rclpy's C++ events executor where asked and present (the callbacks only
    queue, so the per-message cost is the executor's own: see the ``executor`` parameter), else the
    single-threaded Python one."""
    if kind == "events":
        try:
            from rclpy.experimental import EventsExecutor

            return EventsExecutor()
        except ImportError as exc:
            logger.warning(f"executor 'events' unavailable ({exc}): single_threaded")
    return rclpy.executors.SingleThreadedExecutor()


def hold_latency(microseconds: int, logger):
    """The PM QoS request of ``cpu_dma_latency_us`` (None when off); a host that refuses it gets one
    warning and the node runs on without it."""
    if microseconds < 0:
        return None
    try:
        req = hold_cpu_latency(microseconds)
    except OSError as exc:
        logger.warning(f"cpu_dma_latency_us {microseconds}: not held ({exc}); running without it")
        return None
    logger.info(f"holding CPU wake-up latency <= {microseconds} us ({req.path}) while running")
    return req


def main(args=None) -> None:
    rclpy.init(args=args)
    node = executor = latency = None
    try:
        node = FusionNode()
        latency = hold_latency(node.cfg["cpu_dma_latency_us"], node.get_logger())
        executor = make_executor(node.cfg["executor"], node.get_logger())
        executor.add_node(node)
        while rclpy.ok():  # the events executor's spin() does not return on SIGINT; spin_once does
            executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigError, CalibrationError, WeightsError, OSError, WorkerStartError):
        node = None  # construction failed; the error was logged
        raise SystemExit(2) from None
    finally:
        if latency is not None:
            latency.release()
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
