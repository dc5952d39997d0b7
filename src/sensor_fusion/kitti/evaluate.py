"""CLEAR MOT, HOTA and IDF1 of KITTI-format tracking results with TrackEval.

``similarity="iou2d"`` (default) is KITTI's official tracking metric as TrackEval's ``Kitti2DBox``
implements it: 2D box IoU in image 2, a match needs IoU >= 0.5 (CLEAR, Identity), HOTA averages
over IoU thresholds 0.05-0.95. ``similarity="bev"`` keeps everything else and compares boxes by
their bird's-eye-view centre distance ``d`` (camera x, z) instead: similarity
``max(0, 1 - d / (2 * gate))``, so TrackEval's 0.5 threshold is a ``gate`` metre match (2 m
default, as this project's own evaluation and 3D MOT benchmarks match centres).

Evaluation region and DontCare (TrackEval's KITTI preprocessing, both modes): classes ``car``
and ``pedestrian`` are scored separately (a ``Van`` truth is a distractor for car, ``Person``
sitting for pedestrian); truth that is truncated (level > 0) or occluded at level 3 (unknown) is
a distractor too: a track matched to a distractor is removed, the distractor is not counted.
Unmatched tracks more than half inside a ``DontCare`` box, or under 25 px tall, are removed. The
region is therefore image 2 where labels exist: tracks with no truth anywhere near still count as
false positives. Files: ``labels/label_02/<seq>.txt`` (or ``labels/<seq>.txt``) and
``results/<seq>.txt``; the number of frames per sequence is the largest frame index in either
plus one, unless ``labels/evaluate_tracking.seqmap.training`` gives it.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from .formats import read_tracking_file, sequence_files

CLASSES = ("car", "pedestrian")
SIMILARITIES = ("iou2d", "bev")
SEQMAP = "evaluate_tracking.seqmap.training"


def _dataset_class(similarity: str, gate_m: float):
    from trackeval.datasets import Kitti2DBox

    if similarity == "iou2d":
        return Kitti2DBox

    class Kitti3DCentre(Kitti2DBox):
        """Kitti2DBox with boxes compared by BEV centre distance (columns x, z of label_02)."""

        def _load_simple_text_file(self, *args, **kwargs):
            read, ignore = Kitti2DBox._load_simple_text_file(*args, **kwargs)
            self._last_read = read
            return read, ignore

        def _load_raw_file(self, tracker, seq, is_gt):
            raw = super()._load_raw_file(tracker, seq, is_gt)
            read = self._last_read
            key = "gt_dets" if is_gt else "tracker_dets"
            for t in range(raw["num_timesteps"]):
                rows = read.get(str(t))
                if rows:
                    a = np.asarray(rows, dtype=object)
                    xz = a[:, [13, 15]].astype(float)
                    raw[key][t] = np.column_stack([np.atleast_2d(raw[key][t]), xz])
                else:
                    raw[key][t] = np.empty((0, 6))
            return raw

        @staticmethod
        def _calculate_box_ious(bboxes1, bboxes2, box_format="xywh", do_ioa=False):
            return Kitti2DBox._calculate_box_ious(bboxes1[:, :4], bboxes2[:, :4], box_format, do_ioa)

        def _calculate_similarities(self, gt_dets_t, tracker_dets_t):
            g, t = np.atleast_2d(gt_dets_t), np.atleast_2d(tracker_dets_t)
            if g.shape[0] == 0 or t.shape[0] == 0:
                return np.zeros((g.shape[0], t.shape[0]))
            d = np.hypot(g[:, None, 4] - t[None, :, 4], g[:, None, 5] - t[None, :, 5])
            return np.maximum(0.0, 1.0 - d / (2.0 * gate_m))

    return Kitti3DCentre


def _label_files(labels_dir: Path) -> dict[str, Path]:
    sub = labels_dir / "label_02"
    return sequence_files(sub if sub.is_dir() else labels_dir)


def _seq_lengths(labels_dir: Path, labels: dict[str, Path], results: dict[str, Path]) -> dict[str, int]:
    seqmap = labels_dir / SEQMAP
    given = {}
    if seqmap.exists():
        for line in seqmap.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[3].isdigit():
                given[parts[0]] = int(parts[3])
    out = {}
    for seq, path in labels.items():
        n = 0
        for p in (path, results.get(seq)):
            if p is not None:
                f = read_tracking_file(p).objects.frame
                n = max(n, int(f.max()) + 1 if f.size else 0)
        out[seq] = max(n, given.get(seq, 0))
    return out


def _clean_copy(src: Path, dst: Path) -> None:
    """Only well-formed rows (read_tracking_file logs and drops the others), written back as label_02."""
    from .formats import write_tracking_file

    objs = read_tracking_file(src).objects
    write_tracking_file(dst, objs, with_score=bool(len(objs)) and not np.isnan(objs.score).all())


def evaluate_kitti(
    labels_dir: str | Path,
    results_dir: str | Path,
    similarity: str = "iou2d",
    gate_m: float = 2.0,
    classes: tuple[str, ...] = CLASSES,
    quiet: bool = True,
) -> dict[str, dict[str, float]]:
    """Per class: HOTA, DetA, AssA, MOTA, MOTP, IDSW, IDF1, precision, recall, num_gt, num_tracks.

    Sequences are those with a label file; a missing results file counts as an empty one.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # it prints about optional datasets it cannot load
        import trackeval

    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    labels_dir, results_dir = Path(labels_dir), Path(results_dir)
    labels = _label_files(labels_dir)
    if not labels:
        raise FileNotFoundError(f"{labels_dir}: no label files (<seq>.txt, or label_02/<seq>.txt)")
    results = sequence_files(results_dir)
    lengths = _seq_lengths(labels_dir, labels, results)
    with tempfile.TemporaryDirectory(prefix="kitti_eval_") as tmp:
        gt = Path(tmp) / "gt"
        trk = Path(tmp) / "trackers" / "tracker" / "data"
        (gt / "label_02").mkdir(parents=True)
        trk.mkdir(parents=True)
        with open(gt / SEQMAP, "w") as f:
            for seq, n in lengths.items():
                f.write(f"{seq} empty 000000 {n:06d}\n")
                _clean_copy(labels[seq], gt / "label_02" / f"{seq}.txt")
                if seq in results:
                    _clean_copy(results[seq], trk / f"{seq}.txt")
                else:
                    (trk / f"{seq}.txt").write_text("")
        ev_cfg = {
            **trackeval.Evaluator.get_default_eval_config(),
            "USE_PARALLEL": False,
            "PRINT_RESULTS": not quiet,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
            "LOG_ON_ERROR": None,
            "DISPLAY_LESS_PROGRESS": True,
        }
        ds_cls = _dataset_class(similarity, gate_m)
        ds_cfg = {
            **ds_cls.get_default_dataset_config(),
            "GT_FOLDER": str(gt),
            "TRACKERS_FOLDER": str(Path(tmp) / "trackers"),
            "TRACKERS_TO_EVAL": ["tracker"],
            "CLASSES_TO_EVAL": list(classes),
            "SPLIT_TO_EVAL": "training",
            "PRINT_CONFIG": False,
        }
        metrics = [
            trackeval.metrics.HOTA(),
            trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"PRINT_CONFIG": False}),
        ]
        dataset = ds_cls(ds_cfg)
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            res, msg = trackeval.Evaluator(ev_cfg).evaluate([dataset], metrics)
        name = dataset.get_name()
        status = msg[name]["tracker"]
        if status != "Success":
            raise RuntimeError(f"TrackEval failed: {status}")
    out = {}
    for cls in classes:
        r = res[name]["tracker"]["COMBINED_SEQ"][cls]
        h, c, i = r["HOTA"], r["CLEAR"], r["Identity"]
        out[cls] = {
            "hota": float(np.mean(h["HOTA"])),
            "deta": float(np.mean(h["DetA"])),
            "assa": float(np.mean(h["AssA"])),
            "mota": float(c["MOTA"]),
            "motp": float(c["MOTP"]),
            "idsw": int(c["IDSW"]),
            "idf1": float(i["IDF1"]),
            "precision": float(c["CLR_Pr"]),
            "recall": float(c["CLR_Re"]),
            "num_gt": int(c["CLR_TP"] + c["CLR_FN"]),
            "num_tracks": int(c["CLR_TP"] + c["CLR_FP"]),
        }
    return out
