"""Fuzz the calibration loader (``core/calibration.py``): any YAML text and any mapping either
gives a Calibration whose transforms are finite rigid motions, or raises ``CalibrationError``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from sensor_fusion.core.calibration import (
    Calibration,
    CalibrationError,
    calibration_from_dict,
    load_calibration,
)
from tests.fuzzing import fuzz_settings, no_hang, scratch_dir

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parents[2]
REAL = yaml.safe_load((REPO / "config" / "calibration.yaml").read_text())
_DIR = scratch_dir("sf_fuzz_cal_")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
anything = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=10,
)
numbers = st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5), max_size=10)
FRAMES = ["base_link", "lidar_top", "camera_front", "radar_front", "ghost", ""]


@st.composite
def sensor_entries(draw):
    e = {}
    if draw(st.booleans()):
        e["parent"] = draw(st.sampled_from(FRAMES) | anything)
    for key in ("translation", "rotation_rpy"):
        if draw(st.booleans()):
            e[key] = draw(numbers | anything)
    if draw(st.booleans()):
        e["intrinsics"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "width": st.integers(-5, 5000) | anything,
                    "height": st.integers(-5, 5000) | anything,
                    "K": numbers | anything,
                    "D": numbers | anything,
                    "distortion_model": st.sampled_from(["plumb_bob", "equidistant", "x"]) | anything,
                },
            )
            | anything
        )
    return e if draw(st.integers(0, 9)) else draw(anything)


@st.composite
def calibrations(draw):
    sensors = draw(
        st.dictionaries(st.sampled_from(FRAMES) | st.text(max_size=4), sensor_entries(), max_size=4)
    )
    d = {"sensors": sensors if draw(st.integers(0, 9)) else draw(anything)}
    if draw(st.booleans()):
        d["base_frame"] = draw(st.sampled_from(FRAMES) | anything)
    return d if draw(st.integers(0, 9)) else draw(anything)


def _valid(cal: Calibration) -> None:
    for name in cal.frames:
        T = cal.T_base_from(name)
        assert np.isfinite(T).all()
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6)
    for intr in cal.intrinsics.values():
        assert intr.width > 0 and intr.height > 0 and np.isfinite(intr.K).all() and np.isfinite(intr.D).all()


@fuzz_settings(200, long_share=0.5)  # calibration entry point: 2 properties share the long count
@given(calibrations())
@example(REAL)
@example({"sensors": [1, 2]})  # a list, not a mapping
@example({"sensors": {"cam": {"intrinsics": [1, 2]}}})
@example(
    {"sensors": {"cam": {"intrinsics": {"K": [1, 0, 0, 0, 1, 0, 0, 0, 1], "width": "wide", "height": 4}}}}
)
@example(
    {
        "sensors": {
            "cam": {"intrinsics": {"K": [1, 0, 0, 0, 1, 0, 0, 0, 1], "width": 4, "height": 4, "D": ["a"]}}
        }
    }
)
@example(
    {
        "sensors": {
            "cam": {
                "intrinsics": {"K": [1, 0, 0, 0, 1, 0, 0, 0, 1], "width": 4, "height": 4, "D": [float("nan")]}
            }
        }
    }
)
@example({"sensors": {"cam": {"intrinsics": {"K": [[1, 2], [3]], "width": 4, "height": 4}}}})
@example({"sensors": {"lidar": {"translation": ["a", "b", "c"]}}})
@example({"sensors": {"lidar": {"translation": [1e308, 1e308, 1e308], "rotation_rpy": [1e308, 0, 0]}}})
@example({"sensors": {"lidar": {"parent": ["x"]}}})
@example({"sensors": {"a": {"parent": "b"}, "b": {"parent": "a"}}})  # a cycle
def test_calibration_from_any_mapping(data):
    with no_hang():
        try:
            cal = calibration_from_dict(data)
        except CalibrationError as exc:
            assert str(exc)
            return
    _valid(cal)


@fuzz_settings(100, long_share=0.5)  # calibration entry point: 2 properties share the long count
@given(st.text(max_size=300) | st.binary(max_size=300))
@example("sensors: [unclosed\n")
@example(b"\xff\xfe\x00")
@example("a: &a [*a]\nsensors: *a\n")
def test_load_calibration_any_text(text):
    path = _DIR / "calibration.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    with no_hang():
        try:
            cal = load_calibration(path)
        except CalibrationError as exc:
            assert str(exc)
            return
    _valid(cal)
