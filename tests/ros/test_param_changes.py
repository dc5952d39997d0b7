"""Parameters set at run time: refused with a reason, never half-applied (issue 17, item 7)."""

from __future__ import annotations

from functools import partial

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from sensor_fusion.cli import _config
from sensor_fusion.ros.params import check_change, declare_all


def test_invalid_value_is_refused_with_the_schema_reason():
    r = check_change(_config(None), [Parameter("anchor", value="imu")])
    assert not r.successful
    assert r.reason.startswith("refused: anchor: must be one of ['lidar'")


def test_valid_value_is_refused_because_it_is_read_at_start():
    r = check_change(_config(None), [Parameter("tracker.max_age_s", value=2.0)])
    assert not r.successful and "read once at start" in r.reason


def test_unknown_name_is_refused_and_ros_own_parameters_pass():
    cfg = _config(None)
    assert (
        "no_such.param: unknown parameter" in check_change(cfg, [Parameter("no_such.param", value=1)]).reason
    )
    assert check_change(cfg, [Parameter("use_sim_time", value=True)]).successful


@pytest.fixture()
def node():
    ctx = Context()
    rclpy.init(context=ctx)
    n = Node("fusion_node", context=ctx, automatically_declare_parameters_from_overrides=True)
    cfg = declare_all(n)  # what FusionNode does, then registers the callback
    n.add_on_set_parameters_callback(partial(check_change, cfg))
    yield n
    n.destroy_node()
    rclpy.shutdown(context=ctx)


def test_over_rclpy_every_change_is_refused_with_a_reason(node):
    """Through the node's public API (what `ros2 param set` reaches): bad type, bad value, good value,
    an undeclared name are all refused with a reason; use_sim_time still works."""
    results = node.set_parameters(
        [
            Parameter("anchor", value="imu"),
            Parameter("tracker.max_age_s", value=2.0),
        ]
    )
    assert all(not r.successful and r.reason for r in results)
    assert node.get_parameter("anchor").value == "lidar"
    with pytest.raises(rclpy.exceptions.ParameterNotDeclaredException):
        node.set_parameters([Parameter("no_such.param", value=1)])
    assert node.set_parameters([Parameter("use_sim_time", value=True)])[0].successful
