"""sim/raycast.py: the ray casting kernel against a brute-force reference."""

from __future__ import annotations

import numpy as np

from sensor_fusion.sim.raycast import HIT_GROUND, HIT_NONE, cast_from_origin


def _reference_cast(origin, dirs, centers, half, yaw, t_max):
    """Brute-force numpy slab test, no culling, for cross-checking the kernel."""
    best = np.full(len(dirs), np.inf)
    hit = np.full(len(dirs), HIT_NONE)
    t = np.where(dirs[:, 2] < 0, -origin[2] / np.where(dirs[:, 2] < 0, dirs[:, 2], -1.0), np.inf)
    ok = (t > 1e-4) & (t < t_max)
    best[ok], hit[ok] = t[ok], HIT_GROUND
    for p in range(len(centers)):
        c, s = np.cos(yaw[p]), np.sin(yaw[p])
        Rt = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
        o = Rt @ (origin - centers[p])
        d = dirs @ Rt.T
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-half[p] - o) / d
            t2 = (half[p] - o) / d
        tn = np.nanmax(np.minimum(t1, t2), axis=1)
        tf = np.nanmin(np.maximum(t1, t2), axis=1)
        m = (tn <= tf) & (tn > 1e-4) & (tn < best) & (tn < t_max)
        best[m], hit[m] = tn[m], p
    return best, hit


def test_kernel_matches_brute_force_reference():
    rng = np.random.default_rng(3)
    P = 60
    centers = np.column_stack([rng.uniform(-40, 40, P), rng.uniform(-40, 40, P), rng.uniform(0.5, 3, P)])
    half = rng.uniform(0.1, 3.0, (P, 3))
    yaw = rng.uniform(-np.pi, np.pi, P)
    origin = np.array([0.3, -0.2, 1.7])
    # coherent bundles (like tiles) plus random rays, to exercise tight and loose cones
    az = np.repeat(rng.uniform(-np.pi, np.pi, 200), 50) + rng.normal(0, 0.02, 10000)
    el = np.repeat(rng.uniform(-0.4, 0.3, 200), 50) + rng.normal(0, 0.02, 10000)
    d = np.column_stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
    d = np.concatenate([d, rng.normal(size=(2000, 3))])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d = d.astype(np.float32)
    ref_t, ref_hit = _reference_cast(origin, d.astype(np.float64), centers, half, yaw, 200.0)
    h = cast_from_origin(origin, d, centers, half, yaw, t_max=200.0)
    finite = np.isfinite(ref_t)
    np.testing.assert_array_equal(np.isfinite(h.dist), finite)
    np.testing.assert_allclose(h.dist[finite], ref_t[finite], rtol=1e-5, atol=1e-4)
    assert np.mean(h.part == ref_hit) > 0.999  # ties at shared edges may differ
    assert np.sum(h.part >= 0) > 500 and np.sum(h.part == HIT_GROUND) > 500  # the test really tests boxes
    # normals are unit, face the ray, and hit points lie at origin + t d
    m = h.part != HIT_NONE
    np.testing.assert_allclose(np.linalg.norm(h.normal[m], axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(h.normal[m] * d[m], axis=1) < 0)
    np.testing.assert_allclose(h.point[m], origin + h.dist[m, None] * d[m], atol=1e-3)
    np.testing.assert_allclose(h.cos_incidence[m], -np.sum(h.normal[m] * d[m], axis=1), atol=1e-5)
