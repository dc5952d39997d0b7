"""Run-time settings of the BEV network (torch-free, so validating a config never imports torch)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.schema import ParamConfig, param


@dataclass
class BevDetectorConfig(ParamConfig):
    weights: str = param(
        "", unit="", desc='Network weights (.pt); "": the shipped model, sensor_fusion/models/bev_fusion.pt'
    )
    device: str = param(
        "auto",
        unit="",
        choices=("auto", "cpu", "cuda"),
        desc="auto: CUDA (fp16) when torch sees a GPU, else CPU",
    )
    fp16: bool = param(True, unit="", desc="Half precision on CUDA (ignored on CPU)")
    backend: str = param(
        "auto",
        unit="",
        choices=("auto", "torch", "onnxruntime"),
        desc="auto: torch on CUDA, ONNX Runtime on the CPU when importable (the same graph; network p50 "
        "40.7 -> 27.0 ms in the pipeline on the 2-core host, bev/ort_backend.py), else torch",
    )
    score_threshold: float = param(
        0.1,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Detections are published on ~/detections/bev (and scored by AP) from this score",
    )
    track_min_score: float = param(
        0.3, unit="1", ge=0.0, le=1.0, desc="Detections are given to the tracker from this score"
    )
    threads: int = param(0, unit="1", ge=0, desc="Torch CPU threads (0: torch's default)")
    intensity_full_scale: float = param(
        0.0,
        unit="1",
        ge=0.0,
        desc="The LiDAR intensity that means a full return: 255 for 8-bit drivers (Velodyne, Hesai, "
        "Livox, Ouster reflectivity), 1 for KITTI's 0-1, 65535 for 16-bit fields; the network reads "
        "intensity / this, clipped to [0, 1]. 0: inferred per cloud from its largest value "
        "(<= 1.5: 1, <= 255.5: 255, else 65535)",
    )
    edge_margin_m: float = param(
        2.0,
        unit="m",
        ge=0.0,
        desc="detection_mode both: the network covers its grid less this margin, the classical "
        "detectors the rest (no object detected twice)",
    )

    level_road: bool = param(
        False,
        unit="",
        desc="Slice the LiDAR heights over a road surface fitted to the sweep's lowest returns "
        "(bev/level.py), where it is more than 0.1 m off z = 0 of base_link: the shipped network was "
        "trained on flat roads, and on a steep street it boxes the road uphill (docs/bev.md, session 34). "
        "Box heights are put back on the road. Off by default: with KITTI's LiDAR on graded streets it "
        "adds boxes on trees and poles",
    )
    min_height_over_road_m: float = param(
        0.5,
        unit="m",
        ge=0.0,
        desc="A box whose footprint, grown by 1 m, holds at least 3 LiDAR returns up to 2.5 m over the "
        "ground (crowns and signs hang higher), most on ground the sensor sees (no nearer object's "
        "shadow over it), and none this high over the ground (the classical detector's ground model) "
        "is the road and is dropped (bev/road_boxes.py): where the "
        "street rises ahead, road returns fill the slices where bodies are and the network boxes them "
        "(docs/bev.md, session 36). Every class stands about 1 m or more; kerbs 0.1-0.2 m. 0: off",
    )
    velocity_gate_sigma: float = param(
        3.0,
        unit="1",
        ge=0.0,
        desc="A box keeps the network's velocity only if a radar return on it reads its radial "
        "component within this many standard deviations (Doppler noise and the box's velocity "
        "covariance); elsewhere the velocity is not measured (the head answers with its class's "
        "typical speed); 0: any return on the box will do",
    )
    velocity_radial_only: bool = param(
        False,
        unit="",
        desc="Keep of a supported velocity only its component along the line of sight of the "
        "returns that read it; across it nothing in one frame measures motion and the head answers "
        "with its training set's prior (a crossing car at 0 m/s). Off: the open roads gain, the "
        "canyon's velocity error rises (docs/bev.md, session 38)",
    )

    def cross_checks(self) -> list[str]:
        if self.score_threshold > self.track_min_score:
            return ["score_threshold: must be <= track_min_score"]
        return []
