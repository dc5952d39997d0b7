"""Parameter declaration on a real rclpy node: every schema parameter carries its descriptor
(description with unit, range, choices: what ``ros2 param describe`` shows), and overrides are
validated against the schema through rclpy's public API, every problem in one ConfigError."""

from __future__ import annotations

import math

import pytest
import rclpy
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from sensor_fusion.config import ConfigError
from sensor_fusion.core.schema import walk
from sensor_fusion.ros.params import declare_all


@pytest.fixture()
def ctx():
    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def fusion_node(ctx: Context, *ros_args: str, **kwargs) -> Node:
    """A node set up as FusionNode sets itself up (overrides declared automatically)."""
    return Node(
        "fusion_node",
        context=ctx,
        automatically_declare_parameters_from_overrides=True,
        cli_args=["--ros-args", *ros_args] if ros_args else None,
        **kwargs,
    )


def test_every_parameter_is_declared_with_its_descriptor(ctx, repo):
    node = fusion_node(
        ctx,
        "--params-file",
        str(repo / "config" / "baseline.yaml"),
        "-p",
        "tracker.gate_prob_per_class.CAR:=0.99",
    )
    try:
        cfg = declare_all(node)
        leaves = list(walk(cfg))
        assert len(leaves) > 200 and {leaf.name for leaf in leaves} <= set(node.list_parameters([], 0).names)
        for leaf, d in zip(leaves, node.describe_parameters([leaf.name for leaf in leaves]), strict=True):
            assert d.description == leaf.describe() and leaf.desc in d.description, leaf.name
            assert d.read_only, leaf.name  # read once at start: `ros2 param set` must not pretend
            p = leaf.param
            lo, hi = (p.gt if p.gt is not None else p.ge), (p.lt if p.lt is not None else p.le)
            if leaf.kind == "float" and p.nan is None and (lo is not None or hi is not None):
                (r,) = d.floating_point_range
                assert (r.from_value, r.to_value) == (
                    lo if lo is not None else -math.inf,
                    hi if hi is not None else math.inf,
                )
            elif leaf.kind == "int" and lo is not None:
                assert d.integer_range[0].from_value == lo + (p.gt is not None), leaf.name
            if p.choices:
                assert d.additional_constraints == "one of: " + ", ".join(p.choices)
        # what ros2 param describe shows for a few
        gate, hits, qos, gyro, sx = node.describe_parameters(
            [
                "tracker.gate_prob",
                "tracker.min_hits",
                "lidar.qos",
                "ego.gyro_noise_rad_s_sqrt_hz",
                "detector.sensor_x_m",
            ]
        )
        assert "chi-square" in gate.description and gate.type == ParameterType.PARAMETER_DOUBLE
        assert (gate.floating_point_range[0].from_value, gate.floating_point_range[0].to_value) == (0.0, 1.0)
        assert hits.integer_range[0].from_value == 1 and hits.type == ParameterType.PARAMETER_INTEGER
        assert qos.additional_constraints == "one of: sensor_data, reliable, best_effort"
        assert (
            "datasheet angle random walk" in gyro.description and "[rad/s/sqrt(Hz); > 0]" in gyro.description
        )
        assert "NaN: from the calibration" in sx.description and not sx.floating_point_range
        # the values are the validated overrides, the rest the defaults
        assert node.get_parameter("tracker.motion_model").value == "cv"  # baseline.yaml
        assert node.get_parameter("tracker.yaw_from_velocity_min_speed_mps").value == math.inf
        assert node.get_parameter("tracker.gate_prob_per_class.CAR").value == 0.99
        assert math.isnan(node.get_parameter("tracker.gate_prob_per_class.BUS").value)
        assert node.get_parameter("cameras.names").value == [""]
        assert cfg.tracker.gate_prob_per_class == {"CAR": 0.99} and cfg.cameras == []
        assert not node.set_parameters([Parameter("tracker.gate_prob", value=0.5)])[0].successful
    finally:
        node.destroy_node()


def test_describe_parameters_service_answers_like_ros2_param_describe(ctx):
    node = fusion_node(ctx)
    client = Node("describe_client", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    try:
        declare_all(node)
        executor.add_node(node)
        executor.add_node(client)
        cli = client.create_client(DescribeParameters, "/fusion_node/describe_parameters")
        assert cli.wait_for_service(timeout_sec=10.0)
        future = cli.call_async(
            DescribeParameters.Request(names=["tracker.max_age_s", "radar_velocity.enabled"])
        )
        executor.spin_until_future_complete(future, timeout_sec=10.0)
        age, enabled = future.result().descriptors
        assert age.description.startswith("Delete a track this long without an update [s; > 0]")
        assert age.floating_point_range[0].from_value == 0.0 and age.read_only
        assert enabled.type == ParameterType.PARAMETER_BOOL and enabled.description
    finally:
        executor.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_overrides_are_validated_all_at_once_through_the_public_api(ctx, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "fusion_node:\n  ros__parameters:\n"
        "    lidar: {qos: fast, topci: /x}\n"
        "    tracker: {gate_prob: 2.0, trust: {RADR: {may_spawn: false}}}\n"
        "    output_depth: 1.5\n"
        "    use_sim_time: true\n"  # ROS's own: not ours to reject
    )
    node = fusion_node(
        ctx, "--params-file", str(bad), parameter_overrides=[Parameter("ego.gyro_noise", value=1.0)]
    )
    try:
        with pytest.raises(ConfigError) as e:
            declare_all(node)
        msg = str(e.value)
        for expected in (
            "lidar.qos: must be one of",
            "lidar.topci: unknown parameter",
            "tracker.gate_prob: must be in (0, 1), got 2.0",
            "tracker.trust.RADR.may_spawn: unknown parameter",
            "output_depth: must be an integer, got 1.5",
            "ego.gyro_noise: unknown parameter",
        ):
            assert expected in msg, expected
        assert "use_sim_time" not in msg
    finally:
        node.destroy_node()


def test_int_spelled_for_a_float_is_accepted_and_typed(ctx):
    """A params file writing 1 for 1.0 must not fail rclpy's static typing."""
    node = fusion_node(ctx, "-p", "tracker.max_age_s:=1", "-p", "ego.datum:=[48.0, 11.0, 500.0]")
    try:
        cfg = declare_all(node)
        assert cfg.tracker.max_age_s == 1.0 and node.get_parameter("tracker.max_age_s").value == 1.0
        assert node.describe_parameters(["tracker.max_age_s"])[0].type == ParameterType.PARAMETER_DOUBLE
        assert cfg.ego.datum == (48.0, 11.0, 500.0) and cfg.ego.has_datum
    finally:
        node.destroy_node()
