"""Wind in the foliage (sim/static/wind.py): the model, and what LiDAR and radar make of it."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.radar import simulate_radar_with_truth
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.state import EgoState
from sensor_fusion.sim.static import StaticWorld
from sensor_fusion.sim.static import meshes as m
from sensor_fusion.sim.static import wind as wind_mod
from sensor_fusion.sim.static.meshes import MeshBuilder
from sensor_fusion.sim.static.radar_static import TRUTH_STATIC, _scatterers
from sensor_fusion.sim.static.wind import Wind
from tests.sim.test_static_world import _StaticBench

CAL = load_calibration("config/calibration.yaml")
LIDAR16 = {"beams": 16, "vfov_deg": [-15.0, 15.0], "azimuth_resolution_deg": 0.4, "dropout_prob": 0.0}
GALE = Wind(8.0, (1.0, 0.0))  # blowing along the line of sight of a sensor looking along +x
BOUND = wind_mod.SWAY_COEFF * 8.0**2 + wind_mod.FLUTTER_COEFF * 8.0


class _HedgeBench(_StaticBench):
    """Ego at the origin heading +x at 5 m/s, no actors, a 30 m hedge across the view 15 m ahead."""

    t0_ns = 0

    def __init__(self, wind: Wind | None) -> None:
        mb = MeshBuilder()
        m.hedge(mb, np.random.default_rng(4), (15.4, 0.0), np.pi / 2, 30.0, 0.8, 1.8)
        super().__init__(StaticWorld(mb))
        self.wind = wind


def test_wind_model_bounded_deterministic_and_calm_is_still() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform([-20, -20, 0], [20, 20, 6], (500, 3))
    assert not Wind(0.0).displacement(p, 3.0).any() and not Wind(0.0).sway_velocity(p, 3.0).any()
    d = GALE.displacement(p, 3.0)
    assert np.linalg.norm(d, axis=1).max() <= BOUND + 1e-9
    assert np.abs(d).max() > 0.05  # centimetres, not nothing
    np.testing.assert_array_equal(d, GALE.displacement(p, 3.0))  # no random stream
    assert np.abs(GALE.displacement(p, 3.3) - d).max() > 0.01  # it moves
    # foliage near the ground hardly sways; the crown sways fully
    ts = np.linspace(0, 2, 50)
    low = GALE.sway_velocity(np.tile([0.0, 0.0, 0.1], (50, 1)), ts)
    high = GALE.sway_velocity(np.tile([0.0, 0.0, 4.0], (50, 1)), ts)
    assert np.abs(low).max() < 0.1 * np.abs(high).max()
    # a stronger wind moves more
    assert np.abs(Wind(3.0, (0.0, 1.0)).displacement(p, 3.0)).max() < np.abs(d).max()


def test_sway_velocity_is_the_sways_time_derivative(monkeypatch) -> None:
    monkeypatch.setattr(wind_mod, "FLUTTER_COEFF", 0.0)  # the sway alone
    p = np.random.default_rng(1).uniform([-20, -20, 0], [20, 20, 6], (50, 3))
    h = 1e-4
    fd = (GALE.displacement(p, 2.0 + h) - GALE.displacement(p, 2.0 - h)) / (2 * h)
    np.testing.assert_allclose(GALE.sway_velocity(p, 2.0), fd, atol=1e-6)


def test_wind_draw_and_config() -> None:
    w = Wind.draw((2.0, 6.0), np.random.default_rng(3))
    assert 2.0 <= w.speed_mps <= 6.0 and abs(np.hypot(*w.direction) - 1.0) < 1e-12
    assert Wind.draw((0.0, 0.0), np.random.default_rng(3)).calm
    cfg = scenario_config("urban_clutter")
    assert cfg["world"]["static"]["wind_mps"] == [0.0, 8.0]
    with pytest.raises(ValueError, match="wind_mps"):
        scenario_config("urban_clutter", {"world": {"static": {"wind_mps": [5.0, 2.0]}}})


def test_lidar_foliage_moves_along_its_rays_only_in_wind() -> None:
    T_bl = CAL.T_base_from("lidar_top")
    t = 1_300_000_000
    calm = simulate_lidar(_HedgeBench(None), t, T_bl, LIDAR16, np.random.default_rng(0))
    still = simulate_lidar(_HedgeBench(Wind(0.0)), t, T_bl, LIDAR16, np.random.default_rng(0))
    np.testing.assert_array_equal(calm["xyz"], still["xyz"])
    gale = simulate_lidar(_HedgeBench(GALE), t, T_bl, LIDAR16, np.random.default_rng(0))
    assert calm["xyz"].shape == gale["xyz"].shape
    moved = np.linalg.norm(gale["xyz"] - calm["xyz"], axis=1)
    x, z = calm["xyz"][:, 0] + T_bl[0, 3], calm["xyz"][:, 2] + T_bl[2, 3]  # the LiDAR's frame is level
    box = (np.abs(x - 15.4) < 0.6) & (z < 1.9)  # the hedge's box (0.8 m deep), with the motion's margin
    assert not moved[~box].any()  # the ground before and behind it does not move
    hedge = box & (z > 0.15)  # its leaves (the ground under it sits at z = 0)
    assert hedge.sum() > 50
    assert (moved[hedge] > 0.005).mean() > 0.5 and moved.max() <= BOUND + 1e-3
    # along the ray: the direction from the sensor is unchanged
    u0 = calm["xyz"][hedge] / np.linalg.norm(calm["xyz"][hedge], axis=1)[:, None]
    u1 = gale["xyz"][hedge] / np.linalg.norm(gale["xyz"][hedge], axis=1)[:, None]
    np.testing.assert_allclose(u0, u1, atol=1e-5)


def test_radar_sees_the_hedge_and_its_doppler_spreads_in_wind() -> None:
    st = _HedgeBench(None).static
    assert _scatterers(st).foliage.sum() >= 15  # a point every 2 m on each face of 30 m

    def residuals(wind: Wind | None) -> np.ndarray:
        out = []
        for k in range(40):
            scan, truth = simulate_radar_with_truth(
                _HedgeBench(wind), 100_000_000 * k, CAL.T_base_from("radar_front"),
                {"rcs_noise_db": 0.0, "clutter_rate": 0.0, "velocity_noise_mps": 0.0},
                np.random.default_rng(k),
            )  # fmt: skip
            s = truth == TRUTH_STATIC
            u = scan.xyz[s] / np.linalg.norm(scan.xyz[s], axis=1)[:, None]
            out.append(scan.radial_velocity[s] + 5.0 * u[:, 0])  # minus the stationary Doppler
        return np.concatenate(out)

    calm, gale = residuals(None), residuals(GALE)
    assert len(calm) > 100 and len(gale) > 100
    assert np.abs(calm).max() < 0.1  # still air: stationary (up to the LOS's angle noise)
    assert np.std(gale) > 2.0 * np.std(calm) and 0.05 < np.std(gale) < 0.5 and np.abs(gale).max() < 1.5


def test_radar_sees_a_tree_crown_only_inside_its_elevation_beam() -> None:
    """A street tree's crown (4 m up and more) gives a static return from its lower part once the
    radar's +-10 deg elevation beam reaches it (past some tens of metres), never nearer; in wind
    it carries the foliage's Doppler."""
    mb = MeshBuilder()
    m.tree(mb, np.random.default_rng(2), (0.0, 0.0), 9.0, 2.5)
    bench = _HedgeBench(GALE)
    bench.static = StaticWorld(mb)
    crown = _scatterers(bench.static).foliage
    assert crown.sum() == 1 and _scatterers(bench.static).points[crown][0, 2] > 4.0

    def crown_returns(x_tree: float, wind: Wind | None) -> np.ndarray:
        bench.wind = wind
        bench.ego_at = lambda stamp_ns: EgoState(
            int(stamp_ns), np.array([-x_tree, 0.0, 0.0]), 0.0, np.array([5.0, 0, 0]), 0.0, np.zeros(3), 5.0
        )
        out = []
        quiet = {"rcs_noise_db": 0.0, "clutter_rate": 0.0, "velocity_noise_mps": 0.0}
        quiet["elevation_noise_deg"] = 0.0
        for k in range(30):
            scan, truth = simulate_radar_with_truth(
                bench, 100_000_000 * k, CAL.T_base_from("radar_front"), quiet, np.random.default_rng(k)
            )
            s = (truth == TRUTH_STATIC) & (scan.xyz[:, 2] > 3.0)  # above the trunk's point
            u = scan.xyz[s] / np.linalg.norm(scan.xyz[s], axis=1)[:, None]
            out.append(scan.radial_velocity[s] + 5.0 * u[:, 0])  # minus the stationary Doppler
        return np.concatenate(out)

    assert len(crown_returns(10.0, None)) == 0  # 27 deg up: above the beam
    still, gale = crown_returns(45.0, None), crown_returns(45.0, GALE)
    assert len(still) >= 15 and np.abs(still).max() < 0.1
    assert np.std(gale) > 2.0 * np.std(still) + 0.05
