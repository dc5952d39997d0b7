"""The ego-centred BEV grid and the LiDAR / radar rasters the network reads.

Cell ``(row, col)`` covers ``x in [x_min + row * res, ...)`` and ``y in [y_min + col * res, ...)``
in ``base_link`` (x forward, y left): rows run forward, columns run left. Rasterising is a
scatter over up to ~250k points per sweep, so it is a numba kernel (one pass, no temporaries);
the learned encoders in torch start from these hand-made per-cell statistics rather than from
raw points (a PointNet scatter would cost more on a 2-core CPU and export to ONNX less cleanly).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numba
import numpy as np

LIDAR_CHANNELS = 8  # 5 height-slice counts, max height, mean intensity, occupied
INTENSITY_CHANNEL = 6  # the cells' mean intensity, in [0, 1]
RADAR_CHANNELS = 5  # count, mean compensated Doppler, mean RCS, Doppler along x and y


@dataclass(frozen=True)
class BevGrid:
    x_min_m: float = -51.2
    x_max_m: float = 51.2
    y_min_m: float = -51.2
    y_max_m: float = 51.2
    resolution_m: float = 0.8
    # LiDAR height slices in base_link (ground at z = 0), m: 5 slices between these 6 edges
    z_edges_m: tuple[float, ...] = field(default=(-1.0, 0.25, 0.75, 1.5, 2.5, 4.5))
    # heights at which BEV cells are projected into the cameras for the geometric lift, m
    lift_heights_m: tuple[float, ...] = field(default=(0.25, 0.75, 1.25, 2.0))

    def __post_init__(self) -> None:
        if self.resolution_m <= 0 or self.x_max_m <= self.x_min_m or self.y_max_m <= self.y_min_m:
            raise ValueError(f"BevGrid: empty or inverted grid {self}")
        if len(self.z_edges_m) != 6 or any(np.diff(self.z_edges_m) <= 0):
            raise ValueError("BevGrid.z_edges_m must be 6 increasing heights (5 slices)")

    @property
    def shape(self) -> tuple[int, int]:
        nx = round((self.x_max_m - self.x_min_m) / self.resolution_m)
        ny = round((self.y_max_m - self.y_min_m) / self.resolution_m)
        return nx, ny

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(H, W) arrays of cell-centre x and y, m."""
        nx, ny = self.shape
        x = self.x_min_m + (np.arange(nx) + 0.5) * self.resolution_m
        y = self.y_min_m + (np.arange(ny) + 0.5) * self.resolution_m
        return np.meshgrid(x, y, indexing="ij")

    def inside(self, xy: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        """(N,) True for base_link points (N, >=2) strictly inside the grid less ``margin_m`` a side."""
        x, y = xy[:, 0], xy[:, 1]
        return (
            (x > self.x_min_m + margin_m)
            & (x < self.x_max_m - margin_m)
            & (y > self.y_min_m + margin_m)
            & (y < self.y_max_m - margin_m)
        )

    def coarse(self, stride: int) -> BevGrid:
        """The same extent with ``stride`` x ``stride`` cells merged (the network's output grid)."""
        return BevGrid(**{**self.__dict__, "resolution_m": self.resolution_m * stride})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["z_edges_m"] = list(self.z_edges_m)
        d["lift_heights_m"] = list(self.lift_heights_m)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> BevGrid:
        d = dict(d)
        for k in ("z_edges_m", "lift_heights_m"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        return cls(**d)


@numba.njit(cache=True, nogil=True)
def _lidar_raster(xyz, intensity, x0, y0, res, nx, ny, z_edges, out):
    cnt = np.zeros((nx, ny), np.float32)
    zmax = np.full((nx, ny), -np.inf, np.float32)
    for i in range(xyz.shape[0]):
        x, y, z = xyz[i, 0], xyz[i, 1], xyz[i, 2]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
            continue
        r = int(np.floor((x - x0) / res))
        c = int(np.floor((y - y0) / res))
        if r < 0 or r >= nx or c < 0 or c >= ny or z < z_edges[0] or z >= z_edges[5]:
            continue
        s = 0
        while s < 4 and z >= z_edges[s + 1]:
            s += 1
        out[s, r, c] += 1.0
        cnt[r, c] += 1.0
        if z > zmax[r, c]:
            zmax[r, c] = z
        out[6, r, c] += intensity[i]
    for r in range(nx):
        for c in range(ny):
            n = cnt[r, c]
            if n > 0:
                for s in range(5):
                    out[s, r, c] = np.log1p(out[s, r, c])
                out[5, r, c] = zmax[r, c]
                out[6, r, c] /= n  # INTENSITY_CHANNEL
                out[7, r, c] = 1.0


@numba.njit(cache=True, nogil=True)
def _radar_raster(xy, doppler, los, rcs, x0, y0, res, nx, ny, out):
    cnt = np.zeros((nx, ny), np.float32)
    for i in range(xy.shape[0]):
        x, y, d = xy[i, 0], xy[i, 1], doppler[i]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(d) and np.isfinite(rcs[i])):
            continue
        r = int(np.floor((x - x0) / res))
        c = int(np.floor((y - y0) / res))
        if r < 0 or r >= nx or c < 0 or c >= ny:
            continue
        cnt[r, c] += 1.0
        out[1, r, c] += d
        out[2, r, c] += rcs[i]
        out[3, r, c] += d * los[i, 0]
        out[4, r, c] += d * los[i, 1]
    for r in range(nx):
        for c in range(ny):
            n = cnt[r, c]
            if n > 0:
                out[0, r, c] = np.log1p(n)
                for k in range(1, 5):
                    out[k, r, c] /= n


def lidar_raster(
    grid: BevGrid, xyz: np.ndarray | None, intensity: np.ndarray | None = None, full_scale: float = 0.0
) -> np.ndarray:
    """(LIDAR_CHANNELS, H, W) float32 from points in base_link; None or empty gives zeros.

    Intensity is divided by ``full_scale`` (the sensor's, ``bev.intensity_full_scale``) and
    clipped to [0, 1]; with 0, by the full scale its values imply: 0-1 as is (KITTI), up to 255
    divided by 255 (Velodyne, Hesai, Livox, Ouster reflectivity), larger divided by 65535 (16-bit
    signal or intensity fields). Those scales still differ by sensor, which is why the network is
    trained with the intensity rescaled and dropped (``bev.train``).
    """
    nx, ny = grid.shape
    out = np.zeros((LIDAR_CHANNELS, nx, ny), np.float32)
    if xyz is None or len(xyz) == 0:
        return out
    xyz = np.ascontiguousarray(xyz, dtype=np.float32)
    if intensity is None or len(intensity) != len(xyz):
        inten = np.zeros(len(xyz), np.float32)
    else:
        inten = np.nan_to_num(np.asarray(intensity, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if full_scale > 0:
            inten = np.clip(inten / np.float32(full_scale), 0.0, 1.0)
        else:
            top = float(inten.max()) if inten.size else 0.0
            if top > 1.5:
                inten = inten / np.float32(255.0 if top <= 255.5 else 65535.0)
    z_edges = np.asarray(grid.z_edges_m, np.float32)
    _lidar_raster(xyz, inten, grid.x_min_m, grid.y_min_m, grid.resolution_m, nx, ny, z_edges, out)
    return out


def radar_raster(
    grid: BevGrid,
    xy: np.ndarray | None,
    doppler: np.ndarray | None,
    los: np.ndarray | None,
    rcs: np.ndarray | None,
) -> np.ndarray:
    """(RADAR_CHANNELS, H, W) float32 from radar returns in base_link.

    ``doppler`` is the ego-compensated radial speed (ground-relative, positive away) along the
    horizontal unit line of sight ``los``; RCS in dBsm is scaled by 1/10.
    """
    nx, ny = grid.shape
    out = np.zeros((RADAR_CHANNELS, nx, ny), np.float32)
    if xy is None or len(xy) == 0:
        return out
    _radar_raster(
        np.ascontiguousarray(xy[:, :2], dtype=np.float32),
        np.ascontiguousarray(doppler, dtype=np.float32),
        np.ascontiguousarray(los, dtype=np.float32),
        np.ascontiguousarray(rcs, dtype=np.float32) / np.float32(10.0),
        grid.x_min_m,
        grid.y_min_m,
        grid.resolution_m,
        nx,
        ny,
        out,
    )
    return out
