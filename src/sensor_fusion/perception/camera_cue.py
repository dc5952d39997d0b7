"""Class cue from an image patch: colour and shape features, and a tiny numpy MLP.

Why this shape: the camera only has to say "what does the patch under this 3D box
look like", per box, for tens of boxes per frame. A fixed grid of samples per
patch (gathered in one fancy index over all boxes), HSV histograms of those samples
and a two-layer MLP cost well under a millisecond for 30 boxes on a CPU, need no
torch at run time and train in a minute from simulator renders
(``scripts/train_camera_cue.py``). Hue separates the simulator's class colours,
saturation and value bins catch background (sky, asphalt, verge, wheels,
windows), and the patch aspect ratio and pixel height carry silhouette shape.
The feature definition is versioned in ``FEATURE_SPEC``, which the weights file
must repeat, so a stale model fails loudly instead of predicting nonsense.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.classes import NUM_CLASSES
from ..core.weights import WeightsError

HUE_BINS = 18  # OpenCV hue 0..179 in 10-degree bins
SAT_LOW = 50  # saturation (0..255) from which a sample counts as coloured
SAT_HIGH = 120  # ... and from which it counts as strongly coloured (separate hue bins)
VAL_MIN = 40  # darker samples are achromatic whatever their saturation (noise dominates hue)
VALUE_BINS = 4  # achromatic samples binned by value
NUM_BINS = 2 * HUE_BINS + VALUE_BINS
NUM_FEATURES = 2 * NUM_BINS + 2  # whole-patch and centre histograms, log aspect, log height
FEATURE_VERSION = 1
FEATURE_SPEC = np.array([FEATURE_VERSION, HUE_BINS, SAT_LOW, SAT_HIGH, VAL_MIN, VALUE_BINS], np.int64)

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "camera_cue.npz"


def sample_grid(n_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-square sample offsets (S, 2) at cell centres, and the mask of the central half."""
    t = (np.arange(n_side) + 0.5) / n_side
    gx, gy = np.meshgrid(t, t)
    uv = np.column_stack([gx.ravel(), gy.ravel()])
    inner = np.all(np.abs(uv - 0.5) < 0.25, axis=1)
    return uv, inner


