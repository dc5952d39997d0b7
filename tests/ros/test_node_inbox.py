"""The node's input queues: callbacks only queue bytes; the worker decodes them in arrival order;
a sensor whose queue is full loses its oldest message, counted (``queue_drops``)."""

from __future__ import annotations

from functools import partial

import rclpy
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Imu

from sensor_fusion.ros.inputs import input_specs
from sensor_fusion.ros.node import FusionNode


def _imu_bytes(k: int) -> bytes:
    m = Imu()
    m.header.frame_id = "imu_link"
    m.header.stamp.sec, m.header.stamp.nanosec = 100 + k // 200, (k % 200) * 5_000_000
    m.orientation.w = 1.0
    m.linear_acceleration.z = 9.81
    return serialize_message(m)


def test_full_queue_drops_the_oldest_and_the_worker_decodes_in_arrival_order():
    rclpy.init()
    node = None
    try:
        depth = 8
        node = FusionNode(
            parameter_overrides=[
                Parameter("tf_static_wait_s", value=0.0),
                Parameter("imu.qos_depth", value=depth),
            ]
        )
        node._stop.set()  # the test drains the queues itself
        node._wake.set()
        node._worker.join(timeout=5.0)
        assert not node._worker.is_alive()
        spec = next(s for s in input_specs(node.cfg) if s.sensor == "imu")
        parse = partial(deserialize_message, message_type=Imu)
        n = 20
        for k in range(n):
            node._on_msg("imu", spec.decode, parse, _imu_bytes(k))
        s = node._sensor["imu"]
        assert s["received_total"] == n
        assert s["queue_drops"] == n - depth
        assert len(node._inbox["imu"]) == depth
        node._drain_inbox()
        assert not node._inbox["imu"]
        got = [item.stamp_ns for kind, item in node.pipeline.take_ego_inputs() if kind == "imu"]
        want = [(100 + k // 200) * 10**9 + (k % 200) * 5_000_000 for k in range(n - depth, n)]
        assert got == want  # the newest `depth`, oldest first
        node._on_msg("imu", spec.decode, parse, b"\x00\x01\x00\x00garbage")  # malformed: counted
        node._drain_inbox()
        assert s["decode_errors"] == 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.shutdown()
