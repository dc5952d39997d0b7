"""sensor_fusion: real-time multimodal sensor fusion for ROS 2 (camera, LiDAR, radar, IMU, GPS)."""

import os

# One BLAS thread (before numpy loads OpenBLAS; an explicit setting wins). The pipeline's products
# are tall and skinny (N x 3 points @ 3 x 3): threads buy nothing there, and OpenBLAS's spinning
# threads fight the executor, the replay and numba for the cores. Measured on the 2-core host,
# loaded: 120k points @ R.T 106 ms with its default threads, 0.33 ms with one (docs/benchmarks.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
