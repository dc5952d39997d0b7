"""bev/config.py: detection modes and BEV settings validated through the configuration schema."""

from __future__ import annotations

import pytest

from sensor_fusion.config import ConfigError, from_flat


def test_config_accepts_modes_and_rejects_bad_bev_settings():
    assert from_flat({"detection_mode": "both"})["detection_mode"] == "both"
    for bad in ({"detection_mode": "learned"}, {"bev.device": "tpu"}, {"bev.score_treshold": 0.2}):
        with pytest.raises(ConfigError):
            from_flat(bad)
