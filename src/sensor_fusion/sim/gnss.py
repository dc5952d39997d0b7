"""Realistic GNSS errors: Gauss-Markov drift, multipath jumps, reported covariance, Doppler, RTK.

Why: a single-frequency receiver's position error is not white. Residual satellite clock and
ephemeris errors and the ionosphere and troposphere change over minutes to tens of minutes, code
multipath over seconds to minutes (Groves, *Principles of GNSS, Inertial, and Multisensor
Integrated Navigation Systems*, 2nd ed., 2013, ch. 9), so consecutive fixes share most of their
error and no filter can average it away. The model per axis is

    e_k = g_k + w_k + m_k

* ``g``: first-order Gauss-Markov, stationary std ``gm_*_std_m``, time constant ``gm_time_constant_s``
  (discretised exactly: ``g_k = phi g_{k-1} + sqrt(1 - phi^2) sigma n_k``, ``phi = exp(-dt / tau)``);
  the *correlated part*, recorded in the truth bag (``gps_correlated_rmse_m`` is what an estimator
  cannot beat);
* ``w``: white receiver noise ``white_*_std_m`` (code tracking noise after carrier smoothing);
* ``m``: multipath jumps: events start at a rate ``multipath_rate_hz`` (open sky) plus what the
  world's :class:`MultipathSource` says near buildings, last an exponential time of mean
  ``multipath_duration_s`` and offset the horizontal fix by a random direction and a magnitude in
  ``multipath_jump_m`` x [0.5, 1.5].

Defaults (``scenarios.BASE['gps']``): per-axis sigma 1.0 m horizontal / 2.0 m vertical for the
correlated part gives ~1.2 m CEP with the 0.2 m white part, between a u-blox NEO-M9N's 1.5 m CEP
(SBAS) and what such receivers reach in open sky; tau 60 s (tens of seconds to minutes, above).
Receivers report an accuracy (u-blox hAcc) from their own error model, often optimistic and blind
to multipath: the reported sigma is ``reported_std_factor`` x the model's stationary sigma
(default 0.8: 20 % optimistic), unchanged during a jump.

RTK (``rtk: fixed | float``): carrier-phase solutions with the ``rtk_*`` sigmas (fixed: 1 cm + 1 cm
white, ZED-F9P class; float: 0.3 m correlated), status ``STATUS_GBAS_FIX`` as ROS GNSS drivers
report both; in ``fixed`` mode a multipath event loses the fix and the solution falls back to float
for its duration (reported covariance float-level), which is what happens near buildings.

Doppler velocity (``velocity: true``): the antenna's ENU velocity plus white noise
``velocity_std_mps`` (u-blox: 0.05 m/s speed accuracy), published as
``geometry_msgs/TwistWithCovarianceStamped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

NAVSAT_STATUS_FIX = 0
NAVSAT_STATUS_GBAS_FIX = 2


class MultipathSource(Protocol):
    """Where multipath happens: the static world (buildings) answers per ground position."""

    def multipath_rate_hz(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world positions, m -> (N,) rate of multipath events starting there, 1/s."""
        ...


class FacadeMultipath:
    """Multipath near building walls: rate ``peak_rate_hz * exp(-d / range_m)`` at distance ``d``
    from the nearest facade segment ((M, 2, 2) ground-plane segments, m): reflections off a wall
    reach the antenna when it is close to it (and the wall blocks the direct signal)."""

    def __init__(self, segments: np.ndarray, peak_rate_hz: float = 0.1, range_m: float = 10.0) -> None:
        self.segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)
        self.peak_rate_hz = float(peak_rate_hz)
        self.range_m = float(range_m)

    def distance(self, xy: np.ndarray) -> np.ndarray:
        p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if not len(self.segments):
            return np.full(len(p), np.inf)
        a, b = self.segments[:, 0], self.segments[:, 1]  # (M, 2)
        ab = b - a
        L2 = np.maximum(np.sum(ab**2, axis=1), 1e-12)
        t = np.clip(np.einsum("nmk,mk->nm", p[:, None, :] - a[None], ab) / L2, 0.0, 1.0)
        closest = a[None] + t[..., None] * ab[None]
        return np.sqrt(np.min(np.sum((p[:, None, :] - closest) ** 2, axis=2), axis=1))

    def multipath_rate_hz(self, xy: np.ndarray) -> np.ndarray:
        return self.peak_rate_hz * np.exp(-self.distance(xy) / self.range_m)


def multipath_source(world: object) -> MultipathSource | None:
    """The world's multipath: its own ``multipath_source`` if it has one, a :class:`FacadeMultipath`
    from ``facade_segments`` ((M, 2, 2) building walls, m) if it has those, else None (open sky)."""
    src = getattr(world, "multipath_source", None)
    if src is not None:
        return src() if callable(src) else src
    seg = getattr(world, "facade_segments", None)
    if seg is None:
        return None
    seg = seg() if callable(seg) else seg
    return FacadeMultipath(np.asarray(seg)) if len(seg) else None


@dataclass
class GnssErrors:
    """Per-fix errors (ENU, m) and what the receiver reports."""

    total: np.ndarray  # (N, 3)
    correlated: np.ndarray  # (N, 3) Gauss-Markov part (RTK: the solution's own)
    multipath: np.ndarray  # (N, 3) jump offsets, 0 outside events
    in_multipath: np.ndarray  # (N,) bool
    reported_std: np.ndarray  # (N, 3) per-axis sigma the receiver reports
    status: np.ndarray  # (N,) int8 NavSatStatus


