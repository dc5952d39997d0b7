"""Strict construction of configuration dataclasses from parameter mappings."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def strict_from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """``cls(**d)`` then ``validate()``; unknown keys are an error naming them, never ignored.

    A typo in a params file must stop start-up with its name, not silently keep a default.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known, key=str)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(map(str, unknown))}")
    cfg = cls(**d)
    cfg.validate()
    return cfg
