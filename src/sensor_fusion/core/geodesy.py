"""WGS84 geodetic <-> ECEF <-> local ENU conversions (vectorised, ROS-free).

Exact via ECEF: the inverse uses Vermeille's (2004) closed form, so a round
trip is limited by float64 only (sub-micrometre near the Earth's surface).
Angles are degrees at the API (as in ``sensor_msgs/NavSatFix``), heights are
metres above the WGS84 ellipsoid; ENU is east, north, up in metres about a
datum, which is the ``map``/``odom`` world frame of the simulator and of the
ego filter.
"""

from __future__ import annotations

import numpy as np

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_F = 1.0 / 298.257223563  # flattening
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
STANDARD_GRAVITY = 9.80665  # m/s^2, what the simulated IMU reports at rest

ArrayLike = np.ndarray | float


def geodetic_to_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt: ArrayLike) -> tuple[np.ndarray, ...]:
    """Latitude/longitude (deg) and ellipsoidal height (m) to ECEF x, y, z (m)."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    h = np.asarray(alt, dtype=np.float64)
    sl, cl = np.sin(lat), np.cos(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    x = (n + h) * cl * np.cos(lon)
    y = (n + h) * cl * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h) * sl
    return x, y, z


def ecef_to_geodetic(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> tuple[np.ndarray, ...]:
    """ECEF (m) to latitude/longitude (deg) and ellipsoidal height (m), closed form.

    Vermeille, "Direct transformation from geocentric coordinates to geodetic
    coordinates", J. Geodesy 76 (2002/2004); valid everywhere outside a small
    region around the Earth's centre.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    e2, e4 = WGS84_E2, WGS84_E2 * WGS84_E2
    rho2 = x * x + y * y
    rho = np.sqrt(rho2)
    p = rho2 / (WGS84_A * WGS84_A)
    q = (1.0 - e2) / (WGS84_A * WGS84_A) * z * z
    r = (p + q - e4) / 6.0
    s = e4 * p * q / (4.0 * r**3)
    t = np.cbrt(1.0 + s + np.sqrt(s * (2.0 + s)))
    u = r * (1.0 + t + 1.0 / t)
    v = np.sqrt(u * u + e4 * q)
    w = e2 * (u + v - q) / (2.0 * v)
    k = np.sqrt(u + v + w * w) - w
    d = k * rho / (k + e2)
    dz = np.sqrt(d * d + z * z)
    lat = 2.0 * np.arctan2(z, d + dz)
    lon = np.arctan2(y, x)
    h = (k + e2 - 1.0) / k * dz
    return np.degrees(lat), np.degrees(lon), h


def _enu_rotation(lat0_deg: float, lon0_deg: float) -> np.ndarray:
    """Rows are the east, north, up unit vectors in ECEF at the datum."""
    lat, lon = np.radians(lat0_deg), np.radians(lon0_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def geodetic_to_enu(
    lat_deg: ArrayLike, lon_deg: ArrayLike, alt: ArrayLike, lat0: float, lon0: float, alt0: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodetic (deg, deg, m) to ENU (m) about the datum (lat0, lon0, alt0)."""
    x, y, z = geodetic_to_ecef(lat_deg, lon_deg, alt)
    x0, y0, z0 = geodetic_to_ecef(lat0, lon0, alt0)
    d = np.stack([x - x0, y - y0, z - z0], axis=-1)
    enu = d @ _enu_rotation(lat0, lon0).T
    return enu[..., 0], enu[..., 1], enu[..., 2]


def enu_to_geodetic(
    e: ArrayLike, n: ArrayLike, u: ArrayLike, lat0: float, lon0: float, alt0: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ENU (m) about the datum to geodetic latitude, longitude (deg) and height (m)."""
    enu = np.stack(np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (e, n, u))), axis=-1)
    d = enu @ _enu_rotation(lat0, lon0)
    x0, y0, z0 = geodetic_to_ecef(lat0, lon0, alt0)
    return ecef_to_geodetic(d[..., 0] + x0, d[..., 1] + y0, d[..., 2] + z0)


def enu_covariance_to_ecef(cov_enu: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Rotate (..., 3, 3) ENU covariances into ECEF axes (for fusing in ECEF)."""
    R = _enu_rotation(lat0, lon0)
    return R.T @ cov_enu @ R
