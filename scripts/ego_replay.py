#!/usr/bin/env python3
"""Run only the ego filter over a bag's IMU, GPS, wheel-odometry and GNSS-velocity topics and
report what issue 15 asks of a robot: when the heading became known (seconds after the first
motion), the fix innovations (distance from the filter to each fix before it is fused: p50,
p95, max), gated fixes, re-initialisations, returns from a multipath jump the filter had taken
(``ego.gnss_steps``), and, for generated bags (their ground truth), yaw and position errors.

    .venv/bin/python scripts/ego_replay.py --config config/robot.yaml BAG [BAG ...]
    .venv/bin/python scripts/ego_replay.py --config MY.yaml --set wheel_odom.topic=/odom -- BAG

Messages are read in log-time order with the node's decoders and topic map
(``ros.inputs.input_specs``), the wheel twist moved to base_link as the pipeline does, so it
works on a real bag (no truth: those columns stay empty) as well as on
``sensor-fusion simulate --scenario robot`` bags. The filter datum is the scenario's world
origin when the bag has one, so its ENU frame is the truth's.

``--without-correlated-gnss`` (generated bags only, a diagnostic): each fix has the generator's
Gauss-Markov error (``/ground_truth/gps_error``) taken out, its white noise and multipath jumps
kept: what an estimator that knew the slow GNSS error could reach at most.

``--oracle-wheel-scale`` (generated bags only, a diagnostic): the wheels' true scale ``s`` and
slope slip ``c`` (wheel speed = (1 + s + c sin(climb)) x true speed, least squares over the
moving samples of the run) are regressed from the bag's wheel and truth topics and written
over the filter's estimate after every fix: what `odom` would be with the wheel ratio known.
Generated bags also report that truth (``wheel_true_s``, ``wheel_true_c``) beside the filter's
final estimate (``wheel_s``, ``wheel_c``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from sensor_fusion.config import from_flat, load_params_file, resolve_calibration_path
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.geometry import quat_to_yaw, wrap_angle
from sensor_fusion.ego import wheel_scale
from sensor_fusion.ego.estimator import EgoEstimator
from sensor_fusion.ego.frame_ego import EgoSource
from sensor_fusion.ego.odom import OdomFrame
from sensor_fusion.eval.ego import EgoPoses, relative_pose_errors
from sensor_fusion.ros.convert import stamp_of
from sensor_fusion.ros.inputs import input_specs
from sensor_fusion.sim.recorder import calibration_from_bag, scenario_from_bag

TRUTH = "/ground_truth/odom"
MULTIPATH = "/ground_truth/gps_multipath"
GPS_ERROR = "/ground_truth/gps_error"
EARTH_RADIUS_M = 6378137.0  # WGS84 equatorial; the errors are metres, the offsets a few


def correlated_errors(bag: str) -> dict[int, tuple[float, float, float]]:
    """Fix stamp -> the generator's correlated GNSS error (E, N, U), m."""
    from sensor_fusion.bag.io import read_messages

    return {
        stamp_of(m): (m.vector.x, m.vector.y, m.vector.z)
        for _t, _mt, _tt, m in read_messages(bag, [GPS_ERROR])
    }


def remove_error(fix, e: tuple[float, float, float]) -> None:
    """Shift ``fix`` (a ``GpsFix``) by minus the ENU error ``e``."""
    lat = math.radians(fix.latitude)
    fix.latitude -= math.degrees(e[1] / EARTH_RADIUS_M)
    fix.longitude -= math.degrees(e[0] / (EARTH_RADIUS_M * math.cos(lat)))
    fix.altitude -= e[2]


def _truth_motion(msg) -> tuple[int, float, float]:
    """(stamp ns, horizontal speed m/s, pitch rad) of a truth ``nav_msgs/Odometry``."""
    q, v = msg.pose.pose.orientation, msg.twist.twist.linear
    return stamp_of(msg), math.hypot(v.x, v.y), math.asin(max(-1.0, min(1.0, 2.0 * (q.w * q.y - q.z * q.x))))


