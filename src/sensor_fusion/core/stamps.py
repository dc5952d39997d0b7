"""Timestamps are ``int`` nanoseconds everywhere inside the core."""

from __future__ import annotations

NS_PER_S = 1_000_000_000


def to_ns(sec: int, nanosec: int) -> int:
    """Combine ROS ``builtin_interfaces/Time`` fields into integer nanoseconds."""
    return int(sec) * NS_PER_S + int(nanosec)


def from_ns(stamp_ns: int) -> tuple[int, int]:
    """Split integer nanoseconds into ``(sec, nanosec)`` (nanosec always >= 0)."""
    sec, nsec = divmod(int(stamp_ns), NS_PER_S)
    return sec, nsec


def seconds(duration_ns: int) -> float:
    """Duration in float seconds, for arithmetic only (never for comparing stamps)."""
    return duration_ns / NS_PER_S
