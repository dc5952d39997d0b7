"""Publish a bag over DDS with its original timing (``ros2 bag play`` is not on PyPI).

Messages go out at their recorded log times scaled by ``rate``; ``/clock`` is
published alongside (bag time) so nodes with ``use_sim_time`` follow the bag.
Timing is kept against a monotonic wall clock, so a slow publish delays only
itself, never the whole schedule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from ..ros.convert import time_msg
from .io import bag_topics, importable, message_class, read_raw_messages

CLOCK_PERIOD_S = 0.01  # /clock at 100 Hz of wall time between messages
LATCHED = ("/tf_static", "/calibration", "/scenario")  # transient-local topics


@dataclass
class ReplayStats:
    published: int = 0
    loops: int = 0
    wall_s: float = 0.0
    bag_s: float = 0.0
    max_lag_s: float = 0.0  # worst lateness of a publish against its schedule


def _qos(topic: str) -> QoSProfile:
    durability = DurabilityPolicy.TRANSIENT_LOCAL if topic in LATCHED else DurabilityPolicy.VOLATILE
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=50,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=durability,
    )


class BagPlayer:
    def __init__(
        self,
        node: Node,
        bag: str | Path,
        topics: Iterable[str] | None = None,
        rate: float = 1.0,
        start_s: float = 0.0,
        publish_clock: bool = True,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.bag, self.rate, self.start_s = node, Path(bag), float(rate), float(start_s)
        available = bag_topics(self.bag)
        wanted = list(topics) if topics else [t for t in available if importable(available[t][0])]
        unknown = [t for t in wanted if t not in available]
        if unknown:
            raise ValueError(f"topics not in {self.bag}: {unknown} (has {sorted(available)})")
        skipped = sorted(t for t in available if t not in wanted and not importable(available[t][0]))
        if skipped:
            logging.getLogger(__name__).warning("not replaying %s: message package not installed", skipped)
        self.topics = wanted
        self.pubs = {t: node.create_publisher(message_class(available[t][0]), t, _qos(t)) for t in wanted}
        self.clock_pub = node.create_publisher(Clock, "/clock", 10) if publish_clock else None

    def wait_for_subscribers(self, topics: Iterable[str], timeout_s: float = 10.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if all(self.pubs[t].get_subscription_count() > 0 for t in topics if t in self.pubs):
                return True
            time.sleep(0.05)
        return False

    def play_once(self, stats: ReplayStats) -> None:
        first_bag_ns = None
        wall0 = time.monotonic()
        last_clock = 0.0
        # serialized bytes as stored, published as they are (no deserialise + re-serialise)
        for topic, _mt, t_ns, msg in read_raw_messages(self.bag, self.topics):
            if first_bag_ns is None:
                first_bag_ns = t_ns
            offset_s = (t_ns - first_bag_ns) / 1e9 - self.start_s
            if offset_s < 0:
                if topic in LATCHED:  # calibration and static TF are needed whatever --start says
                    self.pubs[topic].publish(msg)
                continue
            due = wall0 + offset_s / self.rate
            while True:
                now = time.monotonic()
                if now >= due:
                    break
                if self.clock_pub is not None and now - last_clock >= CLOCK_PERIOD_S:
                    bag_now = first_bag_ns + int(((now - wall0) * self.rate + self.start_s) * 1e9)
                    self.clock_pub.publish(Clock(clock=time_msg(bag_now)))
                    last_clock = now
                time.sleep(min(due - now, CLOCK_PERIOD_S))
            now = time.monotonic()
            stats.max_lag_s = max(stats.max_lag_s, now - due)
            # /clock at most every CLOCK_PERIOD_S, not before every message: at ~360 messages/s a
            # /clock per message doubled the callbacks every use_sim_time node has to run
            if self.clock_pub is not None and now - last_clock >= CLOCK_PERIOD_S:
                self.clock_pub.publish(Clock(clock=time_msg(t_ns)))
                last_clock = now
            self.pubs[topic].publish(msg)
            stats.published += 1
            stats.bag_s = max(stats.bag_s, offset_s)

    def play(self, loop: bool = False, max_loops: int | None = None) -> ReplayStats:
        stats = ReplayStats()
        t0 = time.monotonic()
        while rclpy.ok():
            self.play_once(stats)
            stats.loops += 1
            if not loop or (max_loops is not None and stats.loops >= max_loops):
                break
        stats.wall_s = time.monotonic() - t0
        return stats