def true_wheel_scale(bag: str, wheel_topic: str) -> tuple[float, float] | None:
    """(s, c) of a generated bag's wheels, read ahead of a replay (the oracle needs it from the
    first fix; a plain replay collects the same rows as it goes): :func:`fit_wheel_scale`."""
    from sensor_fusion.bag.io import read_messages

    wheel, truth = [], []
    for topic, _mt, _t, msg in read_messages(bag, [wheel_topic, TRUTH]):
        if topic == TRUTH:
            truth.append(_truth_motion(msg))
        else:
            wheel.append((stamp_of(msg), msg.twist.twist.linear.x))
    return fit_wheel_scale(wheel, truth)


def fit_wheel_scale(wheel: list, truth: list) -> tuple[float, float] | None:
    """(s, c) from wheel rows (stamp ns, forward speed) and truth rows (:func:`_truth_motion`):
    wheel speed - true speed = (s + c climb) x true speed, least squares over the samples moving
    faster than 0.2 m/s (climb: the sine of the truth's pitch along the direction of travel,
    positive uphill); None without truth or motion."""
    if len(wheel) < 2 or len(truth) < 2:
        return None
    W, T = np.array(wheel, dtype=float), np.array(truth, dtype=float)
    v = np.interp(W[:, 0], T[:, 0], T[:, 1])
    climb = -np.sin(np.interp(W[:, 0], T[:, 0], T[:, 2])) * np.where(W[:, 1] < 0.0, -1.0, 1.0)
    mv = v > 0.2
    if mv.sum() < 2:
        return None
    A = np.column_stack([v[mv], climb[mv] * v[mv]])
    (s, c), *_ = np.linalg.lstsq(A, np.abs(W[mv, 1]) - v[mv], rcond=None)
    return float(s), float(c)


def replay(
    bag: str,
    flat: dict,
    dump: str | None = None,
    without_correlated_gnss: bool = False,
    oracle_wheel_scale: bool = False,
) -> dict:
    """The figures of one bag (see the module docstring); ``dump``: also write the truth, filter
    and odom rows to that ``.npz`` (for diagnosis)."""
    add_fix = wheel_scale.add_fix
    try:
        return _replay(bag, flat, dump, without_correlated_gnss, oracle_wheel_scale)
    finally:
        wheel_scale.add_fix = add_fix  # the oracle's wrapper must not outlive its bag


