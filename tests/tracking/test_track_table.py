"""tracking.track_table: rows stay aligned through take/keep/extend; birth builds new tracks."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from sensor_fusion.core.classes import NUM_CLASSES, SENSOR_CAMERA, SENSOR_LIDAR, SENSOR_RADAR, ObjectClass
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.filters import CVFilter, IMMFilter
from sensor_fusion.tracking.measurements import validate
from sensor_fusion.tracking.track_table import VOTE_PRIOR, TrackTable, birth, birth_state
from tests.tracking.test_tracker import dets

IMM = IMMFilter(0.5, 0.3, (4.0, 2.0))


def table(n: int, first_id: int = 1, filt=IMM) -> TrackTable:
    """``n`` tracks whose every field encodes the row's id (x = 10 id, sizes = id, ...)."""
    x = np.arange(first_id, first_id + n, dtype=np.float64)
    d = dets(0, np.column_stack([10.0 * x, np.zeros(n)]))
    d.sizes = np.column_stack([x, x, x])
    d.yaw = 0.01 * x
    d.centers[:, 2] = x
    t = birth(validate(d, TrackerConfig()), np.arange(n), 5, first_id, filt, TrackerConfig())
    t.logit[:] = x
    t.hits[:] = x.astype(np.int64)
    t.confirmed[:] = x.astype(np.int64) % 2 == 0
    return t


def assert_rows_aligned(t: TrackTable) -> None:
    """Every field's row i belongs to track ids[i] (per :func:`table`'s encoding)."""
    ids = t.ids.astype(np.float64)
    assert all(getattr(t, f.name).shape[0] == len(t) for f in fields(t))
    np.testing.assert_array_equal(t.xm[:, 0, 0], 10.0 * ids)
    np.testing.assert_array_equal(t.sizes[:, 0], ids)
    np.testing.assert_array_equal(t.z, ids)
    np.testing.assert_array_equal(t.logit, ids)
    np.testing.assert_array_equal(t.hits, t.ids)
    np.testing.assert_array_equal(t.confirmed, t.ids % 2 == 0)
    np.testing.assert_allclose(t.yaw, 0.01 * ids)


def test_empty_shapes() -> None:
    t = TrackTable.empty(IMM.M, IMM.n)
    assert len(t) == 0 and t.xm.shape == (0, 2, 5) and t.Pm.shape == (0, 2, 5, 5) and t.mu.shape == (0, 2)
    assert t.votes.shape == (0, NUM_CLASSES) and t.ids.dtype == np.int64 and t.sensors.dtype == np.uint8
    assert_rows_aligned(t.extend(table(3)))


def test_take_keep_extend_keep_rows_aligned() -> None:
    t = table(6)
    assert_rows_aligned(t)
    sub = t.take(np.array([4, 0, 2]))
    assert sub.ids.tolist() == [5, 1, 3]
    assert_rows_aligned(sub)
    kept = t.keep(t.ids % 3 != 0)
    assert kept.ids.tolist() == [1, 2, 4, 5]
    assert_rows_aligned(kept)
    both = kept.extend(table(2, first_id=7))
    assert both.ids.tolist() == [1, 2, 4, 5, 7, 8]
    assert_rows_aligned(both)


def test_take_copies_keep_all_is_self() -> None:
    t = table(3)
    assert t.keep(np.ones(3, bool)) is t
    sub = t.take(np.ones(3, bool))
    sub.xm[0, 0, 0] = -1.0
    sub.votes[0, 0] = 99.0
    assert t.xm[0, 0, 0] == 10.0 and t.votes[0, 0] != 99.0


def test_labels_argmax_of_votes() -> None:
    t = table(2)
    t.votes[:] = 0.0
    t.votes[0, int(ObjectClass.PEDESTRIAN)] = 0.4
    t.votes[0, int(ObjectClass.CAR)] = 0.3
    t.votes[1, int(ObjectClass.TRUCK)] = 1.0
    assert t.labels().tolist() == [int(ObjectClass.PEDESTRIAN), int(ObjectClass.TRUCK)]


def test_birth_state_velocity_sources() -> None:
    d = dets(0, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], vel=[[2.0, 1.0], [np.nan, np.nan], [np.nan, np.nan]])
    d.vel_cov = np.tile(np.diag([0.1, 0.2]), (3, 1, 1))
    d.radial = np.array([np.nan, 5.0, np.nan])
    d.los = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    d.radial_var = np.full(3, 0.04)
    x, P = birth_state(validate(d, TrackerConfig()), np.arange(3), 64.0)
    np.testing.assert_array_equal(x[:, :2], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(x[:, 2:], [[2.0, 1.0], [0.0, 5.0], [0.0, 0.0]])  # measured, r l, 0
    np.testing.assert_allclose(P[0, 2:, 2:], np.diag([0.1, 0.2]))
    np.testing.assert_allclose(P[1, 2:, 2:], np.diag([64.0, 0.04]))  # known along los (y) only
    np.testing.assert_allclose(P[2, 2:, 2:], 64.0 * np.eye(2))
    np.testing.assert_allclose(P[:, :2, :2], np.tile(0.04 * np.eye(2), (3, 1, 1)))


@pytest.mark.parametrize("filt", [CVFilter(), IMM], ids=["cv", "imm"])
def test_birth_fields(filt) -> None:
    cfg = TrackerConfig(existence_birth=0.4, untrusted_class_vote_weight=0.0)
    d = dets(0, [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]], scores=0.8, yaw=4.0)
    d.sensors[:] = [SENSOR_LIDAR, SENSOR_RADAR, SENSOR_CAMERA]
    d.yaw[2] = np.nan
    d.centers[1, 2] = np.nan
    t = birth(validate(d, cfg), np.array([0, 1, 2]), 7, 11, filt, cfg)
    assert t.ids.tolist() == [11, 12, 13] and t.xm.shape == (3, filt.M, filt.n)
    assert t.hits.tolist() == [1, 1, 1] and not t.confirmed.any()
    assert t.birth_ns.tolist() == t.last_update_ns.tolist() == [7, 7, 7]
    assert t.size_known.tolist() == [True, False, False] and t.shape_ns.tolist() == [7, 0, 0]
    assert t.yaw_known.tolist() == [True, False, False]
    assert t.yaw[0] == pytest.approx(4.0 - 2 * np.pi) and t.yaw[2] == 0.0  # wrapped; unmeasured 0
    assert t.z.tolist() == [0.8, 0.0, 0.8]
    np.testing.assert_allclose(t.logit, np.log(0.4 / 0.6))
    car, unknown = int(ObjectClass.CAR), int(ObjectClass.UNKNOWN)
    assert t.votes[:, car].tolist() == [0.8, 0.0, 0.8]  # radar's class is not trusted (weight 0)
    assert t.votes[:, unknown].tolist() == [VOTE_PRIOR] * 3
    assert t.labels().tolist() == [car, unknown, car]
    assert t.sensors.tolist() == [SENSOR_LIDAR, SENSOR_RADAR, SENSOR_CAMERA]
