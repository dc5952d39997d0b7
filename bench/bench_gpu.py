"""The GPU figures of issue 16: the BEV network and the whole pipeline on CUDA (fp16 and fp32).

Prepared for a machine with a GPU (the device tool lends one to some sessions); on a machine
without one it says so, writes ``{"gpu": "none"}`` to ``out/bench/gpu.json`` and exits 0, so
``make bench`` passes everywhere and the file says plainly that nothing was measured.

With a GPU (all on real frames of a generated ``urban`` bag, seed 9, not a training seed):

* ``BevDetector.detect`` end to end on CUDA fp16: first call (CUDA context, cuDNN autotune,
  allocator) and steady state (median of ``--runs``), with its split into inputs/network/decode;
  the same in fp32; the network forward alone in each;
* ONNX Runtime with the CUDA and TensorRT execution providers when this onnxruntime has them
  (``bev/export.py`` writes the graph), same inputs, steady state;
* the whole pipeline (``detection_mode: both``, ``bev.device: cuda``) over the bag offline:
  per-frame ``total`` p50/p99 and the network's share.

    .venv/bin/python bench/bench_gpu.py [--runs 50] [--duration 10]

On the device machine (one short run; nothing is downloaded there):
    .venv/bin/python bench/bench_gpu.py --runs 50 --duration 10 && cat out/bench/gpu.json
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchutil import Figures, median_time


def no_gpu(fig: Figures, why: str) -> int:
    print(f"NO GPU: {why}. Nothing measured; out/bench/gpu.json says so.")
    fig.add("gpu", "none")
    fig.add("why", why)
    fig.write()
    return 0


def timed_first(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50, help="steady-state calls per figure (median)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of the generated bag")
    ap.add_argument(
        "--dry-run-cpu",
        action="store_true",
        help="exercise every step on the CPU (checks the script; the figures are CPU ones, named so)",
    )
    a = ap.parse_args()
    fig = Figures("gpu")
    try:
        import torch
    except ImportError as exc:
        return no_gpu(fig, f"torch not importable ({exc})")
    dev = "cpu" if a.dry_run_cpu else "cuda"
    if a.dry_run_cpu:
        fig = Figures("gpu_dry_run_cpu")
    elif not torch.cuda.is_available():
        return no_gpu(fig, f"torch {torch.__version__} sees no CUDA device")

    def sync() -> None:
        if dev == "cuda":
            torch.cuda.synchronize()

    from sensor_fusion.bag.offline import RunSummary, feed_bag, run_bag
    from sensor_fusion.bev.config import BevDetectorConfig
    from sensor_fusion.bev.detector import BevDetector
    from sensor_fusion.config import default_share_dir, from_flat, load_params_file
    from sensor_fusion.eval.bags import read_topics
    from sensor_fusion.eval.latency import latency_percentiles
    from sensor_fusion.pipeline import FusionPipeline
    from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

    name = torch.cuda.get_device_name(0) if dev == "cuda" else "CPU (dry run)"
    fig.add("gpu", name)
    fig.add("torch", torch.__version__)
    print(f"device: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    work = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    bag = work / "urban_s9"
    record("urban", 9, a.duration, bag)
    base = load_params_file(default_share_dir() / "config" / "fusion.yaml")
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    cal = calibration_from_bag(bag)

    def config(**over):
        cfg = from_flat({**base, **over})
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
        return cfg

    cfg = config()
    frames: list = []
    pipe = FusionPipeline(cfg, cal, bev_tap=lambda inp: frames.append(inp) if inp.ego_known else None)
    for _ in feed_bag(bag, pipe, cfg, RunSummary()):
        pass
    if not frames:
        return no_gpu(fig, "the bag gave no frame with an ego pose (nothing to time)")
    inp = frames[len(frames) // 2]
    fig.add("lidar_points", len(inp.lidar_xyz))
    names = [c.name for c in cfg.cameras]

    for label, fp16 in (("fp16", True), ("fp32", False)):
        det = BevDetector(cal, names, {n: n for n in names}, BevDetectorConfig(device=dev, fp16=fp16))
        first = timed_first(lambda det=det: det.detect(inp))  # context, autotune, allocator
        steady = median_time(lambda det=det: det.detect(inp), a.runs, warmup=3)
        parts = {k: [] for k in ("raster", "network", "decode")}
        for f in frames[: a.runs]:
            det.detect(f)
            for k in parts:
                parts[k].append(det.last_timing[k])
        args = det.tensors(inp)

        def net(det=det, args=args):
            with torch.inference_mode():
                det.model(*args)
                sync()

        t_net = median_time(net, a.runs, warmup=3)
        print(f"{label}: detect first call {first * 1e3:.1f} ms, steady {steady * 1e3:.2f} ms, ", end="")
        print(
            f"network alone {t_net * 1e3:.2f} ms; "
            + ", ".join(f"{k} {np.median(v) * 1e3:.2f} ms" for k, v in parts.items())
        )
        fig.add(f"detect_{label}_first_call_ms", first * 1e3)
        fig.add(f"detect_{label}_steady_ms", steady * 1e3)
        fig.add(f"network_{label}_forward_ms", t_net * 1e3)
        for k, v in parts.items():
            fig.add(f"detect_{label}_{k}_p50_ms", float(np.median(v)) * 1e3)
        del det
        if dev == "cuda":
            torch.cuda.empty_cache()

    try:  # ONNX Runtime CUDA / TensorRT, where this onnxruntime build has them
        import onnxruntime as ort

        from sensor_fusion.bev.export import export_onnx

        have = ort.get_available_providers()
        fig.add("onnxruntime_providers", ",".join(have))
        onnx = work / "bev.onnx"
        export_onnx(_weights(), onnx)
        det = BevDetector(cal, names, {n: n for n in names}, BevDetectorConfig(device="cpu"))
        feeds_t = det.tensors(inp)
        sess0 = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        feeds = {i.name: t.numpy() for i, t in zip(sess0.get_inputs(), feeds_t)}
        provs = (
            ("CPUExecutionProvider",)
            if a.dry_run_cpu
            else ("TensorrtExecutionProvider", "CUDAExecutionProvider")
        )
        for prov in provs:
            if prov not in have:
                print(f"onnxruntime: {prov} not available in this build")
                continue
            try:
                sess = ort.InferenceSession(str(onnx), providers=[prov, "CPUExecutionProvider"])
                first = timed_first(lambda sess=sess: sess.run(None, feeds))
                steady = median_time(lambda sess=sess: sess.run(None, feeds), a.runs, warmup=3)
            except Exception as exc:  # a provider that fails to build its engine: say so, go on
                print(f"onnxruntime {prov}: failed ({type(exc).__name__}: {exc})")
                continue
            key = prov.removesuffix("ExecutionProvider").lower()
            print(
                f"onnxruntime {prov}: first {first * 1e3:.1f} ms, steady {steady * 1e3:.2f} ms (fp32 graph)"
            )
            fig.add(f"ort_{key}_first_call_ms", first * 1e3)
            fig.add(f"ort_{key}_steady_ms", steady * 1e3)
    except Exception as exc:  # the GPU torch figures stand without the ORT comparison
        print(f"onnxruntime comparison skipped: {type(exc).__name__}: {exc}", file=sys.stderr)

    for label, fp16 in (("fp16", True), ("fp32", False)):  # the whole pipeline, offline, on CUDA
        cfgp = config(**{"detection_mode": "both", "bev.device": dev, "bev.fp16": fp16})
        out = work / f"run_{label}"
        t0 = time.perf_counter()
        summary = run_bag(bag, cfgp, cal, out)
        wall = time.perf_counter() - t0
        samples: dict[str, list[float]] = {}
        for st in read_topics(out, ["/fusion_node/timing"])["/fusion_node/timing"]:
            for kv in st.values:
                if kv.key != "missing":
                    samples.setdefault(kv.key, []).append(float(kv.value))
        lat = latency_percentiles(samples)
        tot = lat.get("total", {})
        print(f"pipeline both on {dev} {label}: {summary.frames} frames in {wall:.1f} s, total p50 "
              f"{tot.get('p50', float('nan')):.1f} ms p99 {tot.get('p99', float('nan')):.1f} ms")  # fmt: skip
        fig.add(f"pipeline_both_{label}_frames", summary.frames)
        fig.add(f"pipeline_both_{label}_total_p50_ms", tot.get("p50", float("nan")))
        fig.add(f"pipeline_both_{label}_total_p99_ms", tot.get("p99", float("nan")))
        fig.add(f"pipeline_both_{label}_real_time_factor_x", a.duration / wall)
        for k, v in lat.items():
            if k.startswith("bev"):
                fig.add(f"pipeline_both_{label}_{k}_p50_ms", v["p50"])
    shutil.rmtree(work, ignore_errors=True)
    fig.write()
    return 0


def _weights() -> Path:
    from sensor_fusion.bev.detector import DEFAULT_WEIGHTS

    return Path(DEFAULT_WEIGHTS)


if __name__ == "__main__":
    raise SystemExit(main())