def _replay(bag: str, flat: dict, dump: str | None, without_correlated_gnss: bool, oracle: bool) -> dict:
    from sensor_fusion.bag.io import read_messages

    scen = scenario_from_bag(bag)
    if scen is not None:
        d = scen["config"]["gps"]["datum"]
        flat = {**flat, "ego.datum": (d["lat_deg"], d["lon_deg"], d["alt_m"])}
    cfg = from_flat(flat)
    cal = calibration_from_bag(bag) or load_calibration(resolve_calibration_path(cfg))

    def T(frame: str) -> np.ndarray:
        return cal.T_base_from(frame) if cal.has_frame(frame) else np.eye(4)

    est = EgoEstimator(cfg.ego, T(cfg.imu.frame), T(cfg.gps.frame))
    src = EgoSource(None, cfg.fixed_frame, cfg.base_frame, cal, max_extrapolation_ns=0, gap_coast_ns=0)
    src._T_base_wheel = T(cfg.wheel_odom.frame)
    specs = {s.topic: s for s in input_specs(cfg) if not s.camera_info}
    specs = {t: s for t, s in specs.items() if s.sensor in ("imu", "gps", "wheel_odom", "gps_velocity")}
    innov, truth, poses, odom_rows, moving_from = [], [], [], [], None
    multipath: dict[int, bool] = {}  # fix stamp -> inside a generated multipath jump
    gate_log: dict[int, bool] = {}  # fix stamp -> fused (first processing)
    gps_update = est._updater.gps  # wrapped to see which fixes the gate took (diagnostic only)

    def logged_gps(s, m):
        ok = gps_update(s, m)
        if m.first:
            gate_log[m.stamp_ns] = ok
        return ok

    est._updater.gps = logged_gps
    odom = OdomFrame(int(cfg.ego.imu_gap_reset_s * 1e9))
    true_sc = true_wheel_scale(bag, cfg.wheel_odom.topic) if oracle else None
    wheel_rows, truth_rows = [], []  # for the true wheel scale of a generated bag (fit_wheel_scale)
    if oracle:
        if true_sc is None:
            raise SystemExit(f"{bag}: no wheel and truth topics to regress the wheel scale from")
        fit_fix = wheel_scale.add_fix

        def oracle_fix(s, *args, **kwargs):  # the fit runs, then the truth overwrites it
            fit_fix(s, *args, **kwargs)
            if s.wheel_scale is not None:
                s.wheel_scale = replace(
                    s.wheel_scale, s=true_sc[0], c=true_sc[1], var=1e-6, var_c=1e-4, cov_sc=0.0
                )

        wheel_scale.add_fix = oracle_fix
    gnss_errors = correlated_errors(bag) if without_correlated_gnss else {}
    if without_correlated_gnss and not gnss_errors:
        raise SystemExit(f"{bag}: no {GPS_ERROR} (not a generated bag with correlated GNSS errors)")
    for topic, _mt, _t, msg in read_messages(bag, [*specs, TRUTH, MULTIPATH]):
        if topic == MULTIPATH:
            st = stamp_of(msg)
            multipath[st] = msg.vector.x != 0.0 or msg.vector.y != 0.0
            continue
        if topic == TRUTH:
            truth_rows.append(_truth_motion(msg))
            p, tw = msg.pose.pose, msg.twist.twist.linear
            t_ns = stamp_of(msg)
            q = p.orientation
            truth.append((t_ns, p.position.x, p.position.y, quat_to_yaw(np.array([q.x, q.y, q.z, q.w]))))
            if moving_from is None and math.hypot(tw.x, tw.y) > 0.1:
                moving_from = t_ns
            continue
        spec = specs[topic]
        try:
            item = spec.decode(msg)
        except ValueError:
            continue
        if spec.sensor == "imu":
            est.add_imu(item)
            if est.initialized:
                pose = est.latest()
                row = (pose.stamp_ns, *pose.position[:2], pose.yaw, est.yaw_aligned)
                if est.yaw_aligned and (not poses or pose.stamp_ns > poses[-1][0]):
                    o = odom.update(pose)  # REP-105 odom, as the node integrates it (ego/odom.py)
                    odom_rows.append((pose.stamp_ns, *o.odom_position[:2], pose.yaw - o.map_odom_yaw))
                poses.append(row)
        elif spec.sensor == "gps":
            if item.stamp_ns in gnss_errors:
                remove_error(item, gnss_errors[item.stamp_ns])
            if est.initialized and item.status >= 0:
                _, _, y = est.gps_matrices(item)
                innov.append(float(np.hypot(y[0], y[1])))
            est.add_gps(item)
        elif spec.sensor == "wheel_odom":
            wheel_rows.append((stamp_of(msg), msg.twist.twist.linear.x))
            v, cov = src.wheel_to_base(item)
            est.add_wheel_odometry(item.stamp_ns, v, cov)
        else:
            est.add_gnss_velocity(item.stamp_ns, item.velocity, item.covariance)
    P = np.array(poses, dtype=float).reshape(-1, 5)
    if dump:
        np.savez(dump, truth=np.array(truth, float), poses=P, odom=np.array(odom_rows, float))
    c = est.counters
    out = {
        "bag": Path(bag).name,
        "fixes": c["gps_accepted"] + c["gps_rejected_gate"],
        "gated": c["gps_rejected_gate"],
        "reinit": c["gps_reinit"] + c["resets"],
        "innov_p50_m": float(np.percentile(innov, 50)) if innov else None,
        "innov_p95_m": float(np.percentile(innov, 95)) if innov else None,
        "innov_max_m": float(np.max(innov)) if innov else None,
        "multipath_fixes": sum(multipath.values()) if multipath else None,
        "multipath_gated": sum(1 for t, ok in gate_log.items() if multipath.get(t) and not ok)
        if multipath
        else None,
        "gated_outside_multipath": sum(1 for t, ok in gate_log.items() if not ok and not multipath.get(t))
        if multipath
        else None,
        "multipath_returns": c["gps_multipath_returns"],
        "aligned_by": {k: c[k] for k in ("yaw_aligned", "yaw_aligned_track", "yaw_aligned_gnss_velocity")},
    }
    if true_sc is None and scen is not None:
        true_sc = fit_wheel_scale(wheel_rows, truth_rows)
    if true_sc is not None:
        ws = est._s.wheel_scale if est._s is not None else None
        out["wheel_true_s"], out["wheel_true_c"] = true_sc
        out["wheel_s"] = None if ws is None else ws.s
        out["wheel_c"] = None if ws is None else ws.c
    first_aligned = P[P[:, 4] > 0, 0].min() if (P[:, 4] > 0).any() else None
    t0 = moving_from
    if t0 is None and len(P):  # no truth: the first wheel motion is not tracked here; from the start
        t0 = P[0, 0]
    out["heading_after_motion_s"] = None if first_aligned is None else (first_aligned - t0) / 1e9
    if truth and len(P):
        Tt = np.array(truth, dtype=float)
        k = np.clip(np.searchsorted(Tt[:, 0], P[:, 0]), 0, len(Tt) - 1)
        ok = (np.abs(Tt[k, 0] - P[:, 0]) < 30e6) & (P[:, 4] > 0)
        ey = wrap_angle(P[ok, 3] - Tt[k[ok], 3])
        ep = np.hypot(P[ok, 1] - Tt[k[ok], 1], P[ok, 2] - Tt[k[ok], 2])
        out["yaw_rmse_deg"] = float(np.degrees(np.sqrt(np.mean(ey**2)))) if ok.any() else None
        out["yaw_max_deg"] = float(np.degrees(np.abs(ey).max())) if ok.any() else None
        out["pos_rmse_m"] = float(np.sqrt(np.mean(ep**2))) if ok.any() else None
        out["coverage"] = float(ok.sum() / max(1, np.sum(P[:, 0] >= (t0 or 0))))
        tp = EgoPoses(Tt[:, 0], Tt[:, 1], Tt[:, 2], Tt[:, 3])
        A = P[P[:, 4] > 0]
        if len(A) > 1:
            out.update(relative_pose_errors(tp, EgoPoses(A[:, 0], A[:, 1], A[:, 2], A[:, 3]), prefix="map"))
            O = np.array(odom_rows, dtype=float)
            out.update(relative_pose_errors(tp, EgoPoses(O[:, 0], O[:, 1], O[:, 2], O[:, 3]), prefix="odom"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bags", nargs="+")
    ap.add_argument("--config", default=None, help="node params YAML (e.g. config/robot.yaml)")
    ap.add_argument("--set", nargs="*", default=[], help="flat overrides key=value (YAML values)")
    ap.add_argument("--dump", default=None, help="directory: write <bag>.npz (truth, filter, odom rows)")
    ap.add_argument(
        "--without-correlated-gnss",
        action="store_true",
        help="generated bags: take the generator's Gauss-Markov error out of each fix (diagnostic)",
    )
    ap.add_argument(
        "--oracle-wheel-scale",
        action="store_true",
        help="generated bags: the wheels' true scale and slope slip in place of the filter's (diagnostic)",
    )
    a = ap.parse_args()
    import yaml

    flat = load_params_file(a.config) if a.config else {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        flat[k] = yaml.safe_load(v)
    if a.dump:
        Path(a.dump).mkdir(parents=True, exist_ok=True)
    for bag in a.bags:
        dump = str(Path(a.dump) / f"{Path(bag).name}.npz") if a.dump else None
        print(json.dumps(replay(bag, flat, dump, a.without_correlated_gnss, a.oracle_wheel_scale)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
