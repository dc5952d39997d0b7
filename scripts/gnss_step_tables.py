"""Recompute the Monte Carlo tables of ``ego/gnss_steps.py``: the median and sample weight of the
heading-free step statistic against the distance driven in sigmas, and the fit of the flag
bound's widening for a noise learnt as a median of few steps. About a minute.

    .venv/bin/python scripts/gnss_step_tables.py
"""

from __future__ import annotations

import numpy as np

from sensor_fusion.ego.gnss_steps import _RHO, CHI2, median_factor, sample_weight


def tables(rng: np.random.Generator, draws: int = 4_000_000, per: int = 50) -> None:
    meds, relvars = [], []
    for rho in _RHO:
        n = rng.normal(size=(draws, 2))
        r2 = (np.hypot(rho + n[:, 0], n[:, 1]) - rho) ** 2
        m = float(np.median(r2))
        v = np.median((r2 / m).reshape(-1, per), axis=1)
        meds.append(m)
        relvars.append(v.var() * per)
    print("median:", [round(m, 4) for m in meds])
    print("weight:", [round(relvars[0] / r, 3) for r in relvars])


def bound_fit(rng: np.random.Generator, reps: int = 200_000) -> None:
    pts = []
    for n in (10, 14, 20, 30, 50, 100):
        alternate = np.where(np.arange(n) % 2 == 0, 0.0, 1.0)
        mixes = (np.zeros(n), np.full(n, 3.0), alternate, rng.uniform(0, 1.5, n))
        for rho in mixes:
            d = rng.normal(size=(reps, n, 2))
            r2 = (np.hypot(rho + d[..., 0], d[..., 1]) - rho) ** 2
            var = np.median(r2 / median_factor(rho), axis=1)
            q = np.quantile(rng.chisquare(2, reps) / var, 0.999)
            pts.append((float(sample_weight(rho).sum()), q / CHI2))
    p = np.array(pts)
    a = np.stack([1 / p[:, 0], 1 / p[:, 0] ** 2], 1)
    coef, *_ = np.linalg.lstsq(a, p[:, 1] - 1, rcond=None)
    print("bound factor 1 + A/n_eff + B/n_eff^2: A, B =", np.round(coef, 2))


if __name__ == "__main__":
    g = np.random.default_rng(2)
    tables(g)
    bound_fit(g)
