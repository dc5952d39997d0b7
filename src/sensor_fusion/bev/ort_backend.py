"""The BEV network on ONNX Runtime's CPU provider: the same graph, a third less time in the pipeline.

On this project's 2-core host, ``detection_mode: both`` over 4 s of decoded ``urban`` frames
(``bench/bench_bev.py``, docs/benchmarks.md), the network takes p50 40.7 ms on torch and 27.0 ms
on ONNX Runtime with full graph optimisation, and the whole pipeline p50 62.3 and 46.6 ms. Alone,
back to back, it is 15.8 ms against 12.8 ms, and the heads differ by at most 2e-5. ONNX Runtime
fuses convolution, batch norm and activation; torch runs this small U-Net op by op.

The graph is exported from the loaded weights on first use (about 2 s) and cached under
``$SENSOR_FUSION_CACHE`` (default ``~/.cache/sensor_fusion``). The cache key holds the weights'
and the network code's contents, so new weights or a changed ``model.py`` export again. A graph
that fails to load, or whose output differs from torch's on a check input, is not used. The
detector then stays on torch and says why once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from . import model as model_module

# the largest |onnx - torch| on the export check input that still counts as the same network: the
# fp32 reassociation of fused kernels gives ~1e-5 on head logits of magnitude ~10
MAX_ABS_DIFF = 1e-3
OPSET = 18


def cache_dir() -> Path:
    env = os.environ.get("SENSOR_FUSION_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sensor_fusion"


def graph_key(weights: Path) -> str:
    """Content hash of what the graph is made of: the weights, the network code and the exporter."""
    h = hashlib.sha256()
    h.update(Path(weights).read_bytes())
    h.update(Path(model_module.__file__).read_bytes())
    h.update(f"torch {torch.__version__} opset {OPSET}".encode())
    return h.hexdigest()[:20]


def _export(net: torch.nn.Module, meta: dict, out: Path) -> float:
    """Write the graph to ``out`` (atomically) and return the largest difference from torch."""
    from .export import export_model

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        diff = export_model(net, meta, tmp, OPSET)["max_abs_diff"]
        os.replace(tmp, out)  # another process exporting the same key writes the same file
        return diff
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class OrtNetwork:
    """``OrtNetwork(...)(*tensors)`` -> head, like the torch module's forward on CPU."""

    def __init__(self, session, input_names: list[str]):
        self.session = session
        self.input_names = input_names

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        feeds = {n: a.numpy() for n, a in zip(self.input_names, args)}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def load(net: torch.nn.Module, meta: dict, weights: Path, threads: int) -> tuple[OrtNetwork | None, str]:
    """An ONNX Runtime twin of ``net`` (float32, CPU), or None and why not."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return None, f"onnxruntime not importable ({exc})"
    from .export import INPUT_NAMES

    path = cache_dir() / f"bev_{graph_key(weights)}.onnx"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    # idle workers sleep, as torch's OpenMP ones do here (OMP_WAIT_POLICY=PASSIVE, bev/__init__):
    # spinning ones took the cores the rest of the pipeline needs
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    why = ""
    for attempt in range(2):  # a cached file that does not load (truncated, damaged) is made again
        try:
            if attempt or not path.is_file():
                diff = _export(net, meta, path)
                if not diff <= MAX_ABS_DIFF:
                    path.unlink(missing_ok=True)
                    return None, f"exported graph differs from torch by {diff:.2e} (> {MAX_ABS_DIFF})"
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            return OrtNetwork(sess, INPUT_NAMES), str(path)
        except Exception as exc:  # an unwritable cache, an exporter failure, a damaged file
            why = f"{path}: {type(exc).__name__}: {exc}"
    return None, why
