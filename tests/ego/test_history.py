"""History, rollback and replay (ego/history.py).

A toy filter whose operations do not commute (so any change of order shows in the result)
drives :class:`History` directly; the estimator-level tests then check late and early GPS
fixes against in-order processing on the simulated drive.
"""

from __future__ import annotations

import numpy as np

from sensor_fusion.core.types import GpsFix
from sensor_fusion.ego.history import History
from sensor_fusion.ego.state import FilterState, Measurement
from tests.ego.test_estimator import NS, initialised_estimator, run_filter
from tests.ego.test_state import make_state

T0 = 1_000 * NS
STEP = 10_000_000  # 100 Hz IMU
COUNTERS = (
    "gps_queued",
    "gps_queue_overflow",
    "gps_rollbacks",
    "gps_late_dropped",
    "vel_rejected",
    "imu_yaw_rejected",
)


class Toy:
    """Scalar-ish filter: propagation grows with the state, fusion averages towards z."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def propagate(
        self, s: FilterState, t: int, w: np.ndarray, a: np.ndarray, sample_dt_ns: int | None = None
    ) -> None:
        dt = (t - s.t_ns) / NS
        s.p = s.p + dt * (w + 0.1 * s.p)
        s.P = s.P * (1.0 + dt)
        s.t_ns, s.w_meas, s.a_meas = t, w, a
        self.log.append(("prop", t, w.copy()))

    def constrain(self, s: FilterState, t: int) -> None:
        s.p = s.p * 0.999
        self.log.append(("con", t))

    def fuse(self, s: FilterState, m: Measurement) -> None:
        s.p = 0.7 * s.p + 0.3 * m.z
        s.P = 0.9 * s.P
        m.result = True
        self.log.append(("fuse", m.stamp_ns, m.first, s.t_ns))


def make_history(window_s: float = 1.0, max_pending: int = 50) -> tuple[History, Toy, dict[str, int]]:
    toy, counters = Toy(), dict.fromkeys(COUNTERS, 0)
    h = History(int(window_s * NS), counters, toy.propagate, toy.constrain, toy.fuse, max_pending)
    h.start(make_state(t_ns=T0, P=np.eye(15)))
    return h, toy, counters


def imu(k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """IMU sample k (k >= 1) after T0."""
    return T0 + k * STEP, np.array([np.sin(0.1 * k), np.cos(0.07 * k), 0.01 * k]), np.zeros(3)


def meas(stamp_ns: int, value: float, kind: str = "gps") -> Measurement:
    return Measurement(stamp_ns, np.array([value, -value, 2.0 * value]), np.eye(3), kind=kind)


def test_late_measurements_replay_to_the_in_order_result():
    """Two measurements (one at an IMU stamp, one between two) fused in order, or arriving
    30 and 50 steps late (rollback + replay): the same state, bit for bit, and the same
    snapshots; the second rollback replays the first one as not-first (counted once)."""
    stamps = (T0 + 40 * STEP, T0 + 60 * STEP + 3_000_000)
    a, _, ca = make_history()
    for k in range(1, 101):
        a.step(*imu(k))
        for j, st in enumerate(stamps):
            if k == (40, 60)[j]:
                assert a.add(meas(st, 5.0 + j))
    b, toy_b, cb = make_history()
    for k in range(1, 101):
        b.step(*imu(k))
        if k == 90:
            assert b.add(meas(stamps[1], 6.0)) and b.add(meas(stamps[0], 5.0))  # newest first
    assert ca["gps_queued"] == 1 and ca["gps_rollbacks"] == 0  # the second waited for the IMU
    assert cb["gps_rollbacks"] == 2 and cb["gps_queued"] == 0
    for k in ("p", "v", "q", "P", "w_meas"):
        np.testing.assert_array_equal(getattr(b.state, k), getattr(a.state, k))
    assert b.state.t_ns == a.state.t_ns == T0 + 100 * STEP
    for k in range(10, 100, 7):
        sa, sb = a.around(T0 + k * STEP), b.around(T0 + k * STEP)
        np.testing.assert_array_equal(sb[0].p, sa[0].p)
    fused = [e for e in toy_b.log if e[0] == "fuse"]
    assert [(e[1], e[2]) for e in fused] == [(stamps[1], True), (stamps[0], True), (stamps[1], False)]
    # a measurement that changes nothing would leave the result: this one must not
    c, _, _ = make_history()
    for k in range(1, 101):
        c.step(*imu(k))
    assert not np.array_equal(c.state.p, a.state.p)


def test_order_within_a_step():
    """Queued measurements stamped before the step are fused at their own stamps (IMU
    interpolated), then the propagation to the step, the constraints, and those stamped at it."""
    h, toy, _ = make_history()
    h.step(*imu(1))
    t2, w2, _ = imu(2)
    mid = T0 + STEP + 4_000_000
    assert h.add(meas(t2, 1.0)) and h.add(meas(mid, 2.0))
    toy.log.clear()
    h.step(*imu(2))
    assert [e[:2] for e in toy.log] == [("prop", mid), ("fuse", mid), ("prop", t2), ("con", t2), ("fuse", t2)]
    w1 = imu(1)[1]
    np.testing.assert_allclose(toy.log[0][2], w1 + 0.4 * (w2 - w1), rtol=1e-15)
    assert toy.log[1][3] == mid  # fused at its stamp


def test_too_old_dropped_and_counted_by_kind():
    h, toy, counters = make_history(window_s=0.2)
    for k in range(1, 60):
        h.step(*imu(k))
    before = h.state.copy()
    n = len(toy.log)
    assert not h.add(meas(T0 + 10 * STEP, 1.0))
    assert not h.add(meas(T0 + 11 * STEP, 1.0, kind="vel"))
    assert not h.add(meas(T0 + 12 * STEP, 1.0, kind="yaw"))
    assert (counters["gps_late_dropped"], counters["vel_rejected"], counters["imu_yaw_rejected"]) == (1, 1, 1)
    assert len(toy.log) == n
    np.testing.assert_array_equal(h.state.p, before.p)
    t_old, t_new = h.span_ns
    assert t_new == T0 + 59 * STEP and t_new - t_old <= 0.2 * NS  # trimmed to the window
    assert h.around(T0 + 10 * STEP) is None


def test_queue_keeps_the_newest_when_the_imu_is_silent():
    h, _, counters = make_history(max_pending=3)
    for k in (5, 1, 4, 2, 3):  # stamped ahead of the filter, out of order
        assert h.add(meas(T0 + k * STEP, float(k)))
    assert counters["gps_queued"] == 5 and counters["gps_queue_overflow"] == 2
    assert [m.stamp_ns for m in h.pending] == [T0 + k * STEP for k in (3, 4, 5)]


def test_around_brackets_the_snapshots():
    h, _, _ = make_history()
    for k in range(1, 11):
        h.step(*imu(k))
    a, b = h.around(T0 + 5 * STEP)
    assert a.t_ns == T0 + 5 * STEP and b is None
    a, b = h.around(T0 + 5 * STEP + 1)
    assert a.t_ns == T0 + 5 * STEP and b.t_ns == T0 + 6 * STEP
    assert h.around(T0 - 1) is None


def test_late_fixes_equal_in_order(drive, drive_run):
    late = run_filter(drive, gps_delay=20)  # every fix 200 ms late
    est = late.est
    assert est.counters["gps_rollbacks"] == len(drive.gps) - 2  # the first is on time, the last never arrives
    assert est.counters["gps_late_dropped"] == 0
    ref = drive_run.est.pose_at(drive.imu[-21].stamp_ns)
    got = est.pose_at(drive.imu[-21].stamp_ns)
    np.testing.assert_allclose(got.position, ref.position, atol=1e-6)
    np.testing.assert_allclose(got.quaternion, ref.quaternion, atol=1e-8)
    np.testing.assert_allclose(got.pose_cov, ref.pose_cov, rtol=1e-6, atol=1e-12)
    # A single late fix vs the same fix in order: identical at the end.
    j = 150
    i_fix = int(drive.gps_idx[j])
    stop = i_fix + 300
    a = run_filter(drive, drop=lambda k: k > j, stop=stop)
    b = run_filter(drive, drop=lambda k: k >= j, extra={i_fix + 20: [drive.gps[j]]}, stop=stop)
    pa, pb = a.est.latest(), b.est.latest()
    np.testing.assert_allclose(pb.position, pa.position, atol=1e-6)
    np.testing.assert_allclose(pb.pose_cov, pa.pose_cov, rtol=1e-6, atol=1e-12)
    # ... and different from not having it
    c = run_filter(drive, drop=lambda k: k >= j, stop=stop)
    assert np.linalg.norm(c.est.latest().position - pa.position) > 1e-3
    # Too old (2 s > history window) -> dropped, state untouched.
    d = run_filter(drive, drop=lambda k: k >= j, extra={i_fix + 200: [drive.gps[j]]}, stop=stop)
    assert d.est.counters["gps_late_dropped"] == 1
    np.testing.assert_allclose(d.est.latest().position, c.est.latest().position, atol=1e-9)


def test_future_fix_is_fused_at_its_stamp(drive, drive_run):
    # Fixes arriving before the IMU sample of the same stamp wait for it: same result.
    early = run_filter(drive, gps_delay=-1)
    assert early.est.counters["gps_queued"] == len(drive.gps) - 1
    np.testing.assert_allclose(early.est.latest().position, drive_run.est.latest().position, atol=1e-6)
    # A fix between two IMU samples is fused with interpolated IMU readings, whichever of the fix
    # and the IMU sample after it arrives first.
    est, i = initialised_estimator(drive, 1500)
    t_mid = (drive.imu[i - 1].stamp_ns + drive.imu[i].stamp_ns) // 2
    fx = drive.gps[int(np.searchsorted(drive.gps_idx, i))]
    fx = GpsFix(t_mid, "gps", fx.latitude, fx.longitude, fx.altitude, fx.covariance)
    queued0, rollbacks0 = est.counters["gps_queued"], est.counters["gps_rollbacks"]
    early, _ = initialised_estimator(drive, 1500)
    assert early.add_gps(fx)  # ahead of the IMU: waits for the sample after it
    early.add_imu(drive.imu[i])
    late, _ = initialised_estimator(drive, 1500)
    late.add_imu(drive.imu[i])
    assert late.add_gps(fx)  # half a sample late: rollback and replay
    assert early.counters["gps_queued"] == queued0 + 1
    assert late.counters["gps_rollbacks"] == rollbacks0 + 1
    np.testing.assert_allclose(late.latest().position, early.latest().position, atol=1e-9)
    np.testing.assert_allclose(late.latest().pose_cov, early.latest().pose_cov, rtol=1e-9, atol=1e-15)
    est.add_imu(drive.imu[i])  # the same without the fix: the fix did move the state
    assert np.linalg.norm(est.latest().position - early.latest().position) > 1e-4
