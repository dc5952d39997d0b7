"""Launch file and shipped configuration.

``launch`` is not on PyPI, so the launch file is executed here against small
recording stand-ins for ``launch``/``launch_ros``: every executable, parameter
file and parameter it names must exist in this package.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from sensor_fusion.config import ConfigError, from_flat, load_params_file
from sensor_fusion.core.calibration import load_calibration

REPO = Path(__file__).resolve().parents[1]


class _Rec:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _fake_launch_modules(share: Path) -> dict[str, types.ModuleType]:
    mods = {}
    for name in (
        "launch",
        "launch.actions",
        "launch.conditions",
        "launch.substitutions",
        "launch_ros",
        "launch_ros.actions",
        "ament_index_python",
        "ament_index_python.packages",
    ):
        mods[name] = types.ModuleType(name)
    mods["launch"].LaunchDescription = lambda entities: list(entities)
    mods["launch.actions"].DeclareLaunchArgument = type("DeclareLaunchArgument", (_Rec,), {})
    mods["launch.conditions"].IfCondition = type("IfCondition", (_Rec,), {})
    mods["launch.substitutions"].LaunchConfiguration = type("LaunchConfiguration", (_Rec,), {})
    mods["launch_ros.actions"].Node = type("Node", (_Rec,), {})
    mods["ament_index_python.packages"].get_package_share_directory = lambda pkg: str(share)
    return mods


def _console_scripts() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    scripts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = " in node.value:
            scripts.add(node.value.split(" = ")[0].strip())
    return scripts


@pytest.fixture()
def launch_entities(monkeypatch):
    for name, mod in _fake_launch_modules(REPO).items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("fusion_launch", REPO / "launch" / "fusion.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def test_launch_names_only_things_that_exist(launch_entities):
    args = {
        e.args[0]: e.kwargs.get("default_value")
        for e in launch_entities
        if type(e).__name__ == "DeclareLaunchArgument"
    }
    assert {"params_file", "use_sim_time"} <= set(args)
    assert Path(args["params_file"]).is_file(), f"launch default params_file -> {args['params_file']} missing"
    nodes = [e for e in launch_entities if type(e).__name__ == "Node"]
    ours = [n for n in nodes if n.kwargs["package"] == "sensor_fusion"]
    assert len(ours) == 1
    assert ours[0].kwargs["executable"] in _console_scripts()
    # inline parameters must be real node parameters
    inline = {k for p in ours[0].kwargs["parameters"] if isinstance(p, dict) for k in p}
    from sensor_fusion.config import GLOBAL_DEFAULTS

    assert inline <= set(GLOBAL_DEFAULTS) | {"use_sim_time"}


def test_setup_installs_launch_and_config():
    text = (REPO / "setup.py").read_text()
    for needle in ('"launch/*.launch.py"', '"config/*.yaml"', '"config/*.rviz"', "resource/"):
        assert needle in text
    assert (REPO / "resource" / "sensor_fusion").exists()


def test_shipped_params_validate():
    flat = load_params_file(REPO / "config" / "fusion.yaml")
    cfg = from_flat(flat)
    assert cfg["fixed_frame"] == "odom"
    cal = load_calibration(REPO / "config" / "calibration.yaml")
    for cam in cfg.cameras:
        assert cam.name in cal.intrinsics, f"camera {cam.name} has no intrinsics in calibration.yaml"
    for rad in cfg.radars:
        assert cal.has_frame(rad.name)


@pytest.mark.parametrize(
    "flat, message",
    [
        ({"lidar.topci": "/x"}, "lidar.topci: unknown parameter"),
        ({"lidar.qos": "fast"}, "must be one of"),
        ({"diagnostics_period_s": 0.0}, "diagnostics_period_s"),
        ({"cameras.names": ["a", "a"]}, "unique"),
        ({"anchor": "sonar"}, "anchor"),
        ({"publish_markers": "yes"}, "true/false"),
        ({"cameras.camera_front.tolerance_s": -1.0}, ">= 0"),
        ({"tracker.no_such_knob": 1}, "tracker"),
        ({"detector.no_such_knob": 1}, "detector"),
    ],
)
def test_bad_params_are_rejected_with_clear_messages(flat, message):
    with pytest.raises(ConfigError, match=message):
        from_flat(flat)


def test_empty_sensor_lists_spelled_the_ros_way():
    cfg = from_flat({"cameras.names": [""], "radars.names": [""]})
    assert cfg.cameras == [] and cfg.radars == []


def test_rviz_topics_are_ours():
    rviz = yaml.safe_load((REPO / "config" / "fusion.rviz").read_text())
    topics = [d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"] if "Topic" in d]
    from sensor_fusion.config import GLOBAL_DEFAULTS

    known = {
        "/fusion_node/markers",
        "/fusion_node/ego_odom",
        GLOBAL_DEFAULTS["lidar.topic"],
        "/sensors/camera_front/image/compressed",
    }
    assert set(topics) <= known


def test_baseline_config_is_the_ab3dmot_setup():
    cfg = from_flat(load_params_file(REPO / "config" / "baseline.yaml"))
    assert cfg.cameras == [] and cfg.radars == []
    assert cfg.tracker["motion_model"] == "cv" and cfg.tracker["association"] == "iou3d"
