"""/diagnostics: the radar detector's counters appear under the radar's status."""

from __future__ import annotations

from sensor_fusion.pipeline import NO_SYNC_STATS
from sensor_fusion.ros import diagnostics


def test_radar_counters_are_published_under_the_radar():
    sensors = {
        "radar_front": {
            "received_period": 13,
            "received_total": 130,
            "decode_errors": 0,
            "decode_errors_period": 0,
            "frame_id": "radar_front",
        }
    }
    pipeline = {
        "sync": NO_SYNC_STATS,
        "rejected": {},
        "timing_ms": {},
        "radar": {
            "radar_front": {"stationary_returns": 812, "ghosts_rejected": 9, "ghosts_rejected_mirror": 4}
        },
    }
    arr = diagnostics.build("fusion_node", None, 1.0, sensors, pipeline, 10, 3, 0)
    radar = next(s for s in arr.status if s.name.endswith("radar_front"))
    values = {kv.key: kv.value for kv in radar.values}
    assert values["radar_ghosts_rejected"] == "9"
    assert values["radar_ghosts_rejected_mirror"] == "4"
    assert values["radar_stationary_returns"] == "812"
