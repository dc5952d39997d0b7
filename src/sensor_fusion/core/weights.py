"""The one error every weights loader raises for a file it cannot use.

Weights files (the BEV network's ``.pt``, the camera cue's ``.npz``) come from training runs,
downloads and copies; a truncated copy, a file of another kind, or one from an older code
version must stop the node at start with one message naming the file, not a pickle or zip
traceback. Loading never executes code from the file (``torch.load(weights_only=True)``,
``np.load(allow_pickle=False)``).
"""

from __future__ import annotations


class WeightsError(ValueError):
    """A weights file that is unreadable, truncated, or not what the code expects."""
