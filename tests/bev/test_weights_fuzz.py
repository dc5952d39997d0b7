"""Fuzz the BEV checkpoint loader: random bytes, truncated or bit-flipped copies of the shipped
``.pt`` either load as a checkpoint or raise ``WeightsError`` naming the file (never an
UnpicklingError or a zip reader's RuntimeError; ``weights_only``: no code runs from the file);
and a loadable checkpoint whose meta or tensors do not fit the network is refused the same way."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.detector import DEFAULT_WEIGHTS, BevDetector, load_checkpoint
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.weights import WeightsError
from tests.fuzzing import fuzz_settings, no_hang, scratch_dir

pytestmark = pytest.mark.fuzz

GOOD = DEFAULT_WEIGHTS.read_bytes()
_DIR = scratch_dir("sf_fuzz_bev_")


@st.composite
def files(draw):
    """A small description of the file (kind, payload), not its 3.5 MB of bytes: Hypothesis keeps
    what it draws, and 10,000 copies of the checkpoint took the long profile's process to 23 GB
    and the OOM killer (loading itself stays flat: 600 corrupt loads, RSS 310 -> 312 MB)."""
    kind = draw(st.sampled_from(["random", "truncate", "flip_head", "flip_tail"]))
    if kind == "random":
        return ("bytes", draw(st.binary(max_size=4096)))
    if kind == "truncate":
        return ("truncate", draw(st.integers(0, len(GOOD) - 1)))
    # the zip's local headers and pickle sit at the start, its central directory at the end
    lo, hi = (0, 4096) if kind == "flip_head" else (len(GOOD) - 4096, len(GOOD) - 1)
    flips = draw(st.lists(st.tuples(st.integers(lo, hi), st.integers(0, 255)), min_size=1, max_size=6))
    return ("flip", tuple(flips))


def _file_bytes(spec) -> bytes:
    kind, payload = spec
    if kind == "bytes":
        return payload
    if kind == "truncate":
        return GOOD[:payload]
    b = bytearray(GOOD)
    for i, v in payload:
        b[i] = v
    return bytes(b)


@fuzz_settings(60)
@given(files())
@example(("bytes", b""))
@example(("bytes", b"\x80\x04K\x01."))  # a pickle of the integer 1, not a checkpoint
@example(("truncate", len(GOOD) // 2))
def test_load_checkpoint_any_file(spec):
    path = _DIR / "bev.pt"
    path.write_bytes(_file_bytes(spec))
    with no_hang():
        try:
            ckpt = load_checkpoint(path)
        except WeightsError as exc:
            assert str(path) in str(exc)
            return
    assert isinstance(ckpt["model"], dict) and isinstance(ckpt["meta"], dict)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["meta"].update(grid="not a grid"),
        lambda c: c["meta"].update(image_wh=None),
        lambda c: c["meta"].update(arch={"no_such_argument": 1}),
        lambda c: c["model"].popitem(),
        lambda c: c["meta"].update(output_stride=3),
    ],
)
def test_checkpoint_that_does_not_fit_is_refused(change, tmp_path):
    ckpt = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    change(ckpt)
    path = tmp_path / "bev.pt"
    torch.save(ckpt, path)
    with pytest.raises(WeightsError, match=str(path)):
        BevDetector(Calibration(), [], config=BevDetectorConfig(weights=str(path), device="cpu"))
