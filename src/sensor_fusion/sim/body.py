"""A vehicle body that follows the ground: attitude from the surface, rigid-body kinematics on a grid.

Shared by the robot's yard (``robot.py``) and the road world on graded, crowned roads
(``world.py`` with ``terrain.py``): both integrate a trajectory once on the simulation grid and let
the IMU, GNSS and sensors read the 3D attitude from it (``R_world_base``, ``omega_body``,
``alpha_body``: central differences, so a noise-free IMU integrates back to the trajectory).
"""

from __future__ import annotations

import numpy as np


def rot_zyx(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(N, 3, 3) R = Rz(yaw) Ry(pitch) Rx(roll), vectorised."""
    cy, sy, cp, sp, cr, sr = (
        np.cos(yaw),
        np.sin(yaw),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(roll),
        np.sin(roll),
    )
    return np.stack(
        [
            np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
            np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
            np.stack([-sp, cp * sr, cp * cr], -1),
        ],
        axis=-2,
    )


def attitude_on_slope(yaw: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pitch and roll (N,) of a body with heading ``yaw`` whose z axis is the normal of a surface
    with gradient ``grad`` (N, 2) (nose up is negative pitch, REP-103); and the normal (N, 3)."""
    nrm = np.column_stack([-grad, np.ones(grad.shape[0])])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    cy, sy = np.cos(yaw), np.sin(yaw)
    n1 = cy * nrm[:, 0] + sy * nrm[:, 1]
    n2 = -sy * nrm[:, 0] + cy * nrm[:, 1]
    roll = -np.arcsin(np.clip(n2, -1.0, 1.0))
    pitch = np.arctan2(n1, nrm[:, 2])
    return pitch, roll, nrm


def body_grid(pos: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, dt: float) -> dict:
    """Grid arrays of a rigid body from its (N, 3) positions and ZYX angles on a ``dt`` grid:
    what ``body_arrays`` interpolates."""
    R = rot_zyx(yaw, pitch, roll)
    vel = np.gradient(pos, dt, axis=0)
    acc = np.gradient(vel, dt, axis=0)
    Rdot = np.gradient(R, dt, axis=0)
    W = np.einsum("nji,njk->nik", R, Rdot)  # R^T Rdot = [omega_body]x
    omega = 0.5 * np.column_stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]])
    alpha = np.gradient(omega, dt, axis=0)
    return {
        "position": pos,
        "yaw": yaw,
        "pitch": pitch,
        "roll": roll,
        "velocity": vel,
        "accel_world": acc,
        "omega_body": omega,
        "alpha_body": alpha,
        "yaw_rate": np.gradient(yaw, dt),
        "speed": np.einsum("nj,nj->n", R[:, :, 0], vel),
    }


def body_arrays(grid: dict, k: np.ndarray, r: np.ndarray, dt: float) -> dict[str, np.ndarray]:
    """The body's state between grid steps ``k`` and ``k + 1`` at fractions ``r`` (N,): linear in
    every grid array, then ``R_world_base``, ``accel_body`` and ``yaw_accel`` (``ego_arrays``)."""
    r = np.asarray(r, np.float64)[:, None]
    out = {}
    for name, a in grid.items():
        a2 = a if a.ndim == 2 else a[:, None]
        val = a2[k] * (1.0 - r) + a2[k + 1] * r
        out[name] = val if a.ndim == 2 else val[:, 0]
    R = rot_zyx(out["yaw"], out["pitch"], out["roll"])
    out["yaw"] = np.arctan2(np.sin(out["yaw"]), np.cos(out["yaw"]))
    out["R_world_base"] = R
    out["accel_body"] = np.einsum("nji,nj->ni", R, out.pop("accel_world"))
    out["yaw_accel"] = (grid["yaw_rate"][k + 1] - grid["yaw_rate"][k]) / dt
    return out


def quat_xyzw(R: np.ndarray) -> np.ndarray:
    """(4,) x, y, z, w of a rotation matrix (3, 3)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_quat()