def patch_features(
    bgr: np.ndarray, weight: np.ndarray, inner: np.ndarray, box_wh_px: np.ndarray
) -> np.ndarray:
    """Features (n, NUM_FEATURES) of n patches given as S grid samples each.

    ``bgr`` (n, S, 3) uint8 samples, ``weight`` (n, S) in [0, 1] (0 where a nearer
    box hides the sample), ``inner`` (S,) the central-region mask, ``box_wh_px``
    (n, 2) the patch width and height in pixels.
    """
    n, s = weight.shape
    if n == 0:
        return np.zeros((0, NUM_FEATURES))
    hsv = cv2.cvtColor(np.ascontiguousarray(bgr, np.uint8).reshape(1, n * s, 3), cv2.COLOR_BGR2HSV)
    h, sat, val = (hsv[0, :, k].astype(np.int64) for k in range(3))
    coloured = (sat >= SAT_LOW) & (val >= VAL_MIN)
    hue_bin = np.minimum(h * HUE_BINS // 180, HUE_BINS - 1) + HUE_BINS * (sat >= SAT_HIGH)
    val_bin = 2 * HUE_BINS + np.minimum(val * VALUE_BINS // 256, VALUE_BINS - 1)
    bins = np.where(coloured, hue_bin, val_bin) + NUM_BINS * np.repeat(np.arange(n), s)
    w = np.asarray(weight, np.float64)
    w = np.where(w.sum(1, keepdims=True) > 0, w, 1.0)  # fully hidden: describe what is there
    hist_all = np.bincount(bins, w.ravel(), n * NUM_BINS).reshape(n, NUM_BINS)
    w_in = w * inner[None, :]
    w_in = np.where(w_in.sum(1, keepdims=True) > 0, w_in, w)
    hist_in = np.bincount(bins, w_in.ravel(), n * NUM_BINS).reshape(n, NUM_BINS)
    hist_all /= hist_all.sum(1, keepdims=True)
    hist_in /= hist_in.sum(1, keepdims=True)
    wh = np.maximum(np.asarray(box_wh_px, np.float64), 1.0)
    geom = np.column_stack([np.log(wh[:, 1] / wh[:, 0]), np.log(wh[:, 1] / 100.0)])
    return np.hstack([hist_all, hist_in, geom])


@dataclass
class CueModel:
    """Standardise -> [dense + ReLU] -> dense -> softmax over ``classes`` (ObjectClass values).

    ``W1`` may be empty (shape (F, 0)): then the model is multinomial logistic
    regression with ``W2`` of shape (F, K).
    """

    classes: np.ndarray  # (K,) int64 ObjectClass values the model was trained on
    mu: np.ndarray  # (F,)
    sd: np.ndarray  # (F,)
    W1: np.ndarray  # (F, H)
    b1: np.ndarray  # (H,)
    W2: np.ndarray  # (H or F, K)
    b2: np.ndarray  # (K,)

    @classmethod
    def load(cls, path: str | Path) -> CueModel:
        """The model in an ``.npz`` from :meth:`save`; WeightsError if the file is not one."""
        try:
            return cls._load(path)
        except WeightsError:
            raise
        except Exception as exc:  # whatever a truncated or foreign file makes the reader raise
            raise WeightsError(
                f"camera cue model {path} is unreadable ({type(exc).__name__}: {exc})"
            ) from exc

    @classmethod
    def _load(cls, path: str | Path) -> CueModel:
        z = np.load(path, allow_pickle=False)  # never unpickles: no code runs from the file
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise WeightsError(f"camera cue model {path} is not an .npz archive")
        with z:
            spec = z["feature_spec"] if "feature_spec" in z.files else None
            if spec is None or spec.shape != FEATURE_SPEC.shape or not np.array_equal(spec, FEATURE_SPEC):
                raise WeightsError(
                    f"camera cue model {path} was trained on features {spec}, this code computes "
                    f"{FEATURE_SPEC}: retrain with scripts/train_camera_cue.py"
                )
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise WeightsError(f"camera cue model {path} lacks {missing}")
            arrays = [np.asarray(z[k]) for k in _KEYS]
        if arrays[0].dtype.kind not in "iu" or any(a.dtype.kind != "f" for a in arrays[1:]):
            raise WeightsError(f"camera cue model {path}: classes must be integers, the rest floats")
        m = cls(*arrays)
        m.classes = m.classes.astype(np.int64)
        F, K = NUM_FEATURES, m.classes.shape[0] if m.classes.ndim == 1 else -1
        H = m.W1.shape[1] if m.W1.ndim == 2 else -1
        ok = (
            K > 0
            and H >= 0
            and m.mu.shape == (F,)
            and m.sd.shape == (F,)
            and m.W1.shape == (F, H)
            and m.b1.shape == (H,)
            and m.W2.shape == ((H if H else F), K)
            and m.b2.shape == (K,)
            and np.all((m.classes >= 0) & (m.classes < NUM_CLASSES))
            and np.unique(m.classes).size == K
            and all(np.isfinite(a).all() for a in arrays[1:])
            and np.all(m.sd > 0)
        )
        if not ok:
            raise WeightsError(f"camera cue model {path} has inconsistent array shapes, classes or values")
        return m

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            feature_spec=FEATURE_SPEC,
            **{k: np.asarray(getattr(self, k), np.int64 if k == "classes" else np.float32) for k in _KEYS},
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, K) probabilities over ``classes``."""
        z = (np.asarray(features, np.float64) - self.mu) / self.sd
        if self.W1.shape[1]:
            z = np.maximum(z @ self.W1 + self.b1, 0.0)
        logits = z @ self.W2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def full_probs(self, features: np.ndarray) -> np.ndarray:
        """(n, NUM_CLASSES) probabilities; classes the model never saw get 0."""
        out = np.zeros((features.shape[0], NUM_CLASSES))
        out[:, self.classes] = self.predict_proba(features)
        return out


_KEYS = ("classes", "mu", "sd", "W1", "b1", "W2", "b2")
