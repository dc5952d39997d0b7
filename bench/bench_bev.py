"""Benchmark the BEV network per frame: rasterisation, network, decoding, and end to end.

Run: ``.venv/bin/python bench/bench_bev.py [--runs N] [--device auto|cpu|cuda]``. Generates a
short ``urban`` bag (seed 9, not a training seed), takes real frames through the pipeline's BEV
tap (a deskewed 64-beam sweep of ~68k points, radar, two cameras), and times with the shipped
weights (median of N runs after warm-up):

* inputs: LiDAR + radar rasters (numba) and camera resizing, vs a numpy ``np.add.at``
  LiDAR raster as the named baseline;
* network: one forward pass under ``torch.inference_mode`` (fp16 on CUDA) as the baseline, and
  on the detector's backend (ONNX Runtime on the CPU, ``bev.backend: auto``), with the largest
  difference between their outputs;
* decode: peaks, top-k, NMS;
* the road test (``bev.min_height_over_road_m``, ``road_boxes``) on the frame's boxes, with its own
  ground and on the classical detector's (``both`` with one LiDAR);
* end to end ``BevDetector.detect``, against the classical LiDAR detector on the same points.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from benchutil import Figures, median_time

from sensor_fusion.bag.offline import RunSummary, feed_bag
from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.decode import decode
from sensor_fusion.bev.detector import BevDetector, encode
from sensor_fusion.bev.grid import BevGrid, lidar_raster
from sensor_fusion.bev.level import LEVEL_DEADBAND_M, level, road_surface
from sensor_fusion.bev.road_boxes import road_boxes
from sensor_fusion.config import default_share_dir, from_flat, load_params_file
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.pipeline import FusionPipeline
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag


def numpy_lidar_raster(grid: BevGrid, xyz: np.ndarray) -> np.ndarray:
    """Baseline: the same slice counts with np.add.at (no numba)."""
    nx, ny = grid.shape
    r = np.floor((xyz[:, 0] - grid.x_min_m) / grid.resolution_m).astype(np.int64)
    c = np.floor((xyz[:, 1] - grid.y_min_m) / grid.resolution_m).astype(np.int64)
    z_edges = np.asarray(grid.z_edges_m)
    s = np.clip(np.searchsorted(z_edges, xyz[:, 2], side="right") - 1, 0, 4)
    ok = (r >= 0) & (r < nx) & (c >= 0) & (c < ny) & (xyz[:, 2] >= z_edges[0]) & (xyz[:, 2] < z_edges[5])
    out = np.zeros((8, nx, ny), np.float32)
    np.add.at(out, (s[ok], r[ok], c[ok]), 1.0)
    zmax = np.full((nx, ny), -np.inf, np.float32)
    np.maximum.at(zmax, (r[ok], c[ok]), xyz[ok, 2])
    occ = out[:5].sum(0) > 0
    out[:5] = np.log1p(out[:5])
    out[5] = np.where(occ, zmax, 0.0)
    out[7] = occ
    return out


def frames_from_bag(runs: int) -> tuple[list, object, object]:
    work = Path(tempfile.mkdtemp(prefix="bench_bev_"))
    bag = work / "urban_s9"
    record("urban", 9, 2.5, bag)
    cfg = from_flat(load_params_file(default_share_dir() / "config" / "fusion.yaml"))
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    got: list = []
    cal = calibration_from_bag(bag)
    pipe = FusionPipeline(cfg, cal, bev_tap=lambda inp: got.append(inp) if inp.ego_known else None)
    for _ in feed_bag(bag, pipe, cfg, RunSummary()):
        pass
    return got, cfg, cal


def pipeline_backends(duration_s: float, passes: int) -> dict[str, dict[str, float]]:
    """The whole pipeline (``detection_mode: both``) over the same decoded messages with the network
    on torch and on ONNX Runtime, passes alternating so neither sees a warmer machine: per backend
    total and network p50 / p99 in ms (each pass's first 3 frames, JIT and warm-up, left out)."""
    from decoded import capture, pass_timings

    decoded = capture(duration_s)
    samples: dict[str, dict[str, list[float]]] = {
        b: {"total": [], "network": []} for b in ("torch", "onnxruntime")
    }
    for rep in range(passes):
        for backend in ("torch", "onnxruntime") if rep % 2 == 0 else ("onnxruntime", "torch"):
            cfg = decoded.config(**{"detection_mode": "both", "bev.backend": backend})
            frames, _wall = pass_timings(cfg, decoded.calibration, decoded.pushes)
            for timing in frames[3:]:
                samples[backend]["total"].append(timing["total"])
                samples[backend]["network"].append(timing.get("bev_network", np.nan))
    return {
        b: {
            f"{k}_{q}": 1e3 * float(np.nanpercentile(v, int(q[1:])))
            for k, v in m.items()
            for q in ("p50", "p99")
        }
        for b, m in samples.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--pipeline-passes", type=int, default=4, help="whole-pipeline passes per backend (0: skip)"
    )
    a = ap.parse_args()
    frames, cfg, cal = frames_from_bag(a.runs)
    inp = frames[-1]
    names = [c.name for c in cfg.cameras]
    det = BevDetector(cal, names, {n: n for n in names}, BevDetectorConfig(device=a.device))
    dev = det.device
    card = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    n_radar = 0 if inp.radar_xyz is None else len(inp.radar_xyz)
    print(f"device: {card}, dtype {det.dtype}; frame: {len(inp.lidar_xyz)} LiDAR points, ", end="")
    print(f"{n_radar} radar returns, {len(inp.cameras)} cameras")
    det.warm_up()
    grid = det.grid
    t_np = median_time(lambda: numpy_lidar_raster(grid, inp.lidar_xyz), a.runs, warmup=1)
    t_nb = median_time(lambda: lidar_raster(grid, inp.lidar_xyz, inp.lidar_intensity), a.runs, warmup=1)
    t_enc = median_time(lambda: encode(grid, inp), a.runs, warmup=1)
    t_in = median_time(lambda: det.tensors(inp), a.runs, warmup=1)
    args = det.tensors(inp)

    def net(fn=det.model):
        with torch.inference_mode():
            out = fn(*args)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return out

    t_net = median_time(net, a.runs, warmup=1)  # torch: the baseline
    head = net()
    t_ort = median_time(lambda: net(det._net), a.runs, warmup=1) if det.backend != "torch" else t_net
    ort_diff = float((net(det._net) - head).abs().max()) if det.backend != "torch" else 0.0
    torch_cfg = BevDetectorConfig(device=a.device, backend="torch")
    torch_det = BevDetector(cal, names, {n: n for n in names}, torch_cfg)
    t_e2e_torch = median_time(lambda: torch_det.detect(inp), a.runs, warmup=1)
    with torch.inference_mode():
        dec = det.decode_config
        t_dec = median_time(lambda: decode(head, det.head_grid, 0, "base_link", dec), a.runs, warmup=1)
    t_e2e = median_time(lambda: det.detect(inp), a.runs, warmup=1)
    # bev.level_road (opt-in): the road's fit and the levelled copy, against the raster they feed
    t_fit = median_time(lambda: road_surface(inp.lidar_xyz), a.runs, warmup=1)
    road = road_surface(inp.lidar_xyz)
    t_lev = median_time(lambda: level(inp.lidar_xyz, road, LEVEL_DEADBAND_M), a.runs, warmup=1)
    # with the LiDAR where the calibration puts it, as the pipeline runs it
    placed = LidarDetectorConfig().with_sensor_origin(cal.T_base_from(cfg["lidar.frame"])[:3, 3])
    classical = LidarDetector(placed)
    # the road test on this frame's boxes (bev.min_height_over_road_m; the pipeline gives the
    # detector the placed ground model, the detector above has none, so its figures leave it out)
    boxes = det.detect(inp)
    limit = det.config.min_height_over_road_m
    half = det._half_m
    t_road = median_time(lambda: road_boxes(boxes, inp.lidar_xyz, limit, half, placed), a.runs, warmup=1)
    classical.warm_up()
    t_cls = median_time(lambda: classical.detect(inp.lidar_xyz, 0, "base_link"), a.runs, warmup=1)
    # in `both` with one LiDAR the test reads the classical detector's ground of the same sweep
    classical.detect(inp.lidar_xyz, 0, "base_link")
    swept = classical.last_ground
    t_road_shared = median_time(lambda: road_boxes(boxes, None, limit, half, placed, swept), a.runs, warmup=1)
    print("| stage | median ms | ratio |")
    print("|---|---|---|")
    print(f"| LiDAR raster, numpy np.add.at (baseline) | {t_np * 1e3:.1f} | 1.0 |")
    print(f"| LiDAR raster, numba | {t_nb * 1e3:.1f} | {t_np / t_nb:.1f}x faster |")
    print(f"| LiDAR + radar rasters | {t_enc * 1e3:.1f} | |")
    print(f"| all inputs to tensors (rasters, camera resize, lift lookup) | {t_in * 1e3:.1f} | |")
    print(f"| network forward, torch (baseline) | {t_net * 1e3:.1f} | 1.0 |")
    print(f"| network forward, {det.backend} (the detector's backend) | {t_ort * 1e3:.1f} | "
          f"{t_net / t_ort:.1f}x faster, max abs head diff {ort_diff:.1e} |")  # fmt: skip
    print(f"| decode (peaks, top-k, NMS) | {t_dec * 1e3:.1f} | |")
    print(f"| road fit + levelling (bev.level_road, opt-in) | {(t_fit + t_lev) * 1e3:.1f} | "
          f"{(t_fit + t_lev) / t_nb:.1f}x the numba raster |")  # fmt: skip
    print(f"| road test, the frame's {len(boxes)} boxes (bev.min_height_over_road_m) | "
          f"{t_road * 1e3:.1f} | {t_road / t_nb:.1f}x the numba raster |")  # fmt: skip
    print(f"| the same on the classical detector's ground (`both`, one LiDAR) | {t_road_shared * 1e3:.1f} | "
          f"{t_road_shared / t_road:.2f}x its own ground's time |")  # fmt: skip
    print(f"| end to end BevDetector.detect, torch | {t_e2e_torch * 1e3:.1f} | 1.0 |")
    print(f"| end to end BevDetector.detect, {det.backend} | {t_e2e * 1e3:.1f} | "
          f"{t_e2e_torch / t_e2e:.2f}x the speed |")  # fmt: skip
    print(f"| classical LidarDetector.detect, same sweep (baseline) | {t_cls * 1e3:.1f} | "
          f"BEV {t_e2e / t_cls:.2f}x its time |")  # fmt: skip
    fig = Figures("bev")
    fig.add("device", card)
    for key, t in (("lidar_raster_numpy_baseline", t_np), ("lidar_raster_numba", t_nb), ("rasters", t_enc),
                   ("inputs_to_tensors", t_in), ("network_forward", t_net), ("decode", t_dec),
                   ("detect_end_to_end", t_e2e), ("classical_lidar_detect_baseline", t_cls),
                   ("network_forward_backend", t_ort), ("detect_end_to_end_torch", t_e2e_torch),
                   ("level_road_fit", t_fit), ("level_road_level", t_lev),
                   ("road_boxes", t_road), ("road_boxes_shared_ground", t_road_shared)):  # fmt: skip
        fig.add(f"{key}_ms", 1e3 * t)
    fig.add("backend", det.backend)
    fig.add("network_torch_over_backend_x", t_net / t_ort)
    fig.add("network_backend_max_abs_head_diff", ort_diff)
    fig.add("detect_over_classical_x", t_e2e / t_cls)
    if a.pipeline_passes > 0 and dev.type == "cpu":
        pb = pipeline_backends(4.0, a.pipeline_passes)
        print("| pipeline `both`, 4 s urban seed 9 | total p50 / p99 ms | network p50 / p99 ms |")
        print("|---|---|---|")
        for b, v in pb.items():
            tot, net = (
                f"{v['total_p50']:.1f} / {v['total_p99']:.1f}",
                f"{v['network_p50']:.1f} / {v['network_p99']:.1f}",
            )
            print(f"| {b} | {tot} | {net} |")
            for k, x in v.items():
                fig.add(f"pipeline_both_{b}_{k}_ms", x)
        fig.add(
            "pipeline_both_torch_over_onnxruntime_p50_x",
            pb["torch"]["total_p50"] / pb["onnxruntime"]["total_p50"],
        )
    fig.write()


if __name__ == "__main__":
    main()
