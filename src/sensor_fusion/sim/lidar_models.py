"""Beam tables and return physics of common LiDARs, selected by the scenario key ``lidar.model``.

``ideal`` (the default) is the generator's original sensor: beams spread uniformly over
``vfov_deg``, a fixed ``dropout_prob``, intensity ``reflectivity x (0.5 + 0.5 cos incidence)``.
It stays the default so that old bags and tables reproduce.

A named model replaces the block's geometry and noise with its table (the keys below) and
turns on the return physics of a real time-of-flight receiver:

* received power ~ reflectivity x cos(incidence) / range^2 (Lambertian target), so the range
  at which a target is still detected grows as ``sqrt(reflectivity x cos incidence)``: a
  return at range ``r`` survives with probability ``1 / (1 + exp((r / R - 1.1) / 0.05))``
  where ``R = range_at_10pct_m x sqrt(reflectivity x cos incidence / 0.1)`` (about 0.9 at
  ``R``, the datasheets' "range at 10 % reflectivity, > 90 % detection probability", and 0.5
  at 1.1 R); dark asphalt at grazing incidence vanishes first, as on a real street;
* intensity ``255 x reflectivity x cos incidence`` (Lambertian, as calibrated-reflectivity
  outputs report) plus noise.

Sources (datasheet values; where a datasheet is silent the value is marked as an estimate):

* ``vlp16``: Velodyne VLP-16 (Puck) datasheet 63-9229 Rev-C: 16 channels, +-15 deg at 2 deg
  spacing, 100 m range, +-3 cm typical accuracy (taken as 1 sigma), 0.2 deg azimuth at 10 Hz.
  Range at 10 % reflectivity: not in the datasheet; 50 m is an estimate (the HDL-64E's
  pavement figure, a comparable receiver).
* ``hdl64e_kitti``: Velodyne HDL-64E S2 user manual / datasheet, the sensor of KITTI (Geiger et
  al., IJRR 2013: 64 beams, 26.9 deg vertical, +2 to -24.9 deg, 10 Hz, ~120 k points per
  sweep): upper block 32 lasers from +2.0 deg at 1/3 deg spacing, lower block 32 lasers from
  -8.83 deg at 1/2 deg spacing (per-unit calibration varies by a few tenths of a degree);
  1.33 M points/s -> ~2083 columns per sweep (0.1728 deg); "50 m for pavement (~10 %),
  120 m for cars and foliage"; < 2 cm accuracy (1 sigma).
* ``os1_128``: Ouster OS1-128 Rev 6 datasheet: 128 channels, 45 deg uniform vertical field
  (+-22.5 deg), 2048 x 10 Hz mode (0.176 deg), 120 m at 80 % and 45 m at 10 % reflectivity
  (> 90 % detection probability), precision +-0.7..5 cm (3 cm taken as 1 sigma), min range
  0.5 m (estimate; the datasheet lists 0.3 m to the window).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_HDL64_ELEV = tuple(
    round(float(v), 4)
    for v in np.r_[np.linspace(-8.83 - 31 * 0.5, -8.83, 32), np.linspace(2.0 - 31 / 3.0, 2.0, 32)]
)

LIDAR_MODELS: dict[str, dict[str, Any]] = {
    "vlp16": {
        "elevations_deg": tuple(float(e) for e in range(-15, 16, 2)),
        "rate_hz": 10.0,
        "azimuth_resolution_deg": 0.2,
        "max_range_m": 100.0,
        "min_range_m": 0.5,
        "range_noise_std_m": 0.03,
        "range_at_10pct_m": 50.0,
        "dropout_prob": 0.0,
    },
    "hdl64e_kitti": {
        "elevations_deg": _HDL64_ELEV,
        "rate_hz": 10.0,
        "azimuth_resolution_deg": 360.0 / 2083.0,
        "max_range_m": 120.0,
        "min_range_m": 0.9,
        "range_noise_std_m": 0.02,
        "range_at_10pct_m": 50.0,
        "dropout_prob": 0.0,
    },
    "os1_128": {
        "elevations_deg": tuple(round(float(v), 4) for v in np.linspace(-22.5, 22.5, 128)),
        "rate_hz": 10.0,
        "azimuth_resolution_deg": 360.0 / 2048.0,
        "max_range_m": 120.0,
        "min_range_m": 0.5,
        "range_noise_std_m": 0.03,
        "range_at_10pct_m": 45.0,
        "dropout_prob": 0.0,
    },
}

DETECT_EDGE = 1.1  # r / R at which half the returns survive
DETECT_WIDTH = 0.05  # logistic width in r / R (p ~ 0.9 at r = R)
REFERENCE_REFLECTIVITY = 0.1  # the datasheets' 10 % Lambertian target


def resolve_model(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with the named model's table applied (the table wins over the block's keys)."""
    name = cfg.get("model", "ideal")
    if name in (None, "ideal"):
        return dict(cfg)
    if name not in LIDAR_MODELS:
        raise ValueError(f"lidar cfg: model '{name}' is not one of {['ideal', *LIDAR_MODELS]}")
    table = LIDAR_MODELS[name]
    out = {**cfg, **table}
    out["beams"] = len(table["elevations_deg"])
    e = table["elevations_deg"]
    out["vfov_deg"] = (min(e), max(e))
    return out


def detection_probability(
    range_m: np.ndarray, reflectivity: np.ndarray, cos_incidence: np.ndarray, range_at_10pct_m: float
) -> np.ndarray:
    """Probability that a return survives (see the module docstring), vectorised."""
    power = np.clip(reflectivity * cos_incidence, 1e-6, None) / REFERENCE_REFLECTIVITY
    reach = range_at_10pct_m * np.sqrt(power)
    x = (range_m / reach - DETECT_EDGE) / DETECT_WIDTH
    return 1.0 / (1.0 + np.exp(np.clip(x, -50.0, 50.0)))


def physical_returns(
    xyz: np.ndarray,
    reflectivity: np.ndarray,
    cos_incidence: np.ndarray,
    range_at_10pct_m: float,
    intensity_noise_std: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Which returns a real receiver keeps (dropout by reflectivity, incidence and range) and their
    Lambertian intensity 0..255, for every return before the cut. Draws after the ideal model's
    draws, so the ideal model's stream is unchanged."""
    n = xyz.shape[0]
    cos_inc = np.abs(np.asarray(cos_incidence, np.float64))
    r = np.linalg.norm(xyz.astype(np.float64), axis=1)
    keep = rng.random(n) < detection_probability(r, reflectivity, cos_inc, range_at_10pct_m)
    v = reflectivity * cos_inc + intensity_noise_std * rng.standard_normal(n)
    return keep, np.clip(255.0 * v, 0.0, 255.0).astype(np.float32)
