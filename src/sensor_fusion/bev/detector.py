"""The BEV network at run time: weights loaded once, CUDA + fp16 when present, CPU otherwise.

Any subset of modalities may be present in a frame (a dead camera, no radar, an empty or
withheld LiDAR sweep): the missing ones are zeros with their presence flag off, which the
network was trained on (modality dropout), and the output is a valid, possibly empty,
:class:`Detections`.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.calibration import Calibration
from ..core.types import CameraFrame, CameraIntrinsics, Detections
from ..core.weights import WeightsError
from ..perception.lidar import LidarDetectorConfig, SweepGround
from .config import BevDetectorConfig
from .decode import DecodeConfig, decode, radial_velocity_only, velocity_support, without_velocity
from .grid import BevGrid, lidar_raster, radar_raster
from .inputs import BevInputs
from .level import LEVEL_DEADBAND_M, level, road_surface, surface_height
from .lift import camera_lift_grid
from .model import OUTPUT_STRIDE, BevFusionNet
from .road_boxes import road_boxes

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "bev_fusion.pt"


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict; WeightsError if the file is truncated, foreign or not a BEV checkpoint.

    Loaded with ``weights_only=True``: tensors and plain data only, so a file carrying code (a
    pickle that calls a function on load) is refused, never run."""
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{path}: refused: holds objects other than tensors and plain data, which could run code "
            f"on load (loaded with weights_only=True; {first[:120]})"
        ) from exc
    except Exception as exc:  # a zip reader's RuntimeError, EOFError, ...
        raise WeightsError(f"{path}: unreadable BEV checkpoint ({type(exc).__name__}: {exc})") from exc
    if (
        not isinstance(ckpt, dict)
        or not isinstance(ckpt.get("model"), dict)
        or not isinstance(ckpt.get("meta"), dict)
    ):
        raise WeightsError(f"{path}: not a BEV checkpoint (needs 'model' and 'meta' mappings)")
    return ckpt


def build_model(meta: dict) -> BevFusionNet:
    return BevFusionNet(**meta.get("arch", {}))


