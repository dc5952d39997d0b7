"""EgoConfig validation (ego/config.py)."""

from __future__ import annotations

import math

import pytest

from sensor_fusion.ego.config import EgoConfig, EgoConfigError


def test_config_validation():
    assert EgoConfig.from_dict({"use_nhc": False, "datum": [1.0, 2.0, 3.0]}).datum == (1.0, 2.0, 3.0)
    with pytest.raises(EgoConfigError, match="unknown"):
        EgoConfig.from_dict({"gyro_noise": 1.0})
    with pytest.raises(EgoConfigError, match="gps_gate_prob"):
        EgoConfig(gps_gate_prob=0.0).validate()
    with pytest.raises(EgoConfigError, match="history_window_s"):
        EgoConfig(history_window_s=-1.0).validate()
    assert not EgoConfig().has_datum  # the declared default, NaN: the first fix sets it
    with pytest.raises(EgoConfigError, match="datum: all three NaN"):
        EgoConfig(datum=(48.0, math.nan, 500.0)).validate()
