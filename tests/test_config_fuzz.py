"""Fuzz the configuration entry points: a params YAML file (``load_params_file``) and the flat
parameters it yields, the same ones a node gets at start and at run time (``from_flat``).

Property: a valid configuration, or ``ConfigError`` with a message; never another exception
(a ``yaml`` parser error, an AttributeError on a list where a mapping was expected, a
RecursionError on a self-referencing alias), never a hang (an alias bomb).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from sensor_fusion.config import ConfigError, FusionConfig, from_flat, load_params_file
from tests.fuzzing import fuzz_settings, no_hang, scratch_dir

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = load_params_file(REPO / "config" / "fusion.yaml")
KEYS = sorted(DEFAULTS)
_DIR = scratch_dir("sf_fuzz_cfg_")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["lidar", "imu", "camera_front", "bev", "odom", "", ".nan", "1e400", "-1"])
)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=12,
)

# a YAML alias bomb: 2^30 leaves if expanded (9 levels of 10 references)
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
BOMB_DICT = "fusion_node:\n  ros__parameters:\n    d0: &d0 {x: 1, y: 2}\n" + "".join(
    f"    d{i}: &d{i} {{{', '.join(f'k{j}: *d{i - 1}' for j in range(8))}}}\n" for i in range(1, 9)
)


def _load(text: str | bytes, count: bool = True) -> None:
    path = _DIR / "params.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    with no_hang(count=count):
        try:
            flat = load_params_file(path)
        except ConfigError as exc:
            assert str(exc)
            return
        assert isinstance(flat, dict) and all(isinstance(k, str) for k in flat)
        try:
            cfg = from_flat(flat)
        except ConfigError:
            return
        assert isinstance(cfg, FusionConfig)


@fuzz_settings(150, long_share=0.5)  # params entry point: 2 properties share the long count
@given(st.text(max_size=300) | st.binary(max_size=300))
@example("")
@example("- a\n- b\n")  # a list, not a mapping
@example("fusion_node: [1, 2]\n")
@example("fusion_node:\n  ros__parameters: 3\n")  # parameters that are not a mapping
@example("fusion_node:\n  ros__parameters:\n    lidar: [1, 2]\n")
@example("fusion_node: &a\n  ros__parameters:\n    x: *a\n")  # an alias to itself
@example("key: [unclosed\n")  # not YAML
@example(b"\xff\xfe\x00bad")  # not UTF-8
@example("!!python/object/apply:os.system ['echo pwned']\n")  # safe_load refuses code
@example(BOMB)
@example(BOMB_DICT)
def test_load_params_file_any_text(text):
    _load(text)


@fuzz_settings(150, long_share=0.5)  # params entry point: 2 properties share the long count
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
@example({"anchor": "imu"})
@example({"lidar.max_points": 2**70})
@example({"jump_threshold_s": float("nan")})
@example({"cameras.names": [1, 2]})
@example({"cameras.names": ["lidar"]})
def test_params_any_values(overrides):
    """Wrong types, out-of-range numbers, NaN, nested structures for real parameter names (what a
    params file or a run-time parameter change hands the schema), and the same as a file."""
    with no_hang():
        try:
            cfg = from_flat({**DEFAULTS, **overrides})
        except ConfigError:
            cfg = None
    assert cfg is None or isinstance(cfg, FusionConfig)
    _load(yaml.safe_dump({"fusion_node": {"ros__parameters": overrides}}, allow_unicode=True), count=False)
