"""The GPU figures of issue 16: the BEV network and the whole pipeline on CUDA (fp16 and fp32).

Prepared for a machine with a GPU (the device tool lends one to some sessions); on a machine
without one it says so, writes ``{"gpu": "none"}`` to ``out/bench/gpu.json`` and exits 0, so
``make bench`` passes everywhere and the file says plainly that nothing was measured.

With a GPU (all on real frames of a generated ``urban`` bag, seed 9, not a training seed):

* ``BevDetector.detect`` end to end on CUDA fp16: construction (context, upload), first call
  (cuDNN autotune, allocator) and steady state (median of ``--runs``), with its split into
  raster/network/decode, peak GPU memory and its boxes against the CPU fp32 ones on the same
  frames (matched share, largest score and centre differences); the same in fp32; the network
  forward alone in each;
* ONNX Runtime with the CUDA and TensorRT execution providers when this onnxruntime has them
  (``bev/export.py`` writes the graph), same inputs, steady state;
* the whole pipeline (``detection_mode: both``, ``bev.device: cuda`` fp16 and fp32, and on the
  host's CPUs as the baseline in the same process) over the decoded messages, the pipeline alone
  (no bag I/O in the clock): ``--passes`` passes, the first a warm-up reported as
  ``first_frame_ms``; per-frame ``total`` p50/p99 and every stage's p50 (the network's and the CPU's).

    .venv/bin/python bench/bench_gpu.py [--runs 50] [--duration 10]

A GPU machine without ROS (the device tool's has torch but no rclpy for its Python): decode the
messages here, carry the file, time there (``--inputs`` needs neither ROS nor the generator):

    .venv/bin/python bench/bench_gpu.py --capture .gpuin/urban_s9.bin --duration 4   # here
    python3 bench/bench_gpu.py --runs 50 --passes 3 --inputs .gpuin/urban_s9.bin     # there
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchutil import Figures, median_time
from decoded import capture, load, pass_timings, save


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
    ap.add_argument("--passes", type=int, default=3, help="pipeline passes (the first: warm-up)")
    ap.add_argument(
        "--pipelines",
        default="fp32,fp16,host_cpu_fp32,fp16,fp32",
        help="whole-pipeline runs in this order (a repeat shows what order and warm-up cost)",
    )
    ap.add_argument("--capture", help="only record and decode the bag's sensor messages into this file")
    ap.add_argument("--inputs", help="messages from --capture: no bag, ROS or generator needed here")
    a = ap.parse_args()
    if a.capture:
        decoded = capture(a.duration)
        save(decoded, a.capture)
        print(f"{len(decoded.pushes)} sensor messages -> {a.capture}")
        return 0
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

    from sensor_fusion.bev.config import BevDetectorConfig
    from sensor_fusion.bev.detector import BevDetector
    from sensor_fusion.eval.latency import latency_percentiles
    from sensor_fusion.pipeline import FusionPipeline

    name = torch.cuda.get_device_name(0) if dev == "cuda" else "CPU (dry run)"
    fig.add("gpu", name)
    fig.add("torch", torch.__version__)
    print(f"device: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.get_num_threads()} torch CPU threads")  # fmt: skip
    # --inputs: decoded elsewhere, so this machine needs neither ROS nor the generator
    decoded = load(a.inputs) if a.inputs else capture(a.duration)
    cal, pushes, config = decoded.calibration, decoded.pushes, decoded.config
    cfg = config()
    frames: list = []
    pipe = FusionPipeline(cfg, cal, bev_tap=lambda inp: frames.append(inp) if inp.ego_known else None)
    for sensor, item in pushes:
        pipe.push(sensor, copy.deepcopy(item))
        pipe.step()
    pipe.flush()
    if not frames:
        return no_gpu(fig, "the bag gave no frame with an ego pose (nothing to time)")
    inp = frames[len(frames) // 2]
    fig.add("lidar_points", len(inp.lidar_xyz))
    names = [c.name for c in cfg.cameras]

    sample = frames[: a.runs]
    ref_det = BevDetector(cal, names, {n: n for n in names}, BevDetectorConfig(device="cpu", fp16=False))
    reference = [ref_det.detect(f) for f in sample]  # what the CPU build (fp32) finds on these frames
    del ref_det
    for label, fp16 in (("fp16", True), ("fp32", False)):
        t0 = time.perf_counter()
        det = BevDetector(cal, names, {n: n for n in names}, BevDetectorConfig(device=dev, fp16=fp16))
        sync()
        fig.add(f"detector_{label}_construct_ms", (time.perf_counter() - t0) * 1e3)  # CUDA context, upload
        first = timed_first(lambda det=det: det.detect(inp))  # cuDNN autotune, allocator
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        steady = median_time(lambda det=det: det.detect(inp), a.runs, warmup=3)
        parts = {k: [] for k in ("raster", "network", "decode")}
        got = []
        for f in sample:
            got.append(det.detect(f))
            for k in parts:
                parts[k].append(det.last_timing[k])
        for k, v in parity(reference, got).items():
            fig.add(f"detect_{label}_vs_cpu_fp32_{k}", v)
        print(f"{label} vs CPU fp32 on {len(sample)} frames: {parity(reference, got)}")
        if dev == "cuda":
            fig.add(f"detect_{label}_peak_gpu_mem_mib", torch.cuda.max_memory_allocated() / 2**20)
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
        work = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
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

    # the whole pipeline, offline, on CUDA, and on this host's CPUs as the baseline in the same process
    kinds = {"fp16": (dev, True), "fp32": (dev, False), "host_cpu_fp32": ("cpu", False)}
    runs_of: dict[str, int] = {}
    for kind in a.pipelines.split(","):
        pdev, fp16 = kinds[kind]
        runs_of[kind] = runs_of.get(kind, 0) + 1  # a kind named twice: its second run is ..._run2
        label = kind if runs_of[kind] == 1 else f"{kind}_run{runs_of[kind]}"
        cfgp = config(**{"detection_mode": "both", "bev.device": pdev, "bev.fp16": fp16})
        samples: dict[str, list[float]] = {}
        n_frames, wall, first_total = 0, 0.0, float("nan")
        for rep in range(max(a.passes, 2)):  # pass 0 pays JIT compiles and cuDNN autotune: not counted
            frames_t, wall_s = pass_timings(cfgp, cal, pushes)
            if rep == 0:
                first_total = frames_t[0]["total"] if frames_t else float("nan")
                continue
            wall += wall_s
            n_frames += len(frames_t)
            for timing in frames_t:
                for k, v in timing.items():
                    samples.setdefault(k, []).append(float(v))
        lat = latency_percentiles(samples)
        fig.add(f"pipeline_both_{label}_first_frame_ms", first_total * 1e3)  # timings are seconds
        tot = lat.get("total", {})
        print(f"pipeline both on {pdev} {label}: {n_frames} frames in {wall:.1f} s, total p50 "
              f"{tot.get('p50', float('nan')):.1f} ms p99 {tot.get('p99', float('nan')):.1f} ms")  # fmt: skip
        fig.add(f"pipeline_both_{label}_frames", n_frames)
        fig.add(f"pipeline_both_{label}_total_p50_ms", tot.get("p50", float("nan")))
        fig.add(f"pipeline_both_{label}_total_p99_ms", tot.get("p99", float("nan")))
        fig.add(
            f"pipeline_both_{label}_real_time_factor_x", decoded.duration_s * (max(a.passes, 2) - 1) / wall
        )
        for k, v in lat.items():  # every stage, so what is left on the CPU is in the file too
            if k != "total":  # written above, with its p99
                fig.add(f"pipeline_both_{label}_{k}_p50_ms", v["p50"])
    fig.write()
    return 0


def parity(reference: list, got: list, gate_m: float = 0.5) -> dict[str, float]:
    """How far a device/precision's boxes are from the CPU fp32 ones on the same frames: each
    reference box is matched greedily to the nearest unused box of its class within ``gate_m``."""
    n_ref = n_got = matched = 0
    dscore: list[float] = [0.0]
    dpos: list[float] = [0.0]
    for r, g in zip(reference, got):
        n_ref += len(r.scores)
        n_got += len(g.scores)
        used = np.zeros(len(g.scores), bool)
        for i in np.argsort(-r.scores):
            if not len(g.scores):
                break
            d = np.linalg.norm(g.centers[:, :2] - r.centers[i, :2], axis=1)
            d[(g.labels != r.labels[i]) | used] = np.inf
            j = int(np.argmin(d))
            if d[j] < gate_m:
                matched += 1
                used[j] = True
                dscore.append(abs(float(g.scores[j] - r.scores[i])))
                dpos.append(float(d[j]))
    return {
        "reference_boxes": n_ref,
        "boxes": n_got,
        "matched_share": matched / max(n_ref, 1),
        "score_absdiff_max": max(dscore),
        "centre_diff_max_m": max(dpos),
    }


def _weights() -> Path:
    from sensor_fusion.bev.detector import DEFAULT_WEIGHTS

    return Path(DEFAULT_WEIGHTS)


if __name__ == "__main__":
    raise SystemExit(main())