def load_model(path: str | Path) -> tuple[BevFusionNet, dict]:
    """The network of a weights file in eval mode, on the CPU, and the file's meta (what
    ``evaluate-bev``, the ONNX export and the bootstrap script run; the detector checks more)."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["meta"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt["meta"]


def camera_images(
    frames: dict[str, CameraFrame], slots: list[str], size_wh: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(Nc, h, w, 3) RGB uint8 network images and (Nc,) present flags for the camera ``slots``."""
    w, h = size_wh
    out = np.zeros((len(slots), h, w, 3), np.uint8)
    present = np.zeros(len(slots), np.float32)
    for i, name in enumerate(slots):
        f = frames.get(name)
        if f is None or f.image is None or f.image.ndim != 3 or f.image.shape[2] != 3 or f.image.size == 0:
            continue
        out[i] = cv2.cvtColor(cv2.resize(f.image, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        present[i] = 1.0
    return out, present


class LiftCache:
    """Camera lift grids per (optical frame, intrinsics) and their per-rig stacks: computed once
    per rig, not per frame."""

    def __init__(self, grid: BevGrid, calibration: Calibration):
        self.grid = grid
        self.calibration = calibration
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._stacks: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        H, W = grid.shape
        K = len(grid.lift_heights_m)
        self._none = (np.zeros((K * H, W, 2), np.float32) - 2.0, np.zeros((K * H, W), np.float32))

    def _key(self, frame_id: str, intr: CameraIntrinsics | None) -> tuple | None:
        """Cache key of one camera, None where it cannot be lifted (no intrinsics or extrinsic)."""
        intr = intr or self.calibration.intrinsics.get(frame_id)
        if intr is None or not self.calibration.has_frame(frame_id):
            return None
        key = (
            frame_id,
            int(intr.width),
            int(intr.height),
            np.asarray(intr.K).tobytes(),
            np.asarray(intr.D).tobytes(),
        )
        if key not in self._cache:
            self._cache[key] = camera_lift_grid(self.grid, self.calibration.T_base_from(frame_id), intr)
        return key

    def for_camera(self, frame_id: str, intr: CameraIntrinsics | None) -> tuple[np.ndarray, np.ndarray]:
        key = self._key(frame_id, intr)
        return self._none if key is None else self._cache[key]

    def for_slots(
        self, frames: dict[str, CameraFrame], slots: list[str], frame_ids: dict[str, str]
    ) -> tuple[tuple, np.ndarray, np.ndarray]:
        """Rig key, (Nc, K*H, W, 2) grids and (Nc, K*H, W) masks; a slot without a frame uses its
        configured frame id. The same rig key always comes with the same (cached) arrays."""
        keys = []
        for name in slots:
            f = frames.get(name)
            fid = f.frame_id if f is not None else frame_ids.get(name, name)
            keys.append(self._key(fid, f.intrinsics if f is not None else None))
        rig = tuple(keys)
        if rig not in self._stacks:
            pairs = [self._none if k is None else self._cache[k] for k in keys]
            self._stacks[rig] = (np.stack([g for g, _ in pairs]), np.stack([v for _, v in pairs]))
        return (rig, *self._stacks[rig])


def encode(
    grid: BevGrid, inputs: BevInputs, intensity_full_scale: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LiDAR raster, radar raster and (lidar, camera, radar) presence without the camera flag."""
    present = np.zeros(3, np.float32)
    lid = lidar_raster(grid, inputs.lidar_xyz, inputs.lidar_intensity, intensity_full_scale)
    present[0] = float(inputs.has_lidar)
    if inputs.has_radar:
        rad = radar_raster(grid, inputs.radar_xyz, inputs.radar_doppler, inputs.radar_los, inputs.radar_rcs)
        present[2] = 1.0
    else:
        rad = radar_raster(grid, None, None, None, None)
    return lid, rad, present


def encode_frame(
    grid: BevGrid,
    inputs: BevInputs,
    slots: list[str],
    image_wh: tuple[int, int],
    intensity_full_scale: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Everything per frame the network reads, as numpy: LiDAR raster, radar raster, camera images,
    per-camera present flags and (lidar, camera, radar) presence. Training samples and live
    inference both come through here (``intensity_full_scale``: :func:`lidar_raster`'s)."""
    lid, rad, present = encode(grid, inputs, intensity_full_scale)
    imgs, cam_present = camera_images(inputs.cameras, slots, image_wh)
    present[1] = float(cam_present.any())
    return lid, rad, imgs, cam_present, present


class BevDetector:
    """Loads the network once; :meth:`detect` maps one frame's :class:`BevInputs` to detections."""

    def __init__(
        self,
        calibration: Calibration,
        camera_slots: list[str],
        camera_frame_ids: dict[str, str] | None = None,
        config: BevDetectorConfig | None = None,
        base_frame: str = "base_link",
        doppler_std_mps: float = 0.14,
        ground: LidarDetectorConfig | None = None,
    ):
        """``doppler_std_mps``: noise of the ego-compensated Doppler (the radar's and the ego
        velocity's), for the test of the network's velocity against the returns on its box.
        ``ground``: the classical LiDAR detector's settings with the LiDAR's position, whose ground
        model says which boxes are road (``road_boxes``, ``bev.min_height_over_road_m``); None (or
        no position): no box is dropped as road."""
        self.config = config or BevDetectorConfig()
        self.config.validate()
        path = Path(self.config.weights) if self.config.weights else DEFAULT_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"BEV weights not found: {path} (train them with 'sensor-fusion train')")
        ckpt = load_checkpoint(path)
        self.meta = ckpt["meta"]
        if self.meta.get("output_stride", OUTPUT_STRIDE) != OUTPUT_STRIDE:
            raise WeightsError(
                f"{path}: trained with output stride {self.meta['output_stride']}, code has {OUTPUT_STRIDE}"
            )
        try:  # a checkpoint from another code version: its meta or tensors do not fit this network
            self.grid = BevGrid.from_dict(self.meta["grid"])
            self.image_wh = tuple(int(v) for v in self.meta["image_wh"])
            model = build_model(self.meta)
            model.load_state_dict(ckpt["model"])
        except Exception as exc:
            raise WeightsError(f"{path}: does not fit this network ({type(exc).__name__}: {exc})") from exc
        want = self.config.device
        if want == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("bev.device is cuda but torch sees no CUDA device")
        self.device = torch.device(
            "cuda" if want in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        )
        self.dtype = torch.float16 if self.device.type == "cuda" and self.config.fp16 else torch.float32
        if self.device.type == "cpu" and self.config.threads > 0:
            torch.set_num_threads(self.config.threads)
        self.model = model
        self.model.eval().to(self.device, self.dtype)
        self.backend = "torch"
        self._net = self.model
        if self.device.type == "cpu" and self.config.backend in ("auto", "onnxruntime"):
            from .ort_backend import load as load_ort

            ort_net, where = load_ort(self.model, self.meta, path, torch.get_num_threads())
            if ort_net is not None:
                self.backend, self._net = "onnxruntime", ort_net
            else:  # the same network on torch: slower, never wrong
                log.warning("BEV network stays on torch: ONNX Runtime unavailable (%s)", where)
        self.slots = list(camera_slots) or ["_none"]  # at least one (always-invalid) slot keeps shapes fixed
        self.frame_ids = dict(camera_frame_ids or {})
        self.head_grid = self.grid.coarse(OUTPUT_STRIDE)  # network output and camera lift grid
        self.lift = LiftCache(self.head_grid, calibration)
        self.base_frame = base_frame
        self.doppler_std_mps = float(doppler_std_mps)
        self.velocities_refuted = 0  # boxes whose velocity the Doppler on them contradicted
        self.road_boxes_dropped = 0  # boxes whose LiDAR returns all lie on the road (road_boxes)
        self.ground = ground
        g = self.grid
        self._half_m = max(-g.x_min_m, g.x_max_m, -g.y_min_m, g.y_max_m)
        self.decode_config = DecodeConfig(score_threshold=self.config.score_threshold)
        self.pos_std = np.asarray(self.meta.get("pos_std_m", [0.3] * 5))
        self.vel_std = np.asarray(self.meta.get("vel_std_mps", [1.0] * 5))
        self.last_timing: dict[str, float] = {}
        self._grid_rig: tuple | None = None
        self._grid_t: torch.Tensor | None = None
        log.info("BEV network on %s (%s, %s), weights %s", self.device, self.dtype, self.backend, path)

    def tensors(self, inputs: BevInputs) -> tuple[torch.Tensor, ...]:
        lid, rad, imgs, cam_present, present = encode_frame(
            self.grid, inputs, self.slots, self.image_wh, self.config.intensity_full_scale
        )
        rig, g, v = self.lift.for_slots(inputs.cameras, self.slots, self.frame_ids)
        dev, dt = self.device, self.dtype

        def t(a: np.ndarray) -> torch.Tensor:
            # copy first, cast on the device: .to(dev, dt) casts on the host (torch's copy across
            # devices converts on the source side), which made the fp16 rasters cost 15 ms of CPU
            # per frame in the pipeline against 3 ms in fp32 (bench/bench_gpu.py, H200)
            return torch.from_numpy(np.ascontiguousarray(a)).to(dev).to(dt)

        if rig != self._grid_rig:  # the sampling grid moves to the device once per rig, not per frame
            self._grid_rig, self._grid_t = rig, t(g)
        images = torch.from_numpy(imgs).to(dev).permute(0, 3, 1, 2).to(dt).div_(255.0).unsqueeze(0)
        return (
            t(lid[None]),
            t(rad[None]),
            images,
            self._grid_t,
            t((v * cam_present[:, None, None])[None]),
            t(present[None]),
        )

    def detect(self, inputs: BevInputs, lidar_ground: SweepGround | None = None) -> Detections:
        """Boxes (base_link) from one frame's inputs. ``lidar_ground``: the classical detector's
        ground model of the same LiDAR sweep (``LidarDetector.last_ground``), for the road test to
        read instead of computing it again; None: the test computes its own."""
        t0 = time.perf_counter()
        road = None
        raw_xyz = inputs.lidar_xyz
        if self.config.level_road and raw_xyz is not None:
            road = road_surface(raw_xyz)
            if road is not None:
                inputs = dataclasses.replace(inputs, lidar_xyz=level(raw_xyz, road, LEVEL_DEADBAND_M))
        args = self.tensors(inputs)
        t1 = time.perf_counter()
        with torch.inference_mode():
            head = self._net(*args)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            det = decode(
                head,
                self.head_grid,
                inputs.stamp_ns,
                self.base_frame,
                self.decode_config,
                self.pos_std,
                self.vel_std,
            )
            observed, supported, sight = velocity_support(
                det,
                inputs.radar_xyz,
                self.grid.resolution_m,
                inputs.radar_doppler,
                inputs.radar_los,
                self.doppler_std_mps,
                self.config.velocity_gate_sigma,
            )
            self.velocities_refuted += int((observed & ~supported).sum())
            det = without_velocity(det, ~supported)
            if self.config.velocity_radial_only:
                det = radial_velocity_only(det, sight)
            if road is not None and len(det):  # heights over the road back to base_link
                det.centers[:, 2] += surface_height(
                    road, det.centers[:, 0], det.centers[:, 1], LEVEL_DEADBAND_M
                )
            on_road = road_boxes(
                det, raw_xyz, self.config.min_height_over_road_m, self._half_m, self.ground, lidar_ground
            )
            if on_road.any():
                self.road_boxes_dropped += int(on_road.sum())
                det = det.select(~on_road)
        t3 = time.perf_counter()
        self.last_timing = {"raster": t1 - t0, "network": t2 - t1, "decode": t3 - t2}
        return det

    def warm_up(self) -> None:
        """One empty frame through every stage (kernel compile, allocator, cuDNN autotune)."""
        self.detect(BevInputs(0, lidar_xyz=np.zeros((1, 3), np.float32)))
