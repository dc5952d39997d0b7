"""The reference parameters file, ``config/fusion.yaml``, generated from the schema.

Every parameter with its default, a comment with its description, unit and range, nested as
ROS 2 params files are. ``sensor-fusion params --write config/fusion.yaml`` regenerates it;
``tests/test_config.py`` fails when the shipped file and the schema disagree. Values are written
so that both PyYAML and ROS's rcl parser read them with the declared type: strings quoted
(a bare ``y`` is a YAML 1.1 bool), floats with a decimal point, ``.nan``/``.inf``.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

from .config import NODE_NAME, FusionConfig
from .core.schema import Group, Leaf, unit_text, walk

WIDTH = 100
HEADER = """\
# Parameters of fusion_node, every one with its default, description, unit and range.
#   ros2 launch sensor_fusion fusion.launch.py params_file:=/path/fusion.yaml
#   sensor-fusion run --config /path/fusion.yaml ...   (the offline CLI reads the same file)
# GENERATED from the schema (the param(...) declarations beside the code that uses them) by
#   sensor-fusion params --write config/fusion.yaml
# Change descriptions and defaults in the code; tests/test_config.py fails while this file is stale.
# A vehicle's params file may set only what differs: absent parameters keep these defaults.
# Units in [brackets]; NaN (.nan) and inf (.inf) are allowed only where the range says what they mean.
# To disable all cameras (or radars) write names: [""] (ROS YAML cannot type an empty list).
"""


def yaml_scalar(v: Any) -> str:
    """``v`` as a YAML flow scalar or sequence both PyYAML and rcl type as intended."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        mantissa, e, exponent = repr(v).partition("e")
        if "." not in mantissa:
            mantissa += ".0"  # PyYAML (YAML 1.1) reads 1e-05 as a string
        return mantissa + e + exponent
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a YAML double-quoted scalar
    if isinstance(v, list | tuple):
        return "[" + ", ".join(yaml_scalar(x) for x in v) + "]"
    raise TypeError(f"no YAML spelling for {v!r}")


def _comment(text: str, indent: str, tail: str = "") -> list[str]:
    """``text`` wrapped into comment lines, then ``[tail]`` (unit, range) kept in one piece."""
    width = WIDTH - len(indent) - 2
    lines = textwrap.wrap(text, width) or [""]
    if tail:
        tail = f"[{tail}]"
        if len(lines[-1]) + 1 + len(tail) <= width:
            lines[-1] = f"{lines[-1]} {tail}".strip()
        else:
            lines.append(tail)
    return [f"{indent}# {line}" for line in lines]


def reference_yaml(cfg: FusionConfig | None = None) -> str:
    """The commented params file of ``cfg`` (default: the schema's defaults)."""
    lines = HEADER.rstrip("\n").split("\n") + [f"{NODE_NAME}:", "  ros__parameters:"]
    base = 2
    for item in walk(cfg if cfg is not None else FusionConfig(), groups=True):
        depth = item.name.count(".")
        indent = "  " * (base + depth)
        key = item.name.rsplit(".", 1)[-1]
        if isinstance(item, Group):
            if depth == 0:
                lines.append("")
            lines += _comment(item.desc, indent) if item.desc else []
            lines.append(f"{indent}{key}:")
            continue
        assert isinstance(item, Leaf)
        tail = "; ".join(s for s in (unit_text(item.param.unit), item.param.constraint()) if s)
        lines += _comment(item.desc, indent, tail)
        value = (list(item.value) or [""]) if item.kind == "names" else item.value
        lines.append(f"{indent}{key}: {yaml_scalar(value)}")
    return "\n".join(lines) + "\n"


def write_reference(path: str | Path) -> None:
    Path(path).write_text(reference_yaml())
