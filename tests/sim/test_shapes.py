"""sim/shapes.py: actor parts stay inside their truth box, touch every face, and differ per class."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim.shapes import CLASS_COLOR_BGR, actor_parts
from sensor_fusion.sim.state import ActorStates


@settings(max_examples=40, deadline=None)
@given(
    label=st.sampled_from(list(ObjectClass)),
    size=st.tuples(st.floats(0.3, 15.0), st.floats(0.3, 4.0), st.floats(0.5, 4.5)),
    yaw=st.floats(-4.0, 4.0),
    center=st.tuples(st.floats(-100, 100), st.floats(-100, 100), st.floats(0.0, 3.0)),
    t_s=st.sampled_from([None, 1.3]),  # 1.3: the static worlds' articulated shapes
)
def test_parts_stay_inside_and_touch_every_face_of_the_gt_box(label, size, yaw, center, t_s):
    actors = ActorStates(
        np.array([7]),
        np.array([int(label)]),
        np.array([center], float),
        np.array([size], float),
        np.array([yaw]),
        np.zeros((1, 3)),
        np.zeros(1),
    )
    p = actor_parts(actors, t_s=t_s)
    assert len(p) >= 1 and np.all(p.actor_index == 0)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    corners = []
    for k in range(len(p)):
        c, s = np.cos(p.yaw[k] - yaw), np.sin(p.yaw[k] - yaw)  # part yaw relative to the actor
        local = signs * p.half_sizes[k]
        rel = p.centers[k] - np.array(center)
        ca, sa = np.cos(-yaw), np.sin(-yaw)
        rel = np.array([ca * rel[0] - sa * rel[1], sa * rel[0] + ca * rel[1], rel[2]])
        corners.append(
            np.column_stack(
                [
                    rel[0] + c * local[:, 0] - s * local[:, 1],
                    rel[1] + s * local[:, 0] + c * local[:, 1],
                    rel[2] + local[:, 2],
                ]
            )
        )
    pts = np.concatenate(corners)
    half = np.array(size) / 2
    tol = 1e-9 * (1 + np.abs(center).max())
    assert np.all(np.abs(pts) <= half + 1e-7 + tol)
    # a standing walker's legs reach the front and back faces only in stride (test_static_world)
    axes = [1, 2] if t_s is not None and label == ObjectClass.PEDESTRIAN else [0, 1, 2]
    np.testing.assert_allclose(pts.max(axis=0)[axes], half[axes], atol=1e-7)
    np.testing.assert_allclose(pts.min(axis=0)[axes], -half[axes], atol=1e-7)


def test_parts_have_class_specific_shapes_and_hues():
    n_parts = {}
    for label in (
        ObjectClass.CAR,
        ObjectClass.TRUCK,
        ObjectClass.BUS,
        ObjectClass.BICYCLE,
        ObjectClass.PEDESTRIAN,
    ):
        a = ActorStates(
            np.array([1]),
            np.array([int(label)]),
            np.zeros((1, 3)),
            np.array([[4.0, 2.0, 2.0]]),
            np.zeros(1),
            np.zeros((1, 3)),
            np.zeros(1),
        )
        n_parts[label] = len(actor_parts(a))
    assert n_parts[ObjectClass.BUS] == 1
    assert (
        n_parts[ObjectClass.CAR] >= 2
        and n_parts[ObjectClass.PEDESTRIAN] >= 3
        and n_parts[ObjectClass.BICYCLE] >= 2
    )
    hues = cv2.cvtColor(CLASS_COLOR_BGR[1:].astype(np.uint8)[None], cv2.COLOR_BGR2HSV)[0, :, 0].astype(int)
    d = np.abs(hues[:, None] - hues[None, :])
    d = np.minimum(d, 180 - d) + np.eye(len(hues), dtype=int) * 999
    assert d.min() >= 8, hues  # every class has its own hue
    # colour is a pure function of the id: same id, same colour; different ids differ a little
    ids = np.arange(30)
    a = ActorStates(
        ids,
        np.full(30, int(ObjectClass.CAR)),
        np.zeros((30, 3)),
        np.tile([4.5, 1.9, 1.5], (30, 1)),
        np.zeros(30),
        np.zeros((30, 3)),
        np.zeros(30),
    )
    p1, p2 = actor_parts(a), actor_parts(a)
    np.testing.assert_array_equal(p1.color_bgr, p2.color_bgr)
    body = p1.color_bgr[::4].astype(float)
    assert len(np.unique(body, axis=0)) > 20
    assert np.abs(body - CLASS_COLOR_BGR[ObjectClass.CAR]).max() < 50


def test_static_worlds_bus_has_clearance_between_its_axles() -> None:
    """A 12 m bus in a static world: only wheels below 0.3 m, nothing at all mid-length there."""
    a = ActorStates(
        np.array([3]),
        np.array([int(ObjectClass.BUS)]),
        np.array([[0.0, 0.0, 1.6]]),
        np.array([[12.0, 2.55, 3.2]]),
        np.zeros(1),
        np.zeros((1, 3)),
        np.zeros(1),
    )
    assert len(actor_parts(a)) == 1  # the open world's bus stays one box (its bags unchanged)
    p = actor_parts(a, t_s=0.0)
    bottom = p.centers[:, 2] - p.half_sizes[:, 2]
    wheels = bottom < 0.01
    assert wheels.sum() == 2
    np.testing.assert_allclose(bottom[~wheels].min(), 0.3, atol=0.01)  # the body's clearance
    x0, x1 = p.centers[wheels, 0] - p.half_sizes[wheels, 0], p.centers[wheels, 0] + p.half_sizes[wheels, 0]
    assert x1.min() < x0.max() - 4.0  # the axles 5 m and more apart: a gap to see through
