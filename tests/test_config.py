"""Launch file and shipped configuration.

``launch`` is not on PyPI, so the launch file is executed here against small
recording stand-ins for ``launch``/``launch_ros``: every executable, parameter
file and parameter it names must exist in this package.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import sys
import types
from pathlib import Path

import pytest
import yaml

from sensor_fusion.config import ConfigError, FusionConfig, from_flat, load_params_file
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.schema import flatten

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
    assert inline <= set(flatten(FusionConfig())) | {"use_sim_time"}


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
    known = {
        "/fusion_node/markers",
        "/fusion_node/ego_odom",
        FusionConfig().lidar.topic,
        "/sensors/camera_front/image/compressed",
    }
    assert set(topics) <= known
    # the LiDAR cloud, the tracks and the ego path together, in the tracks' frame, with TF shown
    displays = {d["Class"].split("/")[-1]: d for d in rviz["Visualization Manager"]["Displays"]}
    assert displays["PointCloud2"]["Topic"]["Value"] == FusionConfig().lidar.topic
    assert displays["MarkerArray"]["Topic"]["Value"] == "/fusion_node/markers"
    assert displays["Odometry"]["Topic"]["Value"] == "/fusion_node/ego_odom"
    assert displays["Odometry"]["Keep"] >= 300  # a path, not the last pose
    assert all(displays[k]["Enabled"] for k in ("PointCloud2", "MarkerArray", "Odometry", "TF"))
    assert rviz["Visualization Manager"]["Global Options"]["Fixed Frame"] == FusionConfig().fixed_frame


def test_baseline_config_is_the_ab3dmot_setup():
    cfg = from_flat(load_params_file(REPO / "config" / "baseline.yaml"))
    assert cfg.cameras == [] and cfg.radars == []
    assert cfg.tracker.motion_model == "cv" and cfg.tracker.association == "iou3d"
    assert cfg.tracker.yaw_from_velocity_min_speed_mps == math.inf and cfg.tracker.min_hits == 3


# -- the schema ---------------------------------------------------------------------------------
NUMERIC = ("int", "float", "floats")


def schema_problems(cfg) -> list[str]:
    """Why the schema of config instance ``cfg`` is incomplete: a parameter without a description,
    a unit, or a valid default; a dataclass field that is neither a parameter, a section nor
    declared internal; a name declared twice."""
    import dataclasses

    from sensor_fusion.core.schema import Leaf, check, walk

    out = []
    leaves = [leaf for leaf in walk(cfg) if isinstance(leaf, Leaf)]
    for leaf in leaves:
        p = leaf.param
        if not leaf.desc.strip() or not p.desc.strip():
            out.append(f"{leaf.name}: no description")
        numeric = leaf.kind in NUMERIC
        if numeric and not p.unit.strip():
            out.append(f"{leaf.name}: a number needs a unit ('1' if dimensionless)")
        if not numeric and p.unit != "":
            out.append(f"{leaf.name}: unit {p.unit!r} on a {leaf.kind}")
        if leaf.value is None:
            out.append(f"{leaf.name}: no default")
    names = [leaf.name for leaf in leaves]
    out += [f"{n}: declared twice" for n in sorted({n for n in names if names.count(n) > 1})]

    def undeclared(obj, prefix=""):
        for f in dataclasses.fields(obj):
            meta = f.metadata
            if "schema" not in meta and "internal" not in meta:
                yield f"{prefix}{f.name}: field is not declared with param()/section()/internal()"
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                yield from undeclared(value, f"{prefix}{f.name}.")
            elif isinstance(value, list):
                for v in value:
                    if dataclasses.is_dataclass(v):
                        yield from undeclared(v, f"{prefix}{f.name}.{v.name}.")

    out += list(undeclared(cfg))
    out += [f"default invalid: {m}" for m in check(cfg)]
    return out


def test_every_parameter_has_a_description_unit_and_default():
    assert schema_problems(FusionConfig()) == []
    assert len(flatten(FusionConfig())) > 250  # every sub-config, trust table and per-class dict


def test_schema_check_fails_on_an_incomplete_declaration():
    """Negative control: the check above finds each kind of gap."""
    from dataclasses import dataclass, field

    from sensor_fusion.core.schema import ParamConfig, param

    @dataclass
    class Bad(ParamConfig):
        gain: float = param(1.0, unit="", desc="Gain")  # a number without a unit
        label: str = param("x", unit="m", desc="")  # a unit on a string, no description
        hidden: int = field(default=3)  # not declared
        limit: float = param(-1.0, unit="m", ge=0.0, desc="Limit")  # default out of its own range

    problems = schema_problems(Bad())
    assert "gain: a number needs a unit ('1' if dimensionless)" in problems
    assert "label: no description" in problems and "label: unit 'm' on a str" in problems
    assert any(p.startswith("hidden: field is not declared") for p in problems)
    assert "default invalid: limit: must be >= 0, got -1.0" in problems


def _same_flat(a: dict, b: dict) -> list[str]:
    def same(x, y):
        if isinstance(x, tuple | list) and isinstance(y, tuple | list):
            return len(x) == len(y) and all(same(u, v) for u, v in zip(x, y, strict=True))
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return [k for k in a.keys() | b.keys() if k not in a or k not in b or not same(a[k], b[k])]


def test_reference_yaml_is_generated_from_the_schema():
    """config/fusion.yaml is exactly what `sensor-fusion params` writes, and reads back (PyYAML)
    as every schema parameter at its default: the file documents what the code does."""
    from sensor_fusion.params_reference import reference_yaml

    shipped = (REPO / "config" / "fusion.yaml").read_text()
    assert shipped == reference_yaml(), (
        "config/fusion.yaml is stale: sensor-fusion params --write config/fusion.yaml"
    )
    flat = load_params_file(REPO / "config" / "fusion.yaml")
    assert _same_flat(flatten(from_flat(flat)), flatten(FusionConfig())) == []
    assert set(flat) == set(flatten(FusionConfig()))  # every parameter is in the file
    for leaf_line in ("gyro_noise_rad_s_sqrt_hz: 0.00034", "datum: [.nan, .nan, .nan]", 'y_field: "y"'):
        assert leaf_line in shipped
    assert "datasheet angle random walk 1.7e-4" in shipped  # the reasoning survives as a description
    # negative control: a schema default that differs from the file is caught
    changed = FusionConfig()
    changed.ego.gyro_noise_rad_s_sqrt_hz = 1e-3
    assert reference_yaml(changed) != shipped


def test_params_cli_writes_and_checks(tmp_path, capsys):
    from sensor_fusion.cli import build_parser

    def run(*argv) -> int:
        a = build_parser().parse_args(["params", *argv])
        return a.func(a)

    path = tmp_path / "fusion.yaml"
    assert run("--write", str(path)) == 0
    assert path.read_text() == (REPO / "config" / "fusion.yaml").read_text()
    assert run("--check", str(path)) == 0
    path.write_text(path.read_text().replace("gate_prob: 0.9999", "gate_prob: 0.999"))
    assert run("--check", str(path)) == 1
    assert "differs from the schema" in capsys.readouterr().out


def test_library_defaults_are_the_shipped_values():
    """A library user (EgoConfig()) and a node user (config/fusion.yaml) get the same filter."""
    from sensor_fusion.bev.config import BevDetectorConfig
    from sensor_fusion.ego.config import EgoConfig
    from sensor_fusion.ego.radar_velocity import RadarEgoVelocityConfig
    from sensor_fusion.perception.camera import CameraEvidenceConfig
    from sensor_fusion.perception.lidar import LidarDetectorConfig
    from sensor_fusion.perception.radar import RadarDetectorConfig
    from sensor_fusion.tracking.config import TrackerConfig

    node = from_flat(load_params_file(REPO / "config" / "fusion.yaml"))
    for name, library in (
        ("detector", LidarDetectorConfig()),
        ("radar_detector", RadarDetectorConfig()),
        ("camera_evidence", CameraEvidenceConfig()),
        ("bev", BevDetectorConfig()),
        ("tracker", TrackerConfig()),
        ("ego", EgoConfig()),
        ("radar_velocity", RadarEgoVelocityConfig()),
    ):
        sub = getattr(node, name)
        assert type(sub) is type(library)  # typed, validated instances, not dicts
        assert _same_flat(flatten(sub), flatten(library)) == [], name
    assert node.ego.gyro_noise_rad_s_sqrt_hz == EgoConfig().gyro_noise_rad_s_sqrt_hz == 3.4e-4


def test_sub_config_problems_are_listed_with_their_namespace():
    with pytest.raises(ConfigError) as e:
        from_flat(
            {
                "tracker.gate_prob_per_class.CARS": 0.9,
                "tracker.trust.RADAR.may_spawn": "no",
                "ego.datum": [48.0, 11.0],
                "detector.range_min_m": 90.0,
                "bev.edge_margin_m": -1.0,
                "camera_evidence.relabel_min_prob": 2.0,
                "lidar.buffer_size": 0,
                "tracker.frame_id": "map",  # set by the pipeline, not a parameter
            }
        )
    msg = str(e.value)
    for expected in (
        "tracker.gate_prob_per_class.CARS: unknown parameter",
        "tracker.trust.RADAR.may_spawn: must be a bool",
        "ego.datum: must hold 3 numbers",
        "detector.range_min_m: must be < range_max_m, got 90.0 >= 80.0",
        "bev.edge_margin_m: must be >= 0",
        "camera_evidence.relabel_min_prob: must be in [0, 1]",
        "lidar.buffer_size: must be >= 1",
        "tracker.frame_id: unknown parameter",
    ):
        assert expected in msg, expected


def test_derived_values_come_from_the_calibration_unless_set():
    """detector.sensor_x_m/_y_m/_z_m: NaN (the declared default) takes the LiDAR extrinsic; a set value
    wins; without a calibration frame the detector uses the base origin."""
    from sensor_fusion.perception.lidar import LidarDetector
    from sensor_fusion.pipeline import FusionPipeline

    cal = load_calibration(REPO / "config" / "calibration.yaml")
    t = cal.T_base_from("lidar_top")[:3, 3]
    assert abs(t[0]) > 0.1  # the check below can tell the extrinsic from the base origin
    off = {"cameras.names": [""], "radars.names": [""], "imu.enabled": False, "gps.enabled": False}
    pipe = FusionPipeline(from_flat(off), cal)
    assert (pipe.detector.lidar.config.sensor_x_m, pipe.detector.lidar.config.sensor_y_m) == (t[0], t[1])
    assert pipe.detector.lidar.config.sensor_z_m == t[2]  # the roughness rule's rings need it
    pipe = FusionPipeline(from_flat({**off, "detector.sensor_x_m": 0.5}), cal)
    assert (pipe.detector.lidar.config.sensor_x_m, pipe.detector.lidar.config.sensor_y_m) == (0.5, t[1])
    assert math.isnan(FusionConfig().detector.sensor_x_m)
    assert LidarDetector().config.sensor_x_m == 0.0
    assert math.isnan(LidarDetector().config.sensor_z_m)  # no height known: no roughness rule
