"""LiDAR beam tables and return physics (sim/lidar_models.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.sim.lidar import LidarConfig, scan_pattern, simulate_lidar
from sensor_fusion.sim.lidar_models import LIDAR_MODELS, detection_probability
from tests.sim.common import T_BASE_LIDAR, FakeWorld, box


@pytest.mark.parametrize(
    ("name", "beams", "lo", "hi"),
    [("vlp16", 16, -15.0, 15.0), ("hdl64e_kitti", 64, -24.33, 2.0), ("os1_128", 128, -22.5, 22.5)],
)
def test_tables_set_the_beam_geometry(name, beams, lo, hi):
    c = LidarConfig.from_dict({"model": name, "beams": 32, "vfov_deg": [-10.0, 10.0]})  # the table wins
    assert c.beams == beams and len(c.elevations_deg) == beams
    elev = np.rad2deg(scan_pattern(c).elevation)
    assert elev[0] == pytest.approx(lo, abs=1e-3) and elev[-1] == pytest.approx(hi, abs=1e-3)
    np.testing.assert_allclose(elev, LIDAR_MODELS[name]["elevations_deg"], atol=1e-9)


def test_hdl64e_has_kittis_two_blocks():
    d = np.diff(np.asarray(LIDAR_MODELS["hdl64e_kitti"]["elevations_deg"]))
    assert np.allclose(d[:31], 0.5, atol=1e-3) and np.allclose(d[32:], 1 / 3, atol=1e-3)


def test_unknown_model_and_bad_table_are_refused():
    with pytest.raises(ValueError, match="model 'hdl32'"):
        LidarConfig.from_dict({"model": "hdl32"})
    with pytest.raises(ValueError, match="elevations_deg"):
        LidarConfig.from_dict({"beams": 3, "elevations_deg": [1.0, -1.0, 0.0]})


def test_detection_probability_falls_with_range_darkness_and_incidence():
    p = detection_probability(np.array([40.0, 60.0]), np.array([0.1, 0.1]), np.ones(2), 50.0)
    assert p[0] > 0.95 and p[1] < 0.2
    dark, bright = detection_probability(np.full(2, 80.0), np.array([0.1, 0.8]), np.ones(2), 50.0)
    assert dark < 0.01 < 0.9 < bright
    assert detection_probability(np.array([30.0]), np.array([0.3]), np.array([0.05]), 50.0)[0] < 0.5


def _ground_reach(model: str) -> tuple[float, float]:
    """Farthest asphalt (0.5 < |y| < 5.5 m, 8 %) and lane marking (|y| < 0.1 m, 90 %) return, base x-y."""
    out = simulate_lidar(FakeWorld([]), 0, T_BASE_LIDAR, {"model": model}, np.random.default_rng(0))
    xy = out["xyz"][:, :2] + T_BASE_LIDAR[:2, 3]
    r = np.hypot(xy[:, 0], xy[:, 1])
    ay = np.abs(xy[:, 1])
    return float(r[(ay > 0.5) & (ay < 5.5)].max()), float(r[ay < 0.1].max())


def test_dark_grazing_ground_fades_first_with_a_real_receiver_but_not_ideally():
    asphalt, marking = _ground_reach("hdl64e_kitti")
    assert asphalt < 45.0 and marking > asphalt + 10.0  # dark asphalt fades long before the bright marking
    ideal_asphalt, _ = _ground_reach("ideal")
    assert ideal_asphalt > asphalt + 20.0  # the ideal sensor sees asphalt as far as its beams reach


def test_lambertian_intensity_on_a_facing_wall():
    world = FakeWorld([box(5, (11.25, 0.0, 3.0), (0.5, 10.0, 6.0))])  # one part, one reflectivity
    real = simulate_lidar(world, 0, T_BASE_LIDAR, {"model": "os1_128"}, np.random.default_rng(0))
    on = real["actor_id"] == 5
    xyz = real["xyz"][on]
    cos_inc = np.abs(xyz[:, 0]) / np.linalg.norm(xyz, axis=1)  # the wall's normal is the x axis
    ratio = real["intensity"][on] / cos_inc
    # one reflectivity across the wall once the cosine is divided out (noise 0.02 x 255 per point)
    assert np.std(ratio) < 0.15 * np.mean(ratio)
    assert np.corrcoef(real["intensity"][on], cos_inc)[0, 1] > 0.3
