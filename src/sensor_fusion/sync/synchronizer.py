"""Never-blocking multi-sensor time alignment.

Unlike ``message_filters``' ApproximateTimeSynchronizer, which fires only when
every input has arrived, this one emits one :class:`FusionFrame` per *anchor*
message (a LiDAR sweep by default) and waits for the other sensors at most a
per-sensor timeout. Time is *data time*: the newest stamp seen on any sensor
(the high-water mark), so replays at any rate and offline runs give identical
frames; live nodes may also advance it with their clock via :meth:`poll`.

Sensors are matched in one of two ways:

* ``nearest`` (cameras, radars, extra LiDARs): the message whose stamp (plus the
  sensor's ``offset_ns``) is nearest the anchor stamp within ``tolerance_ns``.
  It is final once a message at or after the anchor has arrived, or the
  timeout has passed.
* ``interval`` (IMU, GPS): every not-yet-delivered sample stamped at or before
  the anchor. Samples that arrive after their interval was emitted are
  delivered with the next frame (the ego filter handles late data) instead of
  being lost.

When the anchor falls silent (no message for ``anchor_timeout_ns`` of data time while other
sensors go on), frames are anchored on the first ``fallback`` sensor that is still publishing, and
on the configured anchor again as soon as it publishes past the last emitted frame: a dead LiDAR
must not stop the output while the cameras and radars still see. Every switch is counted and
listed in :attr:`Synchronizer.anchor_changes` (newest last) so the caller can say so once.

Everything dropped is counted per sensor and reason (see :data:`DROP_REASONS`): every message
pushed is emitted (in a frame), still buffered, or counted; ``time_jump`` counts the old timeline's
messages a jump discarded. A backwards jump of the anchor stamp (bag loop, sim-time reset) clears all
state, and the next frame carries ``reset=True`` so downstream filters reset too. So does a
forward jump between consecutive anchors longer than ``forward_jump_ns`` (a clock jumping
ahead, a bag with an hour cut out): nothing downstream can bridge such a gap, and a tracker
predicting its tracks an hour ahead would let them swallow the new timeline's detections.
The frame's ``jump_ns`` says by how much (signed); :meth:`stats` counts jumps per direction.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

DROP_REASONS = ("duplicate", "stale", "overflow", "late_anchor", "time_jump", "invalid", "future")


@dataclass
class SensorSpec:
    name: str
    kind: str  # lidar | camera | radar | imu | gps
    mode: str = "nearest"  # nearest | interval
    tolerance_ns: int = 50_000_000
    offset_ns: int = 0  # added to stamps before matching (known latency or clock offset)
    timeout_ns: int = 100_000_000  # data time to wait past the anchor for this sensor
    buffer_size: int = 32

    def validate(self) -> None:
        if self.mode not in ("nearest", "interval"):
            raise ValueError(f"sensor '{self.name}': mode must be 'nearest' or 'interval', got '{self.mode}'")
        if self.tolerance_ns < 0 or self.timeout_ns < 0:
            raise ValueError(f"sensor '{self.name}': tolerance and timeout must be >= 0")
        if self.buffer_size < 1:
            raise ValueError(f"sensor '{self.name}': buffer_size must be >= 1")


@dataclass
class FusionFrame:
    """Everything the pipeline needs for one anchor instant."""

    stamp_ns: int
    anchor: str
    kinds: dict[str, str]  # sensor name -> kind, for every configured sensor
    anchor_item: Any = None
    matched: dict[str, Any] = field(default_factory=dict)  # nearest sensors: name -> item
    series: dict[str, list] = field(default_factory=dict)  # interval sensors: name -> items by stamp
    missing: list[str] = field(default_factory=list)  # nearest sensors with no match
    reset: bool = False  # state was cleared (time jump) before this frame
    jump_ns: int = 0  # with reset: this anchor's stamp minus the previous anchor's (signed)

    def of_kind(self, kind: str) -> dict[str, Any]:
        """Matched items of one kind (the anchor included), by sensor name."""
        out = {n: it for n, it in self.matched.items() if self.kinds.get(n) == kind}
        if self.kinds.get(self.anchor) == kind and self.anchor_item is not None:
            out[self.anchor] = self.anchor_item
        return out

    def series_of_kind(self, kind: str) -> list:
        items = []
        for n, its in self.series.items():
            if self.kinds.get(n) == kind:
                items.extend(its)
        return items


class _Buffer:
    """Stamp-sorted bounded buffer of (stamp_ns, item)."""

    __slots__ = ("stamps", "items", "newest")

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.items: list[Any] = []
        self.newest: int | None = None

    def insert(self, stamp: int, item: Any) -> bool:
        i = bisect.bisect_left(self.stamps, stamp)
        if i < len(self.stamps) and self.stamps[i] == stamp:
            return False
        self.stamps.insert(i, stamp)
        self.items.insert(i, item)
        self.newest = stamp if self.newest is None else max(self.newest, stamp)
        return True

    def pop_front(self) -> None:
        self.stamps.pop(0)
        self.items.pop(0)

    def clear(self) -> None:
        self.stamps.clear()
        self.items.clear()
        self.newest = None


class Synchronizer:
    def __init__(
        self,
        sensors: list[SensorSpec],
        anchor: str,
        jump_threshold_ns: int = 1_000_000_000,
        forward_jump_ns: int | None = None,
        fallback: tuple[str, ...] | list[str] = (),
        anchor_timeout_ns: int = 500_000_000,
    ):
        names = [s.name for s in sensors]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate sensor names in {names}")
        if anchor not in names:
            raise ValueError(f"anchor '{anchor}' is not one of the sensors {names}")
        for s in sensors:
            s.validate()
        self.specs = {s.name: s for s in sensors}
        bad = [f for f in fallback if f not in names or f == anchor or self.specs[f].mode != "nearest"]
        if bad:
            raise ValueError(f"fallback anchors {bad} are not other 'nearest' sensors of {names}")
        self.primary = anchor
        self.fallback = tuple(fallback)
        self.anchor_timeout_ns = int(anchor_timeout_ns)
        self.anchor_changes: list[tuple[int, str, str]] = []  # (data time, from, to)
        self._t_first: int | None = None  # first accepted stamp of the current timeline
        self.anchor = anchor
        self.kinds = {s.name: s.kind for s in sensors}
        self.jump_threshold_ns = int(jump_threshold_ns)
        self.forward_jump_ns = None if forward_jump_ns is None else int(forward_jump_ns)
        self.time_jumps = {"backward": 0, "forward": 0}
        self.received: dict[str, int] = defaultdict(int)
        self.dropped: dict[str, dict[str, int]] = {n: dict.fromkeys(DROP_REASONS, 0) for n in names}
        self.missing_count: dict[str, int] = defaultdict(int)
        self.frames_emitted = 0
        self.frames_by_anchor: dict[str, int] = defaultdict(int)  # with drops: every anchor accounted
        self.resets = 0
        self._buffers = {n: _Buffer() for n in names}
        self._last_anchor: int | None = None  # stamp of the last emitted anchor
        self._clock_ns: int | None = None
        self._pending_reset = False
        self._rejumped: set[str] = set()
        self._future: dict[str, int] = {}  # sensor -> last refused future stamp
        self._jump_ns = 0  # of the pending reset

    # -- input -------------------------------------------------------------
    def push(self, name: str, stamp_ns: int, item: Any) -> bool:
        """Buffer one message; False (and a counted drop) when it is refused."""
        spec = self.specs.get(name)
        if spec is None:
            raise KeyError(f"unknown sensor '{name}'")
        self.received[name] += 1
        stamp = int(stamp_ns) + spec.offset_ns
        buf = self._buffers[name]
        if stamp <= 0:
            return self._drop(name, "invalid")
        # A stamp far ahead of everything else (a broken clock) would end all waiting and then
        # force a reset; refuse it unless this sensor's own stream has moved there too. Its own
        # previous stamp counts: a sensor that outlives all the others keeps its steady stream.
        seen = [b.newest for b in self._buffers.values() if b.newest is not None]
        if seen and stamp > max(seen) + self.jump_threshold_ns:
            if self._future.get(name) is None or abs(stamp - self._future[name]) > self.jump_threshold_ns:
                self._future[name] = stamp
                return self._drop(name, "future")
        self._future.pop(name, None)
        if name == self.anchor:
            if self._last_anchor is not None and stamp < self._last_anchor - self.jump_threshold_ns:
                self._jump_ns = stamp - self._last_anchor
                self.time_jumps["backward"] += 1
                self._reset()  # the old timeline's buffered messages: counted as time_jump
            elif self._last_anchor is not None and stamp <= self._last_anchor:
                return self._drop(name, "duplicate" if stamp == self._last_anchor else "late_anchor")
        elif buf.newest is not None and stamp < buf.newest - self.jump_threshold_ns:
            # this sensor jumped back before the anchor did (bag loop): keep its new-timeline
            # messages through the anchor's coming reset instead of calling them stale
            self.dropped[name]["time_jump"] += len(buf.stamps)
            buf.clear()
            self._rejumped.add(name)
        if (
            spec.mode == "nearest"
            and self._last_anchor is not None
            and name not in self._rejumped
            and stamp < self._last_anchor - spec.tolerance_ns
        ):
            return self._drop(name, "stale")
        if not buf.insert(stamp, item):
            return self._drop(name, "duplicate")
        if self._t_first is None:
            self._t_first = stamp
        while len(buf.stamps) > spec.buffer_size:
            buf.pop_front()
            self.dropped[name]["overflow"] += 1
        return True

    def poll(self, now_ns: int) -> None:
        """Let a live clock advance data time (so timeouts fire when every sensor is silent)."""
        self._clock_ns = now_ns if self._clock_ns is None else max(self._clock_ns, now_ns)

    # -- output ------------------------------------------------------------
    def pop_ready(self) -> list[FusionFrame]:
        """Frames whose anchors are complete or timed out, in stamp order."""
        frames = []
        self._choose_anchor()
        abuf = self._buffers[self.anchor]
        while abuf.stamps:
            frame = self._try_assemble(abuf.stamps[0], abuf.items[0], force=False)
            if frame is None:
                break
            abuf.pop_front()
            frames.append(frame)
        return frames

    def flush(self) -> list[FusionFrame]:
        """Emit every buffered anchor without waiting (end of a bag)."""
        frames = []
        abuf = self._buffers[self.anchor]
        while abuf.stamps:
            frames.append(self._try_assemble(abuf.stamps[0], abuf.items[0], force=True))
            abuf.pop_front()
        return frames

    def stats(self) -> dict:
        return {
            "received": dict(self.received),
            "dropped": {n: {k: v for k, v in d.items() if v} for n, d in self.dropped.items()},
            "missing": dict(self.missing_count),
            "frames": self.frames_emitted,
            "frames_by_anchor": dict(self.frames_by_anchor),
            "resets": self.resets,
            "time_jumps": dict(self.time_jumps),
            "anchor": self.anchor,
            "anchor_changes": len(self.anchor_changes),
        }

    # -- internals -----------------------------------------------------------
    def _silent(self, name: str, hw: int) -> bool:
        """No message for ``anchor_timeout_ns`` of data time (counted from the first message of
        the timeline for a sensor that never published: at start-up every sensor gets its chance)."""
        ref = self._buffers[name].newest
        if ref is None:
            ref = self._t_first
        return ref is not None and hw - ref > self.anchor_timeout_ns

    def _choose_anchor(self) -> None:
        """Back to the configured anchor once it publishes past the last frame; off a silent one
        to the first fallback still publishing. Buffered messages of the new anchor at or before
        the last emitted frame are dropped: frames stay in stamp order."""
        if not self.fallback:
            return
        hw = self._high_water()
        last = self._last_anchor if self._last_anchor is not None else -1
        if self.anchor != self.primary:
            pbuf, cur = self._buffers[self.primary], self._buffers[self.anchor]
            if pbuf.newest is not None and pbuf.newest > last:
                first_new = next((t for t in pbuf.stamps if t > last), pbuf.newest)
                if cur.stamps and cur.stamps[0] < first_new:
                    return  # the fallback's frames before the anchor's return are emitted first
                self._switch(self.primary, hw, last)
                return
        if self._buffers[self.anchor].stamps or not self._silent(self.anchor, hw):
            return
        for name in (self.primary, *self.fallback):
            if name != self.anchor and self._buffers[name].newest is not None and not self._silent(name, hw):
                self._switch(name, hw, last)
                return

    def _switch(self, name: str, hw: int, last: int) -> None:
        self.anchor_changes.append((hw, self.anchor, name))
        self.anchor = name
        buf = self._buffers[name]
        k = bisect.bisect_right(buf.stamps, last)
        self.dropped[name]["late_anchor"] += k
        del buf.stamps[:k], buf.items[:k]

    def _drop(self, name: str, reason: str) -> bool:
        self.dropped[name][reason] += 1
        return False

    def _reset(self) -> None:
        for name, b in self._buffers.items():
            if name not in self._rejumped:
                self.dropped[name]["time_jump"] += len(b.stamps)
                b.clear()
        self._rejumped.clear()
        self._last_anchor = None
        self._clock_ns = None
        self._t_first = None
        self._pending_reset = True
        self.resets += 1

    def _high_water(self) -> int:
        newest = [b.newest for b in self._buffers.values() if b.newest is not None]
        hw = max(newest) if newest else 0
        return max(hw, self._clock_ns or 0)

    def _try_assemble(self, a: int, anchor_item: Any, force: bool) -> FusionFrame | None:
        hw = self._high_water()
        prev = self._last_anchor
        matched, series, missing = {}, {}, []
        for name, spec in self.specs.items():
            if name == self.anchor:
                continue
            buf = self._buffers[name]
            done = force or (buf.newest is not None and buf.newest >= a) or hw >= a + spec.timeout_ns
            if not done:
                return None
            if spec.mode == "nearest":
                i = bisect.bisect_left(buf.stamps, a)
                best, best_d = None, spec.tolerance_ns + 1
                for j in (i - 1, i):
                    if 0 <= j < len(buf.stamps) and abs(buf.stamps[j] - a) < best_d:
                        best, best_d = j, abs(buf.stamps[j] - a)
                if best is None:
                    missing.append(name)
                else:
                    matched[name] = buf.items[best]
            else:
                k = bisect.bisect_right(buf.stamps, a)
                series[name] = buf.items[:k]
                del buf.stamps[:k], buf.items[:k]
        # nearest-sensor messages older than this anchor's window can never match again
        for name, spec in self.specs.items():
            if name != self.anchor and spec.mode == "nearest":
                buf = self._buffers[name]
                k = bisect.bisect_left(buf.stamps, a - spec.tolerance_ns)
                del buf.stamps[:k], buf.items[:k]
        for name in missing:
            self.missing_count[name] += 1
        if self.forward_jump_ns is not None and prev is not None and a - prev > self.forward_jump_ns:
            self.time_jumps["forward"] += 1
            self.resets += 1
            self._pending_reset, self._jump_ns = True, a - prev
        self._last_anchor = a if prev is None else max(prev, a)
        self.frames_emitted += 1
        self.frames_by_anchor[self.anchor] += 1
        frame = FusionFrame(
            a,
            self.anchor,
            self.kinds,
            anchor_item,
            matched,
            series,
            missing,
            self._pending_reset,
            self._jump_ns if self._pending_reset else 0,
        )
        self._pending_reset, self._jump_ns = False, 0
        return frame
