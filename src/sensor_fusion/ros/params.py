"""Declare every fusion parameter on the node from the schema, with its descriptor.

The node is built with ``automatically_declare_parameters_from_overrides=True``, so every
override (params files, ``-p name:=value``, ``parameter_overrides``) is already a declared
parameter when :func:`declare_all` runs, and the public ``list_parameters`` shows them all. They
are validated against the schema first (one ``ConfigError`` naming every problem, typos
included), then each schema parameter is (re)declared with its validated value and a
``ParameterDescriptor``: description with unit, range (``FloatingPointRange`` /
``IntegerRange``), choices in ``additional_constraints``, read-only (the node reads its
parameters once), as ``ros2 param describe`` shows.
"""

from __future__ import annotations

import math
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..config import ConfigError, FusionConfig, from_flat, is_ros_own
from ..core.schema import INT64_MAX, Leaf, walk

_TYPES = {
    "bool": ParameterType.PARAMETER_BOOL,
    "int": ParameterType.PARAMETER_INTEGER,
    "float": ParameterType.PARAMETER_DOUBLE,
    "str": ParameterType.PARAMETER_STRING,
    "floats": ParameterType.PARAMETER_DOUBLE_ARRAY,
    "names": ParameterType.PARAMETER_STRING_ARRAY,
}


def descriptor(leaf: Leaf) -> ParameterDescriptor:
    """What ``ros2 param describe`` shows for ``leaf``."""
    p = leaf.param
    d = ParameterDescriptor(
        name=leaf.name,
        type=_TYPES[leaf.kind],
        description=leaf.describe(),
        additional_constraints=p.constraint(),
        read_only=True,
    )
    lo = p.gt if p.gt is not None else p.ge
    hi = p.lt if p.lt is not None else p.le
    if lo is None and hi is None:
        return d
    # ROS ranges are closed: an open bound is shown at its limit (validation enforces it strictly)
    if leaf.kind == "int":
        d.integer_range = [
            IntegerRange(
                from_value=int(lo) + (p.gt is not None) if lo is not None else -INT64_MAX,
                to_value=int(hi) - (p.lt is not None) if hi is not None else INT64_MAX,
                step=1,
            )
        ]
    elif leaf.kind == "float" and p.nan is None:  # a NaN value would fail a ROS range check
        d.floating_point_range = [
            FloatingPointRange(
                from_value=float(lo) if lo is not None else -math.inf,
                to_value=float(hi) if hi is not None else math.inf,
                step=0.0,
            )
        ]
    return d


def ros_value(leaf: Leaf) -> Any:
    """The parameter value as rclpy types it (an empty string list is ROS's ``['']``)."""
    if leaf.kind == "floats":
        return [float(x) for x in leaf.value]
    if leaf.kind == "names":
        return list(leaf.value) or [""]
    return leaf.value


def declare_all(node: Node) -> FusionConfig:
    """Validate the node's parameters against the schema, declare every one; the config.

    Raises ``ConfigError`` listing every problem (unknown names, types, ranges) before
    declaring anything with a descriptor.
    """
    given = {
        name: node.get_parameter(name).value
        for name in node.list_parameters([], 0).names
        if not is_ros_own(name)
    }
    cfg = from_flat(given)
    for leaf in walk(cfg):
        if node.has_parameter(leaf.name):  # auto-declared from an override, without a descriptor
            node.undeclare_parameter(leaf.name)
        node.declare_parameter(leaf.name, ros_value(leaf), descriptor(leaf), ignore_override=True)
    return cfg


def check_change(cfg: FusionConfig, params: list[Parameter]) -> SetParametersResult:
    """A set-parameters callback: a change at run time is validated through the schema and refused
    with its reason; a valid one is refused too, since the node reads its parameters once at start
    (applying half a configuration live would be worse than saying so). ROS's own parameters
    (``use_sim_time``, QoS overrides) pass: rclpy types and applies them.

    rclpy refuses a read-only parameter before any callback runs, so for schema parameters this is
    the second line: it holds if a descriptor ever loses ``read_only``.
    """
    ours = [p for p in params if not is_ros_own(p.name)]
    if not ours:
        return SetParametersResult(successful=True)
    flat = {**cfg.to_flat(), **{p.name: p.value for p in ours}}
    try:
        from_flat(flat)
    except ConfigError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()]
        return SetParametersResult(successful=False, reason="refused: " + "; ".join(lines))
    names = ", ".join(p.name for p in ours)
    return SetParametersResult(
        successful=False,
        reason=f"refused: {names} is read once at start; restart the node with the new value to apply it",
    )