def gauss_markov(
    rng: np.random.Generator, dt: np.ndarray, tau: float, sigma: np.ndarray, n: int
) -> np.ndarray:
    """(n, 3) first-order Gauss-Markov sequence, stationary std ``sigma`` (3,), steps ``dt`` (n-1,) s."""
    w = rng.standard_normal((n, 3))
    if tau <= 0 or n < 2:
        return w * sigma
    phi = np.exp(-np.asarray(dt, dtype=np.float64) / tau)
    q = np.sqrt(1.0 - phi**2)
    out = np.empty((n, 3))
    out[0] = w[0]
    for k in range(1, n):  # a linear recursion over at most ~10 Hz x hours of fixes
        out[k] = phi[k - 1] * out[k - 1] + q[k - 1] * w[k]
    return out * sigma


def multipath_events(
    rng: np.random.Generator, t_s: np.ndarray, rate_hz: np.ndarray, mean_duration_s: float, jump_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """((N, 3) offsets, (N,) bool) of multipath jumps at fix times ``t_s`` with start rate ``rate_hz``
    (N,) 1/s: an event starts at fix k with probability ``1 - exp(-rate dt)`` and holds its offset for
    an exponential duration (at least that fix)."""
    n = len(t_s)
    dt = np.diff(t_s, prepend=t_s[0] - (t_s[1] - t_s[0] if n > 1 else 1.0))
    u = rng.random(n)
    dur = rng.exponential(max(mean_duration_s, 1e-9), n)
    ang = rng.uniform(0.0, 2.0 * np.pi, n)
    mag = jump_m * rng.uniform(0.5, 1.5, n)
    start = u < 1.0 - np.exp(-np.maximum(rate_hz, 0.0) * dt)
    off = np.zeros((n, 3))
    active = np.zeros(n, dtype=bool)
    end = -np.inf
    cur = np.zeros(3)
    for k in range(n):  # events do not overlap: a new one can start only after the last ended
        if t_s[k] >= end and start[k]:
            end = t_s[k] + dur[k]
            cur = np.array([mag[k] * np.cos(ang[k]), mag[k] * np.sin(ang[k]), 0.0])
            active[k] = True
        elif t_s[k] < end:
            active[k] = True
        if active[k]:
            off[k] = cur
    return off, active


def gnss_errors(
    c: Mapping,
    stamps_ns: np.ndarray,
    xy: np.ndarray,
    rng: np.random.Generator,
    source: MultipathSource | None,
) -> GnssErrors:
    """The realistic error model (module docstring) for fixes at ``stamps_ns`` at positions ``xy``."""
    st = np.asarray(stamps_ns, dtype=np.int64)
    n = len(st)
    t = (st - (st[0] if n else 0)).astype(np.float64) * 1e-9
    dt = np.diff(t)
    rtk = str(c["rtk"])
    tau = float(c["gm_time_constant_s"])
    gm_sig = np.array([c["gm_horizontal_std_m"]] * 2 + [c["gm_vertical_std_m"]], dtype=np.float64)
    wh_sig = np.array([c["white_horizontal_std_m"]] * 2 + [c["white_vertical_std_m"]], dtype=np.float64)
    if rtk == "fixed":
        gm_sig = np.array([c["rtk_fixed_std_m"]] * 2 + [2.0 * c["rtk_fixed_std_m"]], dtype=np.float64)
        wh_sig = 0.5 * gm_sig
    elif rtk == "float":
        gm_sig = np.array([c["rtk_float_std_m"]] * 2 + [2.0 * c["rtk_float_std_m"]], dtype=np.float64)
    # every draw happens for every fix, in a fixed order, so options never shift the others' noise
    g = gauss_markov(rng, dt, tau, gm_sig, n)
    w = rng.standard_normal((n, 3)) * wh_sig
    rate = np.full(n, float(c["multipath_rate_hz"]))
    if source is not None and n:
        rate = rate + np.asarray(source.multipath_rate_hz(np.asarray(xy)[:, :2]), dtype=np.float64)
    mp, active = multipath_events(
        rng, t, rate, float(c["multipath_duration_s"]), float(c["multipath_jump_m"])
    )
    fl_sig = np.array([c["rtk_float_std_m"]] * 2 + [2.0 * c["rtk_float_std_m"]], dtype=np.float64)
    g_float = gauss_markov(rng, dt, tau, fl_sig, n)
    stat_sig = np.sqrt(gm_sig**2 + wh_sig**2)
    rep = np.broadcast_to(float(c["reported_std_factor"]) * stat_sig, (n, 3)).copy()
    status = np.full(n, NAVSAT_STATUS_GBAS_FIX if rtk != "none" else NAVSAT_STATUS_FIX, dtype=np.int8)
    if rtk == "fixed":
        # multipath near walls breaks the integer fix: the solution is float for the event
        g = np.where(active[:, None], g_float, g)
        rep[active] = float(c["reported_std_factor"]) * fl_sig
        mp = np.zeros_like(mp)
    return GnssErrors(g + w + mp, g, mp, active, rep, status)
