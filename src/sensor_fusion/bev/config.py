"""Run-time settings of the BEV network (torch-free, so validating a config never imports torch)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.configs import strict_from_dict


@dataclass
class BevDetectorConfig:
    weights: str = ""  # "" -> the shipped model (sensor_fusion/models/bev_fusion.pt)
    device: str = "auto"  # auto (CUDA when available) | cpu | cuda
    fp16: bool = True  # half precision on CUDA (ignored on CPU)
    score_threshold: float = 0.1  # detections published (and scored by AP) from this score
    track_min_score: float = 0.3  # detections the tracker receives from this score
    threads: int = 0  # torch CPU threads, 0: torch's default

    def validate(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"bev.device must be auto, cpu or cuda, got {self.device!r}")
        if not 0.0 <= self.score_threshold <= self.track_min_score <= 1.0:
            raise ValueError("bev: need 0 <= score_threshold <= track_min_score <= 1")

    @classmethod
    def from_dict(cls, d: dict) -> BevDetectorConfig:
        return strict_from_dict(cls, d)
