"""The dead-sensor matrix (issue 17): all 31 subsets of {LiDAR, radar, cameras, IMU, GPS}, the others
silent from the start and dying mid-run. Whenever a detection source is alive, frames go on at that
source's rate (the anchor falls back from a dead LiDAR); without one, no frame and no crash; every
silent sensor is named by the node's diagnostics."""

from __future__ import annotations

import pytest
import yaml

from sensor_fusion.bag.sensor_matrix import DETECTION_KINDS, decoded_messages, run_case, subsets
from sensor_fusion.config import from_flat, load_params_file
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

DURATION_S, DIE_AT_S = 3.0, 1.0
RATE_HZ = {"lidar": 10.0, "camera": 10.0, "radar": 13.0}  # the generator's rates (urban)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, repo):
    root = tmp_path_factory.mktemp("matrix")
    (root / "o.yaml").write_text(yaml.safe_dump({"lidar": {"beams": 16, "azimuth_resolution_deg": 0.4}}))
    bag = root / "urban_s3"
    record("urban", 3, DURATION_S, bag, overrides_file=str(root / "o.yaml"))
    cfg = from_flat(load_params_file(repo / "config" / "fusion.yaml"))
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    cal = calibration_from_bag(bag)
    return decoded_messages(bag, cfg), cfg, cal


def kinds_of(cfg) -> dict[str, str]:
    cams = {c.name: "camera" for c in cfg.cameras}
    return {"lidar": "lidar", **cams, **{r.name: "radar" for r in cfg.radars}, "imu": "imu", "gps": "gps"}


@pytest.mark.parametrize("die_at_s", [None, DIE_AT_S], ids=["silent-from-start", "dying-mid-run"])
def test_every_subset_of_sensors(setup, die_at_s):
    messages, cfg, cal = setup
    kinds = kinds_of(cfg)
    cases = [run_case(messages, cfg, cal, s, die_at_s) for s in subsets()]
    assert len(cases) == 31
    for c in cases:
        assert not c.error, (c.present, c.error)
        detection = [k for k in DETECTION_KINDS if k in c.present]
        if detection:
            # the anchor is the first detection kind alive (LiDAR, then cameras, then radars)
            expected = "lidar" if "lidar" in detection else ("camera" if "camera" in detection else "radar")
            assert {kinds[a] for a in c.anchors_last_1s} == {expected}, c
            assert c.rate_hz_last_1s >= 0.8 * RATE_HZ[expected], c
        else:
            assert c.frames == 0 or die_at_s is not None, c  # nothing to anchor on: no frame, no crash
            assert c.rate_hz_last_1s == 0, c
        silent = {n for n, k in kinds.items() if k not in c.present}
        assert set(c.named_silent) == silent, c
        # odometry at the end needs the IMU and the GPS (the heading comes from GPS motion), and
        # nothing else: no detection sensor is needed for it
        if {"imu", "gps"} <= set(c.present):
            assert c.ego_at_end, c
        elif die_at_s is None:
            assert not c.ego_at_end, c
