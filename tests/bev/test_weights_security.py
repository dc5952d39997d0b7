"""Weights files load as data only: a checkpoint carrying code is refused, and the code never runs."""

from __future__ import annotations

import os

import pytest
import torch

from sensor_fusion.bev.detector import DEFAULT_WEIGHTS, load_checkpoint


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # what a malicious .pt does: call a function while unpickling
        return (os.mkdir, (self.marker,))


def test_a_weights_file_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "was_run"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _RunsCode(marker), "meta": {}}, evil)
    with pytest.raises(ValueError, match=r"evil.pt: refused: holds objects other than tensors") as e:
        load_checkpoint(evil)
    assert "\n" not in str(e.value)
    assert not marker.exists()


def test_the_shipped_weights_load_as_data():
    ck = load_checkpoint(DEFAULT_WEIGHTS)
    assert "model" in ck and "meta" in ck
