"""Radar detector: ego-motion compensation, clustering, Doppler velocity fit, ghosts, sim scans."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import chi2

from sensor_fusion.core.classes import SENSOR_RADAR, ObjectClass
from sensor_fusion.core.geometry import make_transform, rpy_to_matrix
from sensor_fusion.core.types import RadarScan
from sensor_fusion.perception.radar import PRIOR_SIZES, RadarDetector, RadarDetectorConfig
from sensor_fusion.perception.radar_fit import chi2_quantile_95, cluster_radar

# front radar as in config/calibration.yaml, turned 0.1 rad so the rotation is exercised
T_RADAR = make_transform(rpy_to_matrix(0.0, 0.0, 0.1), np.array([3.6, 0.0, 0.6]))
NOISE = {"range_m": 0.15, "azimuth_deg": 0.3, "doppler_mps": 0.1}
QUIET = {"range_m": 0.0, "azimuth_deg": 0.0, "doppler_mps": 0.0}


def radar_velocity(v_ego: np.ndarray, yaw_rate: float, T: np.ndarray = T_RADAR) -> np.ndarray:
    t = T[:3, 3]
    return np.array([v_ego[0] - yaw_rate * t[1], v_ego[1] + yaw_rate * t[0], 0.0])


def make_scan(
    p_base: np.ndarray,
    v_points: np.ndarray,
    v_ego: np.ndarray,
    yaw_rate: float,
    rcs: np.ndarray,
    rng: np.random.Generator,
    noise: dict = QUIET,
    T: np.ndarray = T_RADAR,
) -> RadarScan:
    """Returns at base points with ground velocities (N, 2), measured like sim/radar.py does."""
    t, R = T[:3, 3], T[:3, :3]
    los = p_base - t
    u = los / np.linalg.norm(los, axis=1)[:, None]
    v3 = np.column_stack([v_points, np.zeros(len(p_base))])
    dop = np.einsum("ij,ij->i", v3 - radar_velocity(v_ego, yaw_rate, T), u)
    x = los @ R
    r = np.linalg.norm(x, axis=1) + noise["range_m"] * rng.standard_normal(len(x))
    az = np.arctan2(x[:, 1], x[:, 0]) + np.radians(noise["azimuth_deg"]) * rng.standard_normal(len(x))
    el = np.arcsin(x[:, 2] / np.linalg.norm(x, axis=1))
    xyz = np.column_stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)])
    dop = dop + noise["doppler_mps"] * rng.standard_normal(len(x))
    return RadarScan(
        1_000_000_000, "radar_front", xyz.astype(np.float32), dop.astype(np.float32), rcs.astype(np.float32)
    )


def box_returns(
    center: np.ndarray, yaw: float, length: float, width: float, k: int, rng: np.random.Generator
) -> np.ndarray:
    """(k, 3) points on the faces of a box that face the radar, evenly spread across the LOS."""
    c, s = np.cos(yaw), np.sin(yaw)
    ax_l, ax_w = np.array([c, s]), np.array([-s, c])
    o = T_RADAR[:2, 3]
    faces = []
    for ax, half, other, other_half in (
        (ax_l, length / 2, ax_w, width / 2),
        (ax_w, width / 2, ax_l, length / 2),
    ):
        for sign in (1.0, -1.0):
            mid = center + sign * half * ax
            if np.dot(sign * ax, mid - o) < 0:  # outward normal faces the radar
                faces.append((mid, other, other_half))
    pts = []
    for mid, along, half in faces:
        a = rng.uniform(-half, half, 64)
        pts.append(mid + a[:, None] * along)
    pts = np.vstack(pts)
    az = np.arctan2(pts[:, 1] - o[1], pts[:, 0] - o[0])
    pick = np.argsort(az)[np.linspace(0, len(az) - 1, k).round().astype(int)]
    return np.column_stack([pts[pick], rng.uniform(0.3, 1.2, k)])


def car_scan(rng, noise=NOISE, center=(15.0, 6.0), v=(-5.0, 3.0), v_ego=(8.0, 0.5), yaw_rate=0.3, k=6):
    center, v = np.asarray(center), np.asarray(v)
    p = box_returns(center, float(np.arctan2(v[1], v[0])), 4.5, 1.8, k, rng)
    rcs = np.full(k, 10.0 - 10.0 * np.log10(k))
    return make_scan(p, np.tile(v, (k, 1)), np.asarray(v_ego), yaw_rate, rcs, rng, noise), center


def detect(scan: RadarScan, v_ego=(8.0, 0.5), yaw_rate=0.3, **cfg):
    det = RadarDetector(RadarDetectorConfig(**cfg))
    out = det.detect(scan, T_RADAR, np.asarray(v_ego), yaw_rate)
    return out, det


# -- configuration ----------------------------------------------------------------------------------


def test_config_rejects_unknown_keys_by_name_and_bad_values():
    with pytest.raises(ValueError, match="(?s)cluster_eps_mm: unknown.*doppler_sigma: unknown"):
        RadarDetectorConfig.from_dict({"cluster_eps_mm": 1.0, "doppler_sigma": 2.0, "min_points": 2})
    assert RadarDetectorConfig.from_dict({"min_points": 2}).min_points == 2
    for bad in (
        {"doppler_std_mps": 0.0},
        {"range_min_m": 200.0},
        {"min_points": 0},
        {"min_points": 1.5},
        {"cluster_eps_m": float("nan")},
        {"rcs_car_dbsm": 30.0},
        {"center_shift_fraction": 1.5},
    ):
        with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
            RadarDetectorConfig.from_dict(bad)


def test_bad_inputs_are_refused():
    scan, _ = car_scan(np.random.default_rng(0))
    det = RadarDetector()
    with pytest.raises(ValueError, match="ego_velocity_base"):
        det.detect(scan, T_RADAR, np.zeros(4), 0.0)
    with pytest.raises(ValueError, match="T_base_radar"):
        det.detect(scan, np.eye(3), np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="yaw_rate"):
        det.detect(scan, T_RADAR, np.zeros(2), float("nan"))
    scan.stamp_ns = 1.5
    with pytest.raises(TypeError, match="stamp_ns"):
        det.detect(scan, T_RADAR, np.zeros(2), 0.0)


# -- velocity fit ------------------------------------------------------------------------------------


def test_noise_free_velocity_is_exact_with_moving_turning_ego():
    """Wrong lever arm, frame or sign conventions show up as an error far above 1e-6 here."""
    scan, center = car_scan(np.random.default_rng(1), noise=QUIET)
    out, det = detect(scan)
    assert len(out) == 1 and det.last_stats["radial_only"] == 0 and not out.radial_only[0]
    np.testing.assert_allclose(out.velocity[0], [-5.0, 3.0], atol=1e-4)
    assert out.radial[0] == pytest.approx(out.los[0] @ [-5.0, 3.0], abs=1e-4)
    assert out.yaw[0] == pytest.approx(np.arctan2(3.0, -5.0), abs=1e-4)
    assert out.labels[0] == ObjectClass.CAR
    # the centroid of the visible faces is moved back along the LOS to the box centre
    los = (center - T_RADAR[:2, 3]) / np.linalg.norm(center - T_RADAR[:2, 3])
    assert abs((out.centers[0, :2] - center) @ los) < 0.3
    assert np.hypot(*(out.centers[0, :2] - center)) < 1.0  # across: perspective spread of the returns
    assert out.sensors[0] == SENSOR_RADAR and out.frame_id == "base_link"
    out3 = RadarDetector().detect(scan, T_RADAR, np.array([8.0, 0.5, 0.0]), 0.3)  # (3,) ego velocity
    np.testing.assert_allclose(out3.velocity, out.velocity)
    assert np.isfinite(out.pos_cov).all() and np.isfinite(out.vel_cov).all()


def test_velocity_fit_with_sensor_noise_within_0p3_mps():
    errs = []
    rng = np.random.default_rng(2)
    for _ in range(40):
        scan, _ = car_scan(rng, center=(12.0, 5.0), k=8)
        out, _ = detect(scan)
        assert len(out) == 1
        errs.append(np.hypot(*(out.velocity[0] - [-5.0, 3.0])))
    assert np.median(errs) < 0.3, np.median(errs)
    assert np.max(errs) < 1.0


def test_velocity_covariance_is_consistent_chi2():
    """NEES (v - v_true)^T Sigma^-1 (v - v_true) over random trials is chi-square with 2 dof."""
    rng = np.random.default_rng(3)
    nees = []
    for _ in range(300):
        r, az = rng.uniform(10.0, 25.0), rng.uniform(-0.5, 0.5)
        center = T_RADAR[:2, 3] + r * np.array([np.cos(az), np.sin(az)])
        v = rng.uniform(-10.0, 10.0, 2)
        v_ego = rng.uniform([0.0, -0.5], [15.0, 0.5])
        w = rng.uniform(-0.4, 0.4)
        scan, _ = car_scan(rng, center=center, v=v, v_ego=v_ego, yaw_rate=w, k=int(rng.integers(5, 9)))
        out, det = detect(scan, v_ego, w, fit_model_std_mps=0.0)  # a rigid translation: no model error
        if len(out) != 1 or det.last_stats["radial_only"]:
            continue
        e = out.velocity[0] - v
        nees.append(e @ np.linalg.solve(out.vel_cov[0], e))
    nees = np.array(nees)
    k = len(nees)
    assert k > 200
    lo, hi = chi2.ppf([0.001, 0.999], 2 * k) / k
    assert lo < nees.mean() < hi, (nees.mean(), lo, hi)
    assert 0.02 < np.mean(nees > chi2.ppf(0.95, 2)) < 0.09


def test_single_point_and_narrow_cluster_fall_back_to_radial_only():
    rng = np.random.default_rng(4)
    v_ego, w = np.array([10.0, 0.0]), 0.1
    p = np.array([[30.0, 2.0, 0.5]])
    v_true = np.array([[-4.0, 6.0]])
    scan = make_scan(p, v_true, v_ego, w, np.array([10.0]), rng)
    out, det = detect(scan, v_ego, w)
    assert len(out) == 1 and det.last_stats["radial_only"] == 1
    u = p[0, :2] - T_RADAR[:2, 3]
    u /= np.linalg.norm(u)
    np.testing.assert_allclose(out.velocity[0], (v_true[0] @ u) * u, atol=1e-4)  # r u, no tangential part
    assert out.radial_only[0] and out.radial[0] == pytest.approx(v_true[0] @ u, abs=1e-4)
    assert abs(out.los[0] @ u) > 0.9999 and out.radial_var[0] <= 1.001 * (0.1**2 + 0.1**2)
    evals, evecs = np.linalg.eigh(out.vel_cov[0])
    assert evals[0] <= 1.001 * (0.1**2 + 0.1**2) and evals[1] >= 10.0**2  # Doppler + model std
    assert abs(evecs[:, 0] @ u) > 0.999  # the small variance is along the LOS
    # three returns within 0.3 degrees: also ill-conditioned
    az = np.arctan2(u[1], u[0]) + np.radians([-0.15, 0.0, 0.15])
    p3 = np.column_stack([T_RADAR[0, 3] + 30 * np.cos(az), T_RADAR[1, 3] + 30 * np.sin(az), np.full(3, 0.5)])
    scan3 = make_scan(p3, np.repeat(v_true, 3, 0), v_ego, w, np.full(3, 5.0), rng, NOISE)
    out3, det3 = detect(scan3, v_ego, w)
    assert len(out3) == 1 and det3.last_stats["radial_only"] == 1
    assert np.linalg.eigvalsh(out3.vel_cov[0])[1] >= 10.0**2
    assert abs(out3.velocity[0] @ u - v_true[0] @ u) < 0.3


# -- static world, pedestrians, bad points ---------------------------------------------------------


def test_static_clutter_rejected_with_moving_turning_ego():
    rng = np.random.default_rng(5)
    v_ego, w = np.array([15.0, 0.3]), 0.5  # the lever arm alone is 1.8 m/s at the radar
    az = rng.uniform(-0.7, 0.7, 60) + 0.1
    r = rng.uniform(3.0, 120.0, 60)
    p = np.column_stack([3.6 + r * np.cos(az), r * np.sin(az), rng.uniform(0.0, 2.0, 60)])
    scan = make_scan(p, np.zeros((60, 2)), v_ego, w, rng.normal(-2.0, 5.0, 60), rng, NOISE)
    assert np.median(np.abs(scan.radial_velocity)) > 10.0  # the raw Doppler is large
    out, det = detect(scan, v_ego, w)
    assert len(out) == 0 and det.last_stats["static_rejected"] == 60
    # without the yaw-rate lever arm the same scan would not look static
    _, det_bad = detect(scan, v_ego, 0.0)
    assert det_bad.last_stats["static_rejected"] < 60
    # a moving car among the clutter survives
    car, _ = car_scan(rng, v_ego=v_ego, yaw_rate=w)
    both = RadarScan(
        scan.stamp_ns,
        scan.frame_id,
        np.vstack([scan.xyz, car.xyz]),
        np.concatenate([scan.radial_velocity, car.radial_velocity]),
        np.concatenate([scan.rcs, car.rcs]),
    )
    out2, det2 = detect(both, v_ego, w)
    assert len(out2) == 1 and det2.last_stats["static_rejected"] == 60
    assert np.hypot(*(out2.velocity[0] - [-5.0, 3.0])) < 1.0


def test_pedestrian_like_small_cluster():
    rng = np.random.default_rng(6)
    v_ego, w = np.array([6.0, 0.0]), 0.05
    c = np.array([16.0, -3.0])
    v = np.array([-1.2, 0.6])  # walking towards the road, mostly along the LOS
    p = np.column_stack([c + rng.normal(0.0, 0.15, (2, 2)), [0.9, 1.2]])
    scan = make_scan(p, np.tile(v, (2, 1)), v_ego, w, np.array([-8.0, -8.0]), rng, NOISE)
    out, _ = detect(scan, v_ego, w)
    assert len(out) == 1
    assert out.labels[0] == ObjectClass.PEDESTRIAN
    np.testing.assert_allclose(out.sizes[0], PRIOR_SIZES[ObjectClass.PEDESTRIAN])
    u = (c - T_RADAR[:2, 3]) / np.linalg.norm(c - T_RADAR[:2, 3])
    assert abs(out.velocity[0] @ u - v @ u) < 0.3
    assert np.hypot(*(out.centers[0, :2] - c)) < 1.0
    assert 0.0 < out.scores[0] < 1.0


def test_class_guess_from_rcs_and_speed():
    cfg = RadarDetectorConfig()
    from sensor_fusion.perception.radar_fit import classify

    labels = classify(np.array([22.0, 10.0, 2.0, -6.0, -6.0, 2.0]), np.array([10, 10, 5, 1.5, 6, 20.0]), cfg)
    assert list(labels) == [
        ObjectClass.TRUCK,
        ObjectClass.CAR,
        ObjectClass.BICYCLE,
        ObjectClass.PEDESTRIAN,
        ObjectClass.BICYCLE,  # too fast for a pedestrian
        ObjectClass.CAR,  # too fast for a bicycle
    ]


def test_empty_scan_gives_empty_detections():
    scan = RadarScan(7, "radar_front", np.zeros((0, 3), np.float32), np.zeros(0, np.float32), np.zeros(0))
    out, det = detect(scan)
    assert len(out) == 0 and out.stamp_ns == 7 and out.frame_id == "base_link"
    assert out.vel_cov.shape == (0, 2, 2) and out.velocity.shape == (0, 2)
    assert out.radial.shape == out.radial_var.shape == out.radial_only.shape == (0,)
    assert det.last_stats["points"] == 0


def test_nan_points_dropped():
    rng = np.random.default_rng(7)
    scan, _ = car_scan(rng)
    ref, _ = detect(scan)
    bad = RadarScan(
        scan.stamp_ns,
        scan.frame_id,
        np.vstack([scan.xyz, [[np.nan, 1.0, 0.0], [10.0, 0.0, 0.0], [np.inf, 0.0, 0.0]]]).astype(np.float32),
        np.concatenate([scan.radial_velocity, [1.0, np.nan, 1.0]]).astype(np.float32),
        np.concatenate([scan.rcs, [0.0, 0.0, 0.0]]).astype(np.float32),
    )
    out, det = detect(bad)
    assert det.last_stats["invalid"] == 3
    assert len(out) == len(ref) == 1
    np.testing.assert_allclose(out.velocity, ref.velocity)
    np.testing.assert_allclose(out.centers, ref.centers)
    assert np.isfinite(out.velocity).all() and np.isfinite(out.vel_cov).all()


# -- clustering and ghosts -------------------------------------------------------------------------


def pair_distance(x, y, r, ux, uy, eps_along, eps_across, eps_r):
    """Normalised link distance (<= 1 means linked) of every pair, as cluster_radar defines it."""
    dx, dy = x[None, :] - x[:, None], y[None, :] - y[:, None]
    mx, my = ux[None, :] + ux[:, None], uy[None, :] + uy[:, None]
    m = np.hypot(mx, my)
    along, across = (dx * mx + dy * my) / m, (dx * my - dy * mx) / m
    q = np.hypot(along / eps_along, across / eps_across)
    return np.maximum(q, np.abs(r[None, :] - r[:, None]) / eps_r)


def test_clustering_matches_scipy_single_linkage():
    rng = np.random.default_rng(8)
    for _ in range(20):
        n = int(rng.integers(2, 120))
        x, y, r = rng.uniform(0, 40, n), rng.uniform(-15, 15, n), rng.uniform(-10, 10, n)
        az = np.arctan2(y, x)
        ux, uy = np.cos(az), np.sin(az)
        lab, nc = cluster_radar(x, y, r, ux, uy, 3.0, 1.5, 1.5)
        d = pair_distance(x, y, r, ux, uy, 3.0, 1.5, 1.5)
        ref = fcluster(linkage(squareform(d, checks=False), "single"), 1.0, "distance")
        assert nc == len(np.unique(ref))
        # same partition: each of our clusters maps to exactly one reference cluster and vice versa
        pairs = np.unique(np.column_stack([lab, ref]), axis=0)
        assert len(pairs) == nc
    # the link ellipse is elongated along the line of sight
    x, y, r = np.array([20.0, 22.5, 20.0]), np.array([0.0, 0.0, 2.5]), np.zeros(3)
    lab, nc = cluster_radar(x, y, r, np.ones(3), np.zeros(3), 3.0, 1.5, 1.5)
    assert nc == 2 and lab[0] == lab[1] != lab[2]


def test_doppler_separates_neighbours():
    rng = np.random.default_rng(9)
    v_ego = np.array([10.0, 0.0])
    a = np.array([[20.0, 1.0, 0.5], [20.5, 1.5, 0.5]])
    b = np.array([[21.0, 2.5, 0.5], [21.5, 3.0, 0.5]])  # 1.5 m away, oncoming
    v = np.array([[12.0, 0.0], [12.0, 0.0], [-12.0, 0.0], [-12.0, 0.0]])
    scan = make_scan(np.vstack([a, b]), v, v_ego, 0.0, np.full(4, 7.0), rng)
    out, det = detect(scan, v_ego, 0.0)
    assert det.last_stats["clusters"] == 2 and len(out) == 2


def test_double_bounce_and_behind_ghosts_rejected():
    rng = np.random.default_rng(10)
    v_ego, w = np.array([10.0, 0.0]), 0.0
    scan, _ = car_scan(rng, center=(25.0, 2.0), v=(4.0, 0.0), v_ego=v_ego, yaw_rate=w)
    out0, _ = detect(scan, v_ego, w)
    assert len(out0) == 1
    t = T_RADAR[:3, 3]
    # double bounce: a weak copy of one return at twice the range along its LOS, twice its raw Doppler
    xr = scan.xyz[2].astype(float)
    dbl_xyz = 2.0 * xr
    # behind: a weak return beyond the car, inside its azimuth span, with a different Doppler
    p_b = t + 1.6 * (np.array([25.0, 2.0, 0.6]) - t)
    beh = make_scan(p_b[None], np.array([[-6.0, 0.0]]), v_ego, w, np.array([-5.0]), rng)
    ghosty = RadarScan(
        scan.stamp_ns,
        scan.frame_id,
        np.vstack([scan.xyz, dbl_xyz[None], beh.xyz]).astype(np.float32),
        np.concatenate([scan.radial_velocity, [2.0 * scan.radial_velocity[2]], beh.radial_velocity]),
        np.concatenate([scan.rcs, [scan.rcs[2] - 8.0], beh.rcs]),
    )
    out, det = detect(ghosty, v_ego, w)
    assert det.last_stats["rejected_ghost"] == 2, det.last_stats
    assert len(out) == 1
    np.testing.assert_allclose(out.velocity, out0.velocity)
    # the same "behind" return well outside the car's azimuth span is a real target
    p_side = t + 1.6 * (np.array([25.0, 12.0, 0.6]) - t)
    side = make_scan(p_side[None], np.array([[-6.0, 0.0]]), v_ego, w, np.array([-5.0]), rng)
    real = RadarScan(
        scan.stamp_ns,
        scan.frame_id,
        np.vstack([scan.xyz, side.xyz]),
        np.concatenate([scan.radial_velocity, side.radial_velocity]),
        np.concatenate([scan.rcs, side.rcs]),
    )
    out2, det2 = detect(real, v_ego, w)
    assert det2.last_stats["rejected_ghost"] == 0 and len(out2) == 2


def test_chi2_quantile_is_scipys():
    k = np.arange(1, 40)
    np.testing.assert_allclose(chi2_quantile_95(k), chi2.ppf(0.95, k), rtol=1e-12)
    assert np.isinf(chi2_quantile_95(np.array([0.0, -1.0]))).all()


# -- simulated scans -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def urban_world():
    from sensor_fusion.sim.scenarios import scenario_config
    from sensor_fusion.sim.world import World

    cfg = scenario_config("urban")
    return World(cfg, seed=0), cfg["radars"]


def test_simulated_urban_scans_recall_and_velocity(urban_world):
    """Moving actors (> 1 m/s) within 60 m in the FOV with at least one return: found and their velocity."""
    from sensor_fusion.core.calibration import load_calibration
    from sensor_fusion.sim.radar import simulate_radar_with_truth
    from sensor_fusion.sim.scenarios import stream_rng

    world, rc = urban_world
    T = load_calibration("config/calibration.yaml").T_base_from("radar_front")
    det = RadarDetector()
    n_gt = n_tp = n_det = n_on_actor = 0
    v_err = []
    for k in range(0, 200, 8):
        stamp = world.t0_ns + k * 100_000_000
        scan, truth = simulate_radar_with_truth(world, stamp, T, rc, stream_rng(0, "radar_front", k))
        ego = world.ego_at(stamp)
        c, s = np.cos(ego.yaw), np.sin(ego.yaw)
        R = np.array([[c, -s], [s, c]])
        out = det.detect(scan, T, R.T @ ego.velocity[:2], ego.yaw_rate)
        act = world.actors_at(stamp)
        cen = (act.centers[:, :2] - ego.position[:2]) @ R
        vel = act.velocity[:, :2] @ R
        rel = cen - T[:2, 3]
        rng, az = np.hypot(*rel.T), np.arctan2(rel[:, 1], rel[:, 0])
        gt = (
            (np.hypot(*vel.T) > 1.0)
            & (rng < 60.0)
            & (np.abs(az) < np.radians(45.0))
            & np.isin(act.ids, truth)
        )
        d = np.hypot(*(out.centers[:, None, :2] - cen[None]).transpose(2, 0, 1))  # (det, actor)
        for j in np.flatnonzero(gt):
            n_gt += 1
            if len(out) and d[:, j].min() < 2.0:
                n_tp += 1
                v_err.append(np.hypot(*(out.velocity[d[:, j].argmin()] - vel[j])))
        dr = out.centers[:, :2] - T[:2, 3]
        near = (np.hypot(*dr.T) < 60.0) & (np.abs(np.arctan2(dr[:, 1], dr[:, 0])) < np.radians(45.0))
        n_det += int(near.sum())
        if len(out):  # precision: the detection lies on (within 1 m of) some actor's box
            yaw = act.yaw - ego.yaw
            q = out.centers[near, None, :2] - cen[None]
            bx = np.abs(q[..., 0] * np.cos(yaw) + q[..., 1] * np.sin(yaw)) - 0.5 * act.sizes[:, 0]
            by = np.abs(-q[..., 0] * np.sin(yaw) + q[..., 1] * np.cos(yaw)) - 0.5 * act.sizes[:, 1]
            n_on_actor += int((np.hypot(np.maximum(bx, 0), np.maximum(by, 0)).min(1) < 1.0).sum())
    v_err = np.array(v_err)
    recall, precision = n_tp / n_gt, n_on_actor / max(n_det, 1)
    print(
        f"radar urban seed 0: recall {n_tp}/{n_gt} = {recall:.2f}, precision {n_on_actor}/{n_det} = "
        f"{precision:.2f}, velocity error median {np.median(v_err):.2f} m/s, "
        f"within 1 m/s {np.mean(v_err < 1.0):.2f}"
    )
    assert n_gt >= 30
    assert recall >= 0.85
    assert precision >= 0.85
    assert np.median(v_err) < 1.0 and np.mean(v_err < 1.0) >= 0.65


def test_an_absurd_rcs_field_overflows_nothing():
    rng = np.random.default_rng(7)
    scan, _ = car_scan(rng)
    ref, _ = detect(scan)
    loud = RadarScan(
        scan.stamp_ns, scan.frame_id, scan.xyz, scan.radial_velocity, np.full_like(scan.rcs, 3e38)
    )
    with np.errstate(over="raise"):  # 10^(3e37) overflowed to inf and the weighted centre to nan
        out, _ = detect(loud)
    assert len(out) == len(ref)
    assert np.isfinite(out.centers).all() and np.isfinite(out.velocity).all()
