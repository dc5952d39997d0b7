"""The Detections contract: every row declared, and moved, subset and joined by the type itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sensor_fusion.core.geometry import invert_transform, pose2d_to_transform, wrap_angle
from sensor_fusion.core.types import COVARIANCE, DETECTION_ROWS, FIXED, HEADING, POINT, VECTOR, Detections


def _random(n: int, seed: int = 0, optional: tuple[str, ...] | None = None) -> Detections:
    """``n`` boxes with every required row and the ``optional`` rows (all when None) random."""
    rng = np.random.default_rng(seed)
    rows = {}
    for name, row in DETECTION_ROWS.items():
        if row.optional and optional is not None and name not in optional:
            continue
        shape = (n, *row.shape)
        if row.kind == COVARIANCE:
            a = rng.normal(size=shape)
            rows[name] = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(2)
        elif row.dtype is np.bool_:
            rows[name] = rng.random(shape) < 0.5
        else:
            rows[name] = (rng.normal(size=shape) * 5).astype(row.dtype)
    return Detections(123, "base_link", **rows)


def test_every_row_is_declared_with_shape_unit_and_kind():
    names = [f.name for f in dataclasses.fields(Detections)]
    assert names[:2] == ["stamp_ns", "frame_id"] and list(DETECTION_ROWS) == names[2:]
    assert {"los", "radial", "radial_var", "radial_only", "time_offset_s", "vel_cov"} == {
        n for n, r in DETECTION_ROWS.items() if r.optional
    }
    for row in DETECTION_ROWS.values():
        assert row.unit and row.kind in (POINT, HEADING, VECTOR, COVARIANCE, FIXED)
    d = Detections.empty(0, "odom")
    assert len(d) == 0 and d.los is None and d.vel_cov is None and d.centers.shape == (0, 3)
    d.validate()
    _random(4).validate()


def test_validate_names_the_bad_row():
    d = _random(3)
    d.los = np.zeros((2, 2))
    with pytest.raises(ValueError, match="los"):
        d.validate()


def test_select_keeps_every_row():
    d = _random(5)
    mask = np.array([True, False, True, True, False])
    for idx in (mask, np.array([4, 0]), slice(1, 3)):
        s = d.select(idx)
        assert s.stamp_ns == d.stamp_ns and s.frame_id == d.frame_id
        for name in DETECTION_ROWS:
            np.testing.assert_array_equal(getattr(s, name), getattr(d, name)[idx])
    assert Detections.empty(0, "odom").select(slice(None)).los is None
    assert _random(3, optional=("radial",)).select([0]).vel_cov is None


def test_transform_moves_each_row_by_its_kind():
    d = _random(6)
    T = pose2d_to_transform(10.0, -4.0, 0.7, z=1.5)
    R, R2 = T[:3, :3], T[:2, :2]
    out = d.transform(T, "odom")
    assert out.frame_id == "odom" and out.stamp_ns == d.stamp_ns and len(out) == 6
    np.testing.assert_allclose(out.centers, d.centers @ R.T + T[:3, 3])
    np.testing.assert_allclose(wrap_angle(out.yaw - d.yaw - 0.7), 0.0, atol=1e-12)
    for name in ("velocity", "los"):
        np.testing.assert_allclose(getattr(out, name), getattr(d, name) @ R2.T)
    for name in ("pos_cov", "vel_cov"):
        np.testing.assert_allclose(getattr(out, name), R2 @ getattr(d, name) @ R2.T)
    for name, row in DETECTION_ROWS.items():
        if row.kind == FIXED:
            np.testing.assert_array_equal(getattr(out, name), getattr(d, name))
    back = out.transform(invert_transform(T), "base_link")
    for name in DETECTION_ROWS:
        np.testing.assert_allclose(getattr(back, name), getattr(d, name), atol=1e-9)
    extra = np.diag([0.5, 0.25])
    np.testing.assert_allclose(d.transform(T, "odom", extra).pos_cov, out.pos_cov + extra)
    assert _random(2, optional=()).transform(T, "odom").los is None


def test_concat_fills_missing_optional_rows_with_not_measured():
    lidar = _random(3, seed=1, optional=("time_offset_s",))
    radar = _random(2, seed=2, optional=("vel_cov", "los", "radial", "radial_var", "radial_only"))
    bev = _random(1, seed=3, optional=("vel_cov",))
    cat = Detections.concat([lidar, radar, bev], 999, "base_link")
    assert cat.stamp_ns == 999 and cat.frame_id == "base_link" and len(cat) == 6
    cat.validate()
    for name, row in DETECTION_ROWS.items():
        got = getattr(cat, name)
        for part, rows in ((lidar, slice(0, 3)), (radar, slice(3, 5)), (bev, slice(5, 6))):
            want = getattr(part, name)
            if want is None:
                want = np.broadcast_to(np.asarray(row.missing, row.dtype), (len(part), *row.shape))
            np.testing.assert_array_equal(got[rows], want)
    assert cat.radial_only.dtype == np.bool_ and np.isnan(cat.radial[[0, 1, 2, 5]]).all()
    assert np.isinf(cat.radial_var[:3]).all() and (cat.time_offset_s[3:] == 0.0).all()
    assert (cat.vel_cov[:3] == 1e6 * np.eye(2)).all()
    # rows no part has stay absent
    assert Detections.concat([lidar, lidar], 0, "base_link").vel_cov is None


def test_concat_edge_cases():
    d = _random(2)
    assert Detections.concat([d], d.stamp_ns, "base_link") is d
    moved = Detections.concat([d], 5, "base_link")
    assert moved.stamp_ns == 5 and moved.centers is d.centers
    empty = Detections.concat([], 7, "odom")
    assert len(empty) == 0 and empty.frame_id == "odom" and empty.stamp_ns == 7
    with pytest.raises(ValueError, match="odom"):
        Detections.concat([d, d.transform(np.eye(4), "odom")], 0, "base_link")
