"""Fusing wheel odometry and GNSS velocity (models in :mod:`.velocity_inputs`): gates, the
heading-free updates before yaw is known, the GNSS-course alignment, and the counters
``wheel_accepted`` / ``wheel_rejected``, ``gnss_vel_accepted`` / ``gnss_vel_rejected``,
``yaw_aligned_gnss_velocity``, and ``vel_heading_unknown`` (before the heading is known, a
measurement with nothing heading-free to fuse: moving while the filter's course is unknown;
a wheel sample still extends the odometry track)."""

from __future__ import annotations

import numpy as np

from . import wheel_scale
from .alignment import Aligner, align_to_heading
from .config import EgoConfig
from .measurements import Updater, body_velocity
from .state import FilterState, Measurement
from .track_align import add_wheel
from .velocity_inputs import gnss_course, gnss_velocity_model, reseed_velocity, speed_model, wheel_unaligned

__all__ = ["VelocityUpdater"]


class VelocityUpdater:
    """Applies wheel and GNSS velocity measurements through ``updater`` (gates, the last
    correction) and ``aligner`` (alignment bookkeeping); ``counters`` shared with the estimator."""

    def __init__(
        self,
        config: EgoConfig,
        lever_gps: np.ndarray,
        counters: dict[str, int],
        updater: Updater,
        aligner: Aligner,
    ) -> None:
        self.config = config
        self.scale_prior = wheel_scale.ScalePrior.of(config)  # the wheel scale's priors (fixed config)
        self._lever = lever_gps
        self._counters = counters
        self._updater = updater
        self._aligner = aligner

    def _count(self, m: Measurement, name: str) -> bool:
        if m.first:
            self._counters[f"{name}_accepted" if m.result else f"{name}_rejected"] += 1
        return m.result

    def wheel(self, s: FilterState, m: Measurement) -> bool:
        """Body velocity once yaw is known; before, heading-free speed / standstill and the
        odometry track (:mod:`.track_align`)."""
        c = self.config
        s.wheel_vb = m.z
        if c.wheel_scale_std > 0.0:
            wheel_scale.add_wheel(s, m.stamp_ns, m.z, self.scale_prior)
        if s.aligned:
            lin = body_velocity(s, wheel_scale.corrected(s, m) if c.wheel_scale_std > 0.0 else m)
        else:
            # heading-free (speed, standstill, the odometry track): the raw wheel speed, its scale
            # error inside the fallback std; dividing by the prior mean here shortens the track by
            # it and delays the heading by a fix on 9 of 30 robot dev seeds (session 46)
            add_wheel(s, m.stamp_ns, m.z, c.align_track_window_s)
            lin = wheel_unaligned(s, m, c.wheel_zero_speed_mps, c.unalign_yaw_std_rad)
        if lin is None:  # before the heading: only the track (stored above) could use it
            return self._unused(m)
        m.result = self._updater.correct_gated(s, lin)
        return self._count(m, "wheel")

    def _unused(self, m: Measurement) -> bool:
        """Nothing heading-free to fuse before alignment: counted apart from the gated ones."""
        m.result = False
        if m.first:
            self._counters["vel_heading_unknown"] += 1
        return False

    def gnss_velocity(self, s: FilterState, m: Measurement) -> bool:
        """World velocity once yaw is known; before, its course aligns the heading when fast
        and precise enough, else its speed is used."""
        c = self.config
        if s.aligned:
            m.result = self._updater.correct_gated(s, gnss_velocity_model(s, m, self._lever))
            return self._count(m, "gnss_vel")
        crs = gnss_course(s, m, self._lever)
        if crs is None:  # no horizontal velocity: nothing heading-free to use
            return self._unused(m)
        if crs[2] >= c.align_gnss_velocity_min_speed_mps and crs[1] <= c.align_max_std_rad**2:
            course, var, _, sp_var = crs
            align_to_heading(s, course, max(var, c.align_min_std_rad**2), self._lever)
            reseed_velocity(s, m.z[:2], sp_var + var * float(m.z[0] ** 2 + m.z[1] ** 2))
            m.result = True
            self._aligner.aligned(s, m, "yaw_aligned_gnss_velocity")
            return self._count(m, "gnss_vel")
        lin = speed_model(s, crs[2], crs[3], c.unalign_yaw_std_rad)
        if lin is None:
            return self._unused(m)
        m.result = self._updater.correct_gated(s, lin)
        return self._count(m, "gnss_vel")
