"""Fuzz the camera cue weights loader: random bytes, truncated or bit-flipped copies of the shipped
``.npz``, and well-formed archives with wrong arrays either load a usable model or raise
``WeightsError`` naming the file; never a zip/pickle/index error, never code from the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sensor_fusion.core.weights import WeightsError
from sensor_fusion.perception.camera_cue import _KEYS, FEATURE_SPEC, NUM_FEATURES, CueModel
from tests.fuzzing import fuzz_settings, no_hang, scratch_dir

pytestmark = pytest.mark.fuzz

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "sensor_fusion" / "models" / "camera_cue.npz"
GOOD = SHIPPED.read_bytes()
_DIR = scratch_dir("sf_fuzz_cue_")


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _good_arrays() -> dict:
    with np.load(SHIPPED) as z:
        return {k: z[k] for k in z.files}


@st.composite
def files(draw):
    kind = draw(st.sampled_from(["random", "truncate", "flip", "arrays", "npy"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    if kind == "truncate":
        return GOOD[: draw(st.integers(0, len(GOOD) - 1))]
    if kind == "flip":
        b = bytearray(GOOD)
        for _ in range(draw(st.integers(1, 6))):
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
        return bytes(b)
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros(draw(st.integers(0, 5))))
        return buf.getvalue()
    arrays = _good_arrays()
    for key in draw(st.lists(st.sampled_from([*_KEYS, "feature_spec"]), max_size=3, unique=True)):
        change = draw(st.sampled_from(["drop", "shape", "nan", "dtype"]))
        if change == "drop":
            arrays.pop(key)
        elif change == "shape":
            arrays[key] = np.zeros(draw(st.lists(st.integers(0, 4), max_size=3)))
        elif change == "nan":
            arrays[key] = np.full_like(arrays[key], np.nan, dtype=np.float64)
        else:
            arrays[key] = arrays[key].astype(draw(st.sampled_from(["U3", "bool", "complex64", "i1"])))
    return _npz(**arrays)


@fuzz_settings(100)
@given(files())
@example(GOOD)
@example(b"")
@example(GOOD[:100])  # truncated zip
@example(_npz(feature_spec=FEATURE_SPEC))  # no arrays
@example(_npz(**{**_good_arrays(), "W1": np.zeros(3)}))  # 1-D W1
@example(_npz(**{**_good_arrays(), "sd": np.zeros(NUM_FEATURES)}))  # zero scale
@example(_npz(**{**_good_arrays(), "classes": np.array([0.5, 1.5])}))  # float classes
def test_load_any_file(data):
    path = _DIR / "cue.npz"
    path.write_bytes(data)
    with no_hang():
        try:
            model = CueModel.load(path)
        except WeightsError as exc:
            assert str(path) in str(exc)
            return
        p = model.predict_proba(np.zeros((2, NUM_FEATURES)))
    assert p.shape == (2, model.classes.size) and np.isfinite(p).all()
